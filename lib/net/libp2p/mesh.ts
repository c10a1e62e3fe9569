/**
 * The mesh: which peers are connected, which namespaces each has joined,
 * and when a peer counts as up in a namespace. It owns one PeerLink per
 * remote peer and tells the core's handlers about (re)connections.
 *
 * A peer is up in namespace N here when (1) this node joined N, (2) the peer
 * announced N on one of its live streams to us, and (3) our own stream to it
 * is open, so that the core can answer at once in onPeerUp.
 */
import type { Libp2p } from 'libp2p'
import type { Connection, Logger, Stream } from '@libp2p/interface'
import type { FrameHandler } from '../transport.ts'
import { ErrorCode, MeshCacheError } from '../../errors.ts'
import {
  PROTOCOL, MAX_NAMESPACE_BYTES, MAX_NAMESPACES_PER_STREAM,
  encodeFrame, encodeHello, encodeJoin, encodeLeave, encodePeers, encodePing
} from './envelope.ts'
import { topicOf, type GossipRelay, type RelayHost } from './relay.ts'
import type { PeerAddrs } from './envelope.ts'
import { InboundReader, PeerLink } from './stream-link.ts'
import type { ReaderEvents } from './stream-link.ts'
import type { ResolvedOptions } from './options.ts'
import { withoutPeerId, type Redialer } from './redial.ts'
import { Liveness, type LivenessHost } from './liveness.ts'
import { Prober } from './probe.ts'
import { RegionLinks } from './regions.ts'
import { multiaddr } from '@multiformats/multiaddr'

/** Counters for what the transport did and dropped; see `transport.stats()`. */
export interface TransportStats {
  /** Frame copies handed to a peer's stream (one broadcast to 4 peers counts 4). */
  framesSent: number
  /** Frames delivered to a handler. */
  framesReceived: number
  /** Bytes read from peers' streams, envelopes included. */
  bytesReceived: number
  /** Frames not sent because the peer's stream was saturated past maxBufferedBytes. */
  droppedBackpressure: number
  /** Frames refused because they exceed maxFrameBytes. */
  droppedOversize: number
  /** `send` to a peer with no open stream. */
  droppedNoPeer: number
  /** Frames for a namespace this node has not joined (or has left). */
  droppedUnjoined: number
  /** Envelopes from peers that were malformed, oversized or of unknown type. */
  badEnvelopes: number
  /** A handler threw (it must not); the error was logged and swallowed. */
  handlerErrors: number
  /** onPeerUp calls, all namespaces. */
  peerUps: number
  /** Attempts to open our stream to a connected peer that failed (each is retried with backoff). */
  streamOpenFailures: number
  /** Peers given up after `peerTimeout` of silence (their connections closed; the redialer takes over). */
  peersTimedOut: number
  /** Bare TCP connects made to find a healed path to a silent or lost peer (probe.ts). */
  probes: number
  /** Silent connections replaced by a fresh one once the path was back. */
  staleReplaced: number
  /** Peers with an open connection now (bounded by `maxPeers` in a partial mesh). */
  connections: number
  /** Inbound connections closed because a partial mesh had twice `maxPeers` peers already. */
  refusedFull: number
  /** Dials made by the redialer, and how many failed. */
  redials: number
  redialFailures: number
  /** Broadcasts published on gossipsub (the relay tier) instead of sent to each peer. */
  framesRelayed: number
  /** Frames received through gossipsub and delivered to a handler. */
  relayedReceived: number
}

export function emptyStats (): TransportStats {
  return {
    framesSent: 0, framesReceived: 0, bytesReceived: 0,
    droppedBackpressure: 0, droppedOversize: 0, droppedNoPeer: 0, droppedUnjoined: 0,
    badEnvelopes: 0, handlerErrors: 0, peerUps: 0, streamOpenFailures: 0, peersTimedOut: 0, probes: 0, staleReplaced: 0, connections: 0, refusedFull: 0, redials: 0, redialFailures: 0,
    framesRelayed: 0, relayedReceived: 0
  }
}

export interface LocalNamespace {
  readonly id: number
  readonly name: string
  readonly handler: FrameHandler
  open: boolean
}

