/**
 * The mesh: which peers are connected, which namespaces each has joined,
 * and when a peer counts as up in a namespace. It owns one PeerLink per
 * remote peer and tells the core's handlers about (re)connections.
 *
 * A peer is up in namespace N here when (1) this node joined N, (2) the peer
 * announced N on one of its live streams to us, and (3) our own stream to it
 * is open, so that the core can answer at once in onPeerUp.
 *
 * Around it, one file per concern: the stream lifecycle (outbound.ts), the
 * partial mesh's bound and region links (partial-mesh.ts), silent peers
 * (silent-peers.ts), frames out (frames-out.ts) and the counters (stats.ts). This file keeps what
 * membership needs: connections by peer, namespaces, the greeting, frames in.
 */
import type { Libp2p } from 'libp2p'
import type { Connection, Logger, Stream } from '@libp2p/interface'
import type { FrameHandler } from '../transport.ts'
import { ErrorCode, MeshCacheError } from '../../errors.ts'
import type { LoneFields } from './lone-envelope.ts'
import { FramesOut } from './frames-out.ts'
import { PROTOCOLS, encodeHello, encodeJoin, encodeLeave, encodePeers, encodePing, type PeerAddrs } from './envelope.ts'
import type { GossipRelay, RelayHost } from './relay.ts'
import { InboundReader, PeerLink, type ReaderEvents } from './stream-link.ts'
import type { ResolvedOptions } from './options.ts'
import type { Redialer } from './redial.ts'
import { withoutPeerId } from './dial-target.ts'
import type { Prober } from './probe.ts'
import type { RegionLinks, RegionReport } from './regions.ts'
import { emptyStats, type TransportStats } from './stats.ts'
import { OutboundStreams, type OutboundHost } from './outbound.ts'
import { PartialMesh, type PartialMeshHost } from './partial-mesh.ts'
import { CrossedDials, type CrossedDialsHost } from './crossed-dials.ts'
import { SilentPeers, type SilentPeersHost } from './silent-peers.ts'
import { Namespaces, type LocalNamespace } from './namespaces.ts'
import { FastLane, RELAYED, type HopValue } from './fast-lane.ts'
import { PeerExchange } from './peer-exchange.ts'

export type { TransportStats } from './stats.ts'
export type { LocalNamespace } from './namespaces.ts'

const MAX_STREAMS_PER_CONNECTION = 8

export class Mesh implements ReaderEvents, RelayHost, OutboundHost, CrossedDialsHost, PartialMeshHost, SilentPeersHost {
  readonly node: Libp2p
  readonly self: string
  readonly stats: TransportStats = emptyStats()
  redialer: Redialer | undefined
  /** The gossipsub relay tier, when the `gossipsub` option is on. */
  relay: GossipRelay | undefined
  readonly #opts: ResolvedOptions
  readonly #log: Logger
  readonly #links = new Map<string, PeerLink>()
  readonly #conns = new Map<string, Set<Connection>>()
  readonly #namespaces: Namespaces
  readonly #silent: SilentPeers
  readonly #outbound: OutboundStreams
  readonly #partial: PartialMesh
  readonly #crossed: CrossedDials
  readonly #exchange: PeerExchange
  /** Broadcasts over direct streams along the region path, beside gossipsub (fast-lane.ts). */
  readonly #fast: FastLane
  /** Broadcasts, lone writes and frames to one peer (frames-out.ts). */
  readonly out: FramesOut
  /** Probes silent and lost peers (probe.ts); undefined when `probeInterval` is 0. */
  readonly prober: Prober | undefined
  /** Region links of a partial mesh (regions.ts); undefined without `maxPeers` or `region`. */
  readonly regions: RegionLinks | undefined
  #stopped = false