const MAX_STREAMS_PER_CONNECTION = 8
const STREAM_OPEN_TIMEOUT = 10_000
const MAX_OPEN_RETRIES = 6
/** A peer over a partial mesh's bound is let go this long after our greeting (time for its PEERS to arrive). */
const SHED_AFTER_MS = 1_000

const utf8 = new TextEncoder()

export class Mesh implements ReaderEvents, RelayHost, LivenessHost {
  readonly node: Libp2p
  readonly self: string
  readonly stats: TransportStats = emptyStats()
  redialer: Redialer | undefined
  /** The gossipsub relay tier, when the `gossipsub` option is on. */
  relay: GossipRelay | undefined
  /** Joined namespaces by relay topic. */
  readonly #byTopic = new Map<string, LocalNamespace>()
  readonly #opts: ResolvedOptions
  readonly #log: Logger
  readonly #links = new Map<string, PeerLink>()
  readonly #conns = new Map<string, Set<Connection>>()
  readonly #namespaces = new Map<string, LocalNamespace>()
  readonly #outConn = new WeakMap<PeerLink, Connection>()
  readonly #liveness: Liveness
  /** Probes silent and lost peers (probe.ts); undefined when `probeInterval` is 0. */
  readonly prober: Prober | undefined
  /** Region links of a partial mesh (regions.ts); undefined without `maxPeers` or `region`. */
  readonly regions: RegionLinks | undefined
  /** Far peers whose link we are letting go (regions.ts), once each. */
  readonly #shedding = new Set<string>()
  #nextNsId = 1
  #stopped = false

  constructor (node: Libp2p, opts: ResolvedOptions, log: Logger) {
    this.node = node
    this.self = node.peerId.toString()
    this.#opts = opts
    this.#log = log
    this.#liveness = new Liveness(this, opts.keepaliveInterval, opts.peerTimeout, opts.probeInterval)
    this.prober = opts.probeInterval > 0 ? new Prober(opts.probeInterval, peer => { this.#reachable(peer) }) : undefined
    this.regions = opts.maxPeers !== Infinity && opts.region !== '' ? new RegionLinks(this.self, opts.region, opts.crossRegionLinks) : undefined
  }

  /** Peers with at least one open connection, by id. */
  connectedPeers (): string[] {
    return [...this.#conns.keys()]
  }

  /** Whether the redialer may dial `peer` now: in a partial mesh with regions, only as regions.ts allows. */
  allowDial (peer: string | undefined): boolean {
    return this.regions === undefined || !this.isPartial() || this.regions.allowDial(peer, this.connectedPeers())
  }

  /** Registers the protocol and connection listeners; call before the node starts. */
  async attach (): Promise<void> {
    await this.node.handle(PROTOCOL, (stream, conn) => { this.#onInbound(stream, conn) }, {
      maxInboundStreams: MAX_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_STREAMS_PER_CONNECTION
    })
    this.node.addEventListener('connection:open', evt => { this.#onConnOpen(evt.detail) })
    this.node.addEventListener('connection:close', evt => { this.#onConnClose(evt.detail) })
  }

  /** Starts the liveness timer; call once the node has started. */
  start (): void {
    if (!this.#stopped) this.#liveness.start()
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
    return this.#opts.maxPeers !== Infinity && (this.redialer?.peerCount ?? 0) > this.#opts.maxPeers
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
    for (const c of [...this.#conns.get(peer) ?? []]) c.abort(new Error('meshcache: connection cut'))
  }

  join (name: string, handler: FrameHandler): LocalNamespace {
    if (this.#stopped) throw new MeshCacheError(ErrorCode.CLOSED, 'transport is closed')
    if (typeof name !== 'string' || name.length === 0 || utf8.encode(name).length > MAX_NAMESPACE_BYTES) {
      throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `namespace must be a non-empty string of at most ${MAX_NAMESPACE_BYTES} UTF-8 bytes`)
    }
    if (this.#namespaces.has(name)) {
      throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `namespace ${JSON.stringify(name)} is already joined on this transport`)
    }
    if (this.#namespaces.size >= MAX_NAMESPACES_PER_STREAM) {
      // Peers refuse JOINs past this many on one stream (envelope.ts): the namespace would never come up.
      throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `a transport carries at most ${MAX_NAMESPACES_PER_STREAM} namespaces; ${JSON.stringify(name)} would be one more`)
    }
    const ns: LocalNamespace = { id: this.#nextNsId++, name, handler, open: true }
    this.#namespaces.set(name, ns)
    this.#byTopic.set(topicOf(name), ns)
    this.relay?.join(name)
    const join = [encodeJoin(ns.id, name)]
    for (const link of this.#links.values()) link.write(join, Infinity)
    // peers that announced `name` already are up now; tell the handler once
    // join() has returned its channel to the caller
    setImmediate(() => { for (const link of this.#links.values()) this.#reconcile(link) })
    return ns
  }

  leave (ns: LocalNamespace): void {
    if (!ns.open) return
    ns.open = false
    this.#namespaces.delete(ns.name)
    this.#byTopic.delete(topicOf(ns.name))
    this.relay?.leave(ns.name)
    const leave = [encodeLeave(ns.id)]
    for (const link of this.#links.values()) {
      link.up.delete(ns.name)
      link.write(leave, Infinity)
    }
  }

  broadcast (ns: LocalNamespace, frame: Uint8Array): void {
    if (!ns.open) return
    if (frame.length > this.#opts.maxFrameBytes) {
      this.stats.droppedOversize++
      this.#log('refused a %d-byte frame in %s (maxFrameBytes %d)', frame.length, ns.name, this.#opts.maxFrameBytes)
      return
    }
    if (this.relay !== undefined && this.relay.publish(ns.name, frame, this.isPartial() ? Infinity : this.peersOf(ns).length)) {
      this.stats.framesRelayed++
      return
    }
    let envelopes: Uint8Array[] | undefined
    for (const link of this.#links.values()) {
      if (!link.up.has(ns.name)) continue
      envelopes ??= encodeFrame(ns.id, frame)
      if (link.write(envelopes, this.#opts.maxBufferedBytes)) this.stats.framesSent++
      else this.stats.droppedBackpressure++
    }
  }

  send (ns: LocalNamespace, peer: string, frame: Uint8Array): void {
    if (!ns.open) return
    if (frame.length > this.#opts.maxFrameBytes) {
      this.stats.droppedOversize++
      this.#log('refused a %d-byte frame to %s in %s (maxFrameBytes %d)', frame.length, peer, ns.name, this.#opts.maxFrameBytes)
      return
    }
    const link = this.#links.get(peer)
    if (link === undefined || !link.writable()) { this.stats.droppedNoPeer++; return }
    if (link.write(encodeFrame(ns.id, frame), this.#opts.maxBufferedBytes)) this.stats.framesSent++
    else this.stats.droppedBackpressure++
  }

  peersOf (ns: LocalNamespace): string[] {
    const out: string[] = []
    for (const link of this.#links.values()) if (link.up.has(ns.name)) out.push(link.peer)
    return out
  }

  async stop (): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#liveness.stop()
    this.prober?.stop()
    for (const ns of this.#namespaces.values()) ns.open = false
    this.#namespaces.clear()
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

  #dropLinkIfIdle (link: PeerLink): void {
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
    if (set.size === 1 && conn.direction === 'inbound' && this.isPartial() && this.#conns.size > 2 * this.#opts.maxPeers) {
      // A partial mesh keeps at most twice maxPeers peers (libp2p's own
      // pruning never closes a connection with streams open, and ours always
      // has one). The newcomer is still greeted, so it learns other peers
      // (PEERS) to dial instead, and then let go (#openOutbound).
      this.stats.refusedFull++
      link.shed = true
    }
    link.openFailures = 0
    const silent = performance.now() - link.lastHeard
    if (this.prober !== undefined && link.pings && silent > this.#liveness.suspectMs && set.size > 1) {
      // A new connection to a peer silent on the old ones: the path is back
      // and they are stalled in TCP's retransmission backoff (a cut that
      // outlasted a keepalive). The new one replaces them; the peer does the
      // same on its side for the same reason, and anti-entropy on the new
      // onPeerUp repairs what the cut kept from either side.
      this.stats.staleReplaced++
      this.#log('new connection to %s, silent for %d ms on the others: replacing them', peer, Math.round(silent))
      for (const c of [...set]) if (c !== conn) c.abort(new Error(`meshcache: silent for ${Math.round(silent)} ms, replaced by a new connection`))
    }
    link.lastHeard = performance.now() // a new connection starts its own silence count
    link.suspect = false
    this.prober?.unwatch(peer)
    void this.#openOutbound(link)
  }

  #onConnClose (conn: Connection): void {
    const peer = conn.remotePeer.toString()
    const set = this.#conns.get(peer)
    set?.delete(conn)
    if (set !== undefined && set.size === 0) {
      this.#conns.delete(peer)
      const link = this.#links.get(peer)
      this.redialer?.disconnected(peer, link?.gaveUp === true)
      if (link !== undefined) link.gaveUp = false
    }
    const link = this.#links.get(peer)
    if (link === undefined) return
    // streams normally report their own close; do not wait for them
    if (this.#outConn.get(link) === conn) this.#outClosed(link, link.out)
    for (const r of [...link.readers]) if (r.connection === conn) this.onReaderClosed(link, r)
    // Not synchronously: another connection to the peer may be closing in the
    // same tick (cut() aborts them in a loop), and yamux opens a stream in a
    // microtask that throws, uncaught, if its connection closed meanwhile.
    if (this.isConnected(peer)) setImmediate(() => { void this.#openOutbound(link) })
    this.#dropLinkIfIdle(link)
  }

  #openConnection (peer: string): Connection | undefined {
    let best: Connection | undefined
    for (const c of this.#conns.get(peer) ?? []) if (c.status === 'open') best = c
    return best
  }

  async #openOutbound (link: PeerLink): Promise<void> {
    if (this.#stopped || link.out !== null || link.opening) return
    const conn = this.#openConnection(link.peer)
    if (conn === undefined) return
    link.opening = true
    let stream: Stream
    try {
      stream = await conn.newStream(PROTOCOL, { signal: AbortSignal.timeout(STREAM_OPEN_TIMEOUT) })
    } catch (err) {
      link.opening = false
      link.openFailures++
      this.stats.streamOpenFailures++
      this.#log('opening a stream to %s failed (%d): %s', link.peer, link.openFailures, (err as Error).message)
      this.#retryOutbound(link)
      this.#dropLinkIfIdle(link) // the connection may have closed while we waited
      return
    }
    link.opening = false
    if (this.#stopped || conn.status !== 'open' || stream.writeStatus !== 'writable') {
      stream.abort(new Error('meshcache: stream no longer needed'))
      if (!this.#stopped) this.#retryOutbound(link)
      this.#dropLinkIfIdle(link)
      return
    }
    link.out = stream
    link.openFailures = 0
    this.#outConn.set(link, conn)
    stream.addEventListener('close', () => { this.#outClosed(link, stream) })
    // A PING first: the peer knows at once that we ping, so liveness judges
    // (and suspects) us from the start, not from our first keepalive tick.
    const greeting = [encodePing(), encodeHello(this.ownAddrs(), this.#opts.region)]
    link.lastPing = performance.now()
    for (const ns of this.#namespaces.values()) greeting.push(encodeJoin(ns.id, ns.name))
    const others: PeerAddrs[] = []
    for (const l of this.#links.values()) if (l !== link && l.addrs.length > 0) others.push({ peer: l.peer, addrs: l.addrs, region: this.regions?.regionOf(l.peer) ?? '' })
    if (others.length > 0) greeting.push(encodePeers(others))
    link.write(greeting, Infinity)
    if (link.shed) {
      link.shed = false
      this.#log('%d peers connected, more than twice maxPeers: letting %s go once it has our PEERS', this.#conns.size, link.peer)
      setTimeout(() => {
        for (const c of [...this.#conns.get(link.peer) ?? []]) c.close().catch((err: Error) => { c.abort(err) })
      }, SHED_AFTER_MS).unref()
      return
    }
    this.redialer?.established(link.peer)
    this.#log('stream to %s open', link.peer)
    this.#reconcile(link)
  }

  #outClosed (link: PeerLink, stream: Stream | null): void {
    if (stream === null || link.out !== stream) return
    link.out = null
    this.#outConn.delete(link)
    this.#reconcile(link)
    if (this.isConnected(link.peer)) this.#retryOutbound(link)
    else this.#dropLinkIfIdle(link)
  }

  #retryOutbound (link: PeerLink): void {
    if (this.#stopped || !this.isConnected(link.peer)) return
    if (link.openFailures >= MAX_OPEN_RETRIES) {
      // The connection is up but will not carry our stream: close it, so the
      // redialer (with its own backoff) makes a new one. Kept open, the peer
      // would count as connected and never be redialled.
      this.#log('no stream to %s after %d tries: closing its connections to start over', link.peer, link.openFailures)
      link.openFailures = 0
      for (const c of [...this.#conns.get(link.peer) ?? []]) {
        c.close().catch((err: Error) => { c.abort(err) })
      }
      return
    }
    clearTimeout(link.retryTimer)
    const delay = Math.min(this.#opts.redialInterval, 20 * 2 ** link.openFailures)
    link.retryTimer = setTimeout(() => { void this.#openOutbound(link) }, delay)
  }

  #onInbound (stream: Stream, conn: Connection): void {
    if (this.#stopped) { stream.abort(new Error('meshcache: transport closed')); return }
    const link = this.#link(conn.remotePeer.toString())
    const reader = new InboundReader(link, stream, conn, this, this.#opts.maxFrameBytes, this.#log)
    link.readers.add(reader)
    if (link.out === null) void this.#openOutbound(link)
  }

  // ---- LivenessHost ----

  * connectedLinks (): Iterable<PeerLink> {
    for (const link of this.#links.values()) if (this.isConnected(link.peer)) yield link
  }

  stalled (ms: number): void {
    this.#log('this process ran no timers for %d ms (a long GC or a blocking call): peers heard nothing from us meanwhile', Math.round(ms))
  }

  suspect (link: PeerLink, silentMs: number): void {
    if (this.#stopped || this.prober === undefined || link.refreshing || this.prober.isWatching(link.peer)) return
    const addrs = this.#addrsOf(link)
    if (this.prober.watch(link.peer, addrs)) this.#log('nothing from %s for %d ms: probing %s', link.peer, Math.round(silentMs), addrs.join(', '))
    else this.#log('nothing from %s for %d ms, and no TCP address to probe it at', link.peer, Math.round(silentMs))
  }

  recovered (link: PeerLink): void {
    if (this.isConnected(link.peer)) this.prober?.unwatch(link.peer)
  }

  #addrsOf (link: PeerLink): string[] {
    return [...new Set([...link.addrs, ...this.redialer?.addrsOf(link.peer) ?? []])]
  }

  /** A probe connected to `peer`: its path works. */
  #reachable (peer: string): void {
    if (this.#stopped) return
    const link = this.#links.get(peer)
    if (!this.isConnected(peer)) { this.redialer?.dialNow(peer); return }
    if (link === undefined || !link.suspect || link.refreshing) return
    // Connected, but silent: dial a new connection beside the stalled ones
    // (#onConnOpen replaces them if they are still silent when it opens).
    const addrs = this.#addrsOf(link).map(a => multiaddr(`${a}/p2p/${peer}`))
    link.refreshing = true
    this.#log('%s is reachable but silent: dialling a new connection', peer)
    this.node.dial(addrs, { force: true, signal: AbortSignal.timeout(this.#opts.dialTimeout) })
      .then(conn => {
        // Heard from again meanwhile (the old connections resumed): the new one is not needed.
        const others = [...this.#conns.get(peer) ?? []].some(c => c !== conn && c.status === 'open')
        if (others && conn.status === 'open') {
          conn.close().catch((err: Error) => { conn.abort(err) })
        }
      }, (err: Error) => {
        this.#log('dialling silent %s afresh failed: %s', peer, err.message)
      })
      .finally(() => { link.refreshing = false })
  }

  giveUp (link: PeerLink, silentMs: number): void {
    if (this.#stopped) return
    this.stats.peersTimedOut++
    this.#log('nothing from %s for %d ms (%d inbound streams; our stream to it %s, %d bytes queued): closing its connections, the redialer takes over',
      link.peer, Math.round(silentMs), link.readers.size, link.out?.writeStatus ?? 'closed', link.out?.writeBufferLength ?? 0)
    link.gaveUp = true
    // Aborted, not closed: a graceful close would wait on the silent peer.
    for (const c of [...this.#conns.get(link.peer) ?? []]) c.abort(new Error(`meshcache: nothing from the peer for ${Math.round(silentMs)} ms`))
  }

  // ---- ReaderEvents ----

  onHello (link: PeerLink, addrs: string[], region: string): void {
    link.addrs = addrs.map(withoutPeerId)
    this.regions?.learn(link.peer, region)
    this.redialer?.learn(link.peer, link.addrs, false)
    // peer exchange: everyone else we talk to learns about the newcomer
    const news = [encodePeers([{ peer: link.peer, addrs: link.addrs, region }])]
    for (const l of this.#links.values()) if (l !== link) l.write(news, Infinity)
    // a new link may be the one in our region that lets a far link we dialled go (regions.ts)
    if (this.regions !== undefined) for (const peer of this.#conns.keys()) this.#shedFarLink(peer)
  }

  /** A far link we dialled and do not need (regions.ts) is let go once the peer has our PEERS. */
  #shedFarLink (peer: string): void {
    const conns = this.#conns.get(peer)
    if (this.regions === undefined || !this.isPartial() || conns === undefined || this.#shedding.has(peer)) return
    if (![...conns].every(c => c.direction === 'outbound') || !this.regions.shouldShed(peer, this.connectedPeers())) return
    this.#log('%s is in region %s and this node needs no far link: letting it go', peer, this.regions.regionOf(peer))
    this.#shedding.add(peer)
    setTimeout(() => {
      this.#shedding.delete(peer)
      if (this.regions?.shouldShed(peer, this.connectedPeers()) !== true) return
      for (const c of [...this.#conns.get(peer) ?? []]) c.close().catch((err: Error) => { c.abort(err) })
    }, SHED_AFTER_MS).unref()
  }

  onMembership (link: PeerLink): void {
    this.#reconcile(link)
  }

  onFrame (link: PeerLink, namespace: string, frame: Uint8Array): void {
    this.#deliver(this.#namespaces.get(namespace), link.peer, frame)
  }

  /** A frame relayed by gossipsub: `from` is the neighbour that forwarded it. */
  deliver (topic: string, from: string, frame: Uint8Array): void {
    if (frame.length > this.#opts.maxFrameBytes) {
      // the direct path refuses these in InboundReader; the relay must too
      this.stats.badEnvelopes++
      this.#log('dropped a relayed %d-byte frame from %s (maxFrameBytes %d)', frame.length, from, this.#opts.maxFrameBytes)
      return
    }
    const ns = this.#byTopic.get(topic)
    if (ns !== undefined) this.stats.relayedReceived++
    this.#deliver(ns, from, frame)
  }

  #deliver (ns: LocalNamespace | undefined, from: string, frame: Uint8Array): void {
    if (ns === undefined || !ns.open) { this.stats.droppedUnjoined++; return }
    this.stats.framesReceived++
    try {
      ns.handler.onFrame(from, frame)
    } catch (err) {
      this.stats.handlerErrors++
      this.#log.error('onFrame handler of %s threw: %e', ns.name, err)
    }
  }

  onPeers (_link: PeerLink, peers: PeerAddrs[]): void {
    if (this.#stopped) return
    for (const p of peers) {
      if (p.peer === this.self) continue
      this.regions?.learn(p.peer, p.region)
      // of two peers that learn about each other, the smaller id dials first
      this.redialer?.learn(p.peer, p.addrs.map(withoutPeerId), this.self < p.peer)
    }
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
    this.#reconcile(link)
    this.#dropLinkIfIdle(link)
  }

  /** Brings the namespaces reported up for `link` in line with the rule above. */
  #reconcile (link: PeerLink): void {
    if (this.#stopped) return
    const should = new Set<string>()
    if (link.writable()) {
      for (const name of link.remoteNamespaces()) if (this.#namespaces.get(name)?.open === true) should.add(name)
    }
    for (const name of [...link.up]) {
      if (should.has(name)) continue
      link.up.delete(name)
      const ns = this.#namespaces.get(name)
      if (ns === undefined) continue
      try { ns.handler.onPeerDown(link.peer) } catch (err) {
        this.stats.handlerErrors++
        this.#log.error('onPeerDown handler of %s threw: %e', name, err)
      }
    }
    for (const name of should) {
      if (link.up.has(name)) continue
      // A handler called above or earlier in this loop may have left it.
      const ns = this.#namespaces.get(name)
      if (ns === undefined || !ns.open) continue
      link.up.add(name)
      this.stats.peerUps++
      try { ns.handler.onPeerUp(link.peer) } catch (err) {
        this.stats.handlerErrors++
        this.#log.error('onPeerUp handler of %s threw: %e', name, err)
      }
    }
  }
}