  constructor (node: Libp2p, opts: ResolvedOptions, log: Logger) {
    this.node = node
    this.self = node.peerId.toString()
    this.#opts = opts
    this.#log = log
    this.#namespaces = new Namespaces(this.stats, log)
    this.#silent = new SilentPeers(this, opts, log)
    this.prober = this.#silent.prober
    this.#partial = new PartialMesh(this, this.self, opts, log)
    this.#crossed = new CrossedDials(this.self, this, log)
    this.#exchange = new PeerExchange({
      linkAddrs: () => this.#links.values(), alivePeers: h => this.redialer?.alivePeers(h) ?? [], regionOf: p => this.regions?.regionOf(p),
      connectedPeers: () => this.connectedPeers(), sendEnvelope: (p, e) => { this.sendEnvelope(p, e) }
    }, opts.maxPeers !== Infinity)
    this.regions = this.#partial.regions
    this.#outbound = new OutboundStreams(this, peer => this.#crossed.kept(peer), opts.redialInterval, log)
    this.#fast = new FastLane({
      stats: this.stats, peersOf: ns => this.peersOf(ns), isFar: peer => this.regions?.isFar(peer) ?? false, regionOf: peer => this.regions?.regionOf(peer), carries: origin => this.regions?.carries(origin, this.linkedPeers()) ?? true, oneCopy: this.regions?.oneCopy === true, holdsFar: peer => this.regions?.holdsFar(peer) ?? false,
      write: (peer, envelopes) => this.#links.get(peer)?.write(envelopes, opts.maxBufferedBytes) ?? false,
      deliver: (ns, from, frame) => { this.#namespaces.deliver(ns, from, frame) },
      relay: (ns, frame) => { this.relay?.publish(ns.name, frame, Infinity, true) },
      missesRegionWrites: (ns, peer) => this.relay?.missesRegionWrites(ns.name, peer) ?? false
    })
    this.out = new FramesOut({
      stats: this.stats, links: this.#links, relay: () => this.relay, isPartial: () => this.isPartial(), peerCount: ns => this.peersOf(ns).length,
      fastPublish: (ns, frame) => this.#fast.publish(ns, frame), regional: this.regions !== undefined
    }, opts, log)
  }

  get stopped (): boolean {
    return this.#stopped
  }

  /** Peers with at least one open connection, by id. */
  connectedPeers (): string[] {
    return [...this.#conns.keys()]
  }

  /** Connected peers but those whose link is being let go (PeerLink `leaving`): what region links judge by. */
  linkedPeers (): string[] {
    return this.connectedPeers().filter(peer => this.#links.get(peer)?.leaving !== true)
  }

  /** How many linkedPeers: what the redialer's bound counts, so links being let go are replaced at once. */
  linkedPeerCount (): number {
    let n = 0
    for (const peer of this.#conns.keys()) if (this.#links.get(peer)?.leaving !== true) n++
    return n
  }

  /** Whether the redialer may dial `peer` now: in a partial mesh with regions, only as regions.ts allows. */
  allowDial (peer: string | undefined): boolean {
    return this.#partial.allowDial(peer)
  }

  /** Whether the redialer needs to dial `peer` even at the bound (a region's holder without a far link, regions.ts). */
  needsDial (peer: string | undefined): boolean {
    return this.#partial.needsDial(peer)
  }

  /** Registers the protocol and connection listeners; call before the node starts. */
  async attach (): Promise<void> {
    await this.node.handle(PROTOCOLS, (stream, conn) => { this.#onInbound(stream, conn) }, {
      maxInboundStreams: MAX_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_STREAMS_PER_CONNECTION
    })
    this.node.addEventListener('connection:open', evt => { this.#onConnOpen(evt.detail) })
    this.node.addEventListener('connection:close', evt => { this.#onConnClose(evt.detail) })
  }

  /** Starts the liveness timer and region links' reports; call once the node has started. */
  start (): void {
    if (this.#stopped) return
    this.#silent.liveness.start()
    this.#partial.start()
    this.#exchange.start()
  }

  /** Peers with at least one open connection. */
  connectedPeerCount (): number {
    return this.#conns.size
  }

  /**
   * A partial mesh (the `maxPeers` option): more peers known than this node
   * connects to, so broadcasts must spread over gossipsub to reach them all.
   */
  isPartial (): boolean {
    return this.#partial.isPartial()
  }

  /** Whether broadcasts go over the gossipsub relay to the whole partial mesh (then the core relays its repairs too). */
  relaysBroadcasts (): boolean {
    return this.relay !== undefined && this.isPartial()
  }

  /** Every connection to `peer` now, as a copy (callers close them while iterating). */
  connectionsOf (peer: string): Connection[] {
    return [...this.#conns.get(peer) ?? []]
  }

  linkOf (peer: string): PeerLink | undefined {
    return this.#links.get(peer)
  }

  isConnected (peer: string): boolean {
    return (this.#conns.get(peer)?.size ?? 0) > 0
  }

  /** Our dialable addresses, without the /p2p/ suffix. */
  ownAddrs (): string[] {
    return [...new Set(this.node.getMultiaddrs().map(a => withoutPeerId(a.toString())))]
  }

  /** Aborts every connection to `peer` (fault injection, tests). */
  cut (peer: string): void {
    for (const c of this.connectionsOf(peer)) c.abort(new Error('meshcache: connection cut'))
  }

  join (name: string, handler: FrameHandler): LocalNamespace {
    if (this.#stopped) throw new MeshCacheError(ErrorCode.CLOSED, 'transport is closed')
    const ns = this.#namespaces.add(name, handler)
    this.relay?.join(name)
    const join = [encodeJoin(ns.id, name)]
    for (const link of this.#links.values()) link.write(join, Infinity)
    // peers that announced `name` already are up now; tell the handler once
    // join() has returned its channel to the caller
    setImmediate(() => { for (const link of this.#links.values()) this.reconcile(link) })
    return ns
  }

  leave (ns: LocalNamespace): void {
    if (!ns.open) return
    ns.open = false
    this.#namespaces.remove(ns)
    this.relay?.leave(ns.name)
    const leave = [encodeLeave(ns.id)]
    for (const link of this.#links.values()) {
      link.up.delete(ns.name)
      link.write(leave, Infinity)
    }
  }

  peersOf (ns: LocalNamespace): string[] {
    const out: string[] = []
    for (const link of this.#links.values()) if (link.up.has(ns.name)) out.push(link.peer)
    return out
  }

  async stop (): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#silent.liveness.stop()
    this.#partial.stop()
    this.#exchange.stop()
    this.#crossed.stop()
    this.prober?.stop()
    this.#namespaces.closeAll()
    for (const link of this.#links.values()) {
      clearTimeout(link.retryTimer)
      link.up.clear()
    }
    await this.node.stop()
  }

  // ---- connections and streams ----

  #link (peer: string): PeerLink {
    let link = this.#links.get(peer)
    if (link === undefined) {
      link = new PeerLink(peer)
      this.#links.set(peer, link)
    }
    return link
  }

  dropLinkIfIdle (link: PeerLink): void {
    if (link.out === null && !link.opening && link.readers.size === 0 && !this.isConnected(link.peer)) {
      clearTimeout(link.retryTimer)
      if (this.#links.get(link.peer) === link) this.#links.delete(link.peer)
    }
  }

  #onConnOpen (conn: Connection): void {
    if (this.#stopped || conn.status !== 'open') return
    const peer = conn.remotePeer.toString()
    let set = this.#conns.get(peer)
    if (set === undefined) { set = new Set(); this.#conns.set(peer, set) }
    set.add(conn)
    const link = this.#link(peer)
    // over a partial mesh's bound: greeted all the same, then let go (partial-mesh.ts), never up meanwhile
    if (this.#partial.overBound(conn, set.size === 1)) link.shed = link.leaving = true
    link.openFailures = 0
    this.#silent.connectionOpened(link, conn, set)
    void this.#outbound.open(link)
    if (set.size > 1) {
      // dials crossed: one of the two goes (crossed-dials.ts), and a far link may now be ours to judge (partial-mesh.ts)
      this.#crossed.opened(peer)
      this.#partial.shedFarLinks()
    } else this.#partial.linksChanged()
  }

  #onConnClose (conn: Connection): void {
    const peer = conn.remotePeer.toString()
    const set = this.#conns.get(peer)
    set?.delete(conn)
    // gossipsub's stream may have run on the one that closed (relay.ts connectionLeft)
    for (const left of set ?? []) this.relay?.connectionLeft(left)
    if (set !== undefined && set.size === 0) {
      this.#conns.delete(peer)
      this.relay?.peerGone(peer)
      const link = this.#links.get(peer)
      this.redialer?.disconnected(peer, link?.gaveUp === true)
      if (link !== undefined) link.gaveUp = link.leaving = false
      this.#partial.linksChanged()
    }
    const link = this.#links.get(peer)
    if (link === undefined) return
    this.#outbound.connectionClosed(link, conn)
    for (const r of [...link.readers]) if (r.connection === conn) this.onReaderClosed(link, r)
    // Not synchronously: another connection to the peer may be closing in the
    // same tick (cut() aborts them in a loop), and yamux opens a stream in a
    // microtask that throws, uncaught, if its connection closed meanwhile.
    if (this.isConnected(peer)) setImmediate(() => { void this.#outbound.open(link) })
    this.dropLinkIfIdle(link)
  }

  moveStream (peer: string, conn: Connection): void {
    const link = this.#links.get(peer)
    if (link !== undefined) void this.#outbound.moveTo(link, conn)
  }

  /** Our stream to `link`'s peer opened (outbound.ts): greet the peer, then it counts as up (or is let go). */
  streamOpened (link: PeerLink): void {
    // A PING first: the peer knows at once that we ping, so liveness judges
    // (and suspects) us from the start, not from our first keepalive tick.
    const greeting = [encodePing(), encodeHello(this.ownAddrs(), this.#opts.region)]
    link.lastPing = performance.now()
    // over a partial mesh's bound: greeted, so it learns others to dial, then let go; told before our JOINs
    const letGo = link.shed
    link.shed = false
    if (letGo) greeting.push(this.#partial.letGo(link.peer))
    for (const ns of this.#namespaces.values()) greeting.push(encodeJoin(ns.id, ns.name))
    greeting.push(...this.#partial.greeting())
    const others = this.#exchange.toTell(link.peer)
    if (others.length > 0) greeting.push(encodePeers(others))
    link.write(greeting, Infinity)
    // let go by us, or by the peer (its SHED read before our stream opened): not established, no neighbour
    if (letGo || link.leaving) return
    this.redialer?.established(link.peer)
    this.#log('stream to %s open', link.peer)
    this.reconcile(link)
  }

  #onInbound (stream: Stream, conn: Connection): void {
    if (this.#stopped) { stream.abort(new Error('meshcache: transport closed')); return }
    const link = this.#link(conn.remotePeer.toString())
    const reader = new InboundReader(link, stream, conn, this, this.#opts.maxFrameBytes, this.#log)
    link.readers.add(reader)
    if (link.out === null) void this.#outbound.open(link)
  }

  /** Every link whose peer is connected (what liveness watches, silent-peers.ts). */
  * connectedLinks (): Iterable<PeerLink> {
    for (const link of this.#links.values()) if (this.isConnected(link.peer)) yield link
  }

  // ---- ReaderEvents ----

  onHello (link: PeerLink, addrs: string[], region: string): void {
    link.addrs = addrs.map(withoutPeerId)
    this.regions?.learn(link.peer, region)
    this.#partial.linksChanged() // a far link now, if its region is another
    this.redialer?.learn(link.peer, link.addrs, false)
    // peer exchange: everyone else we talk to learns about the newcomer
    const news = [encodePeers([{ peer: link.peer, addrs: link.addrs, region }])]
    for (const l of this.#links.values()) if (l !== link) l.write(news, Infinity)
    this.#partial.shedFarLinks()
  }

  onMembership (link: PeerLink): void {
    this.reconcile(link)
  }

  onFrame (link: PeerLink, namespace: string, frame: Uint8Array): void {
    this.#namespaces.deliver(this.#namespaces.get(namespace), link.peer, frame)
  }

  onLone (link: PeerLink, namespace: string, origin: string, write: LoneFields): void {
    this.#namespaces.deliverLone(this.#namespaces.get(namespace), link.peer, origin, write)
  }

  /** A frame relayed by gossipsub: `from` is the neighbour that forwarded it; `regional`, on our region's topic. */
  deliver (topic: string, from: string, frame: Uint8Array, regional: boolean): void {
    if (frame.length > this.#opts.maxFrameBytes) {
      // the direct path refuses these in InboundReader; the relay must too
      this.stats.badEnvelopes++
      this.#log('dropped a relayed %d-byte frame from %s (maxFrameBytes %d)', frame.length, from, this.#opts.maxFrameBytes)
      return
    }
    const ns = this.#namespaces.byTopic(topic)
    if (ns === undefined || !ns.open) { this.#namespaces.deliver(ns, from, frame); return }
    // once per frame, whichever path brought it first (fast-lane.ts)
    if (this.#fast.receive(ns, from, frame, RELAYED, regional)) this.stats.relayedReceived++
  }

  onFastFrame (link: PeerLink, namespace: string, hop: number, frame: Uint8Array): void {
    const ns = this.#namespaces.get(namespace)
    if (ns === undefined || !ns.open) { this.#namespaces.deliver(ns, link.peer, frame); return }
    this.#fast.receive(ns, link.peer, frame, hop as HopValue)
  }

  onPeers (_link: PeerLink, peers: PeerAddrs[]): void {
    if (this.#stopped) return
    for (const p of peers) {
      if (p.peer === this.self) continue
      this.regions?.learn(p.peer, p.region)
      // of two peers that learn about each other, the smaller id dials first
      this.redialer?.learn(p.peer, p.addrs.map(withoutPeerId), this.self < p.peer, p.age ?? 0)
    }
  }

  onShed (link: PeerLink): void {
    this.stats.shedsReceived++
    this.redialer?.letGo(link.peer)
    link.leaving = true
    this.reconcile(link)
    // a region's holder whose far link this was needs another now, not once it closes (regions.ts needsDial)
    this.redialer?.reconsider()
  }

  sendEnvelope (peer: string, envelope: Uint8Array): void {
    this.#links.get(peer)?.write([envelope], Infinity)
  }

  onView (link: PeerLink, report: RegionReport): void {
    if (!this.#stopped) this.#partial.heard(link.peer, report)
  }

  onBadEnvelope (link: PeerLink, reason: string): void {
    this.stats.badEnvelopes++
    this.#log('dropped an envelope from %s: %s', link.peer, reason)
  }

  onBytes (n: number): void {
    this.stats.bytesReceived += n
  }

  onReaderClosed (link: PeerLink, reader: InboundReader): void {
    if (!link.readers.delete(reader)) return
    this.reconcile(link)
    this.dropLinkIfIdle(link)
  }

  /** Brings the namespaces reported up for `link` in line with the rule above (namespaces.ts). */
  reconcile (link: PeerLink): void {
    if (this.#stopped) return
    this.#namespaces.reconcile(link)
    this.#partial.linksChanged() // a far link carries writes once up in a namespace (region-view.ts)
  }

  /** Whether `peer`'s link is up in a namespace (both joined it, our stream open). */
  isUp (peer: string): boolean {
    return (this.#links.get(peer)?.up.size ?? 0) > 0
  }
}
