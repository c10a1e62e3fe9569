/**
 * The partial mesh's bound (the `maxPeers` option, SPEC.md §11.1) and the
 * region-link hooks on it (§11.4, regions.ts). libp2p cannot keep this bound
 * for us: its `maxConnections` refuses a newcomer before it learns anyone
 * else, and its pruning never closes a connection with a stream open (ours
 * always has one). So the mesh greets every newcomer and this file decides
 * which links to let go, a second later, once the peer has our PEERS and can
 * dial someone else instead.
 */
import type { Connection, Logger } from '@libp2p/interface'
import type { ResolvedOptions } from './options.ts'
import type { Redialer } from './redial.ts'
import { RegionLinks, type RegionReport } from './regions.ts'
import { RegionView } from './region-view.ts'
import { encodeShed } from './envelope.ts'
import { oursGoes } from './crossed-dials.ts'
import type { TransportStats } from './stats.ts'

/** A peer over a partial mesh's bound is let go this long after our greeting (time for its PEERS to arrive). */
export const SHED_AFTER_MS = 1_000

/** What the bound needs of the mesh. */
export interface PartialMeshHost {
  readonly stats: TransportStats
  readonly redialer: Redialer | undefined
  connectedPeers (): string[]
  /** Connected peers but those whose link is being let go: what region links judge by. */
  linkedPeers (): string[]
  connectedPeerCount (): number
  /** Every connection to `peer` now, as a copy. */
  connectionsOf (peer: string): Connection[]
  /** Writes `envelope` on our stream to `peer`, if it is open (a SHED, a VIEW). */
  sendEnvelope (peer: string, envelope: Uint8Array): void
  /** Whether `peer`'s link is up in a namespace: it carries writes. */
  isUp (peer: string): boolean
}

export class PartialMesh {
  /** Region links of a partial mesh (regions.ts); undefined without `maxPeers` or `region`. */
  readonly regions: RegionLinks | undefined
  readonly #host: PartialMeshHost
  readonly #maxPeers: number
  readonly #self: string
  readonly #log: Logger
  /** Far peers whose link we are letting go (regions.ts), once each. */
  readonly #shedding = new Set<string>()
  /** What this node reports of its region's far links (region-view.ts), with regions. */
  readonly #view: RegionView | undefined

  constructor (host: PartialMeshHost, self: string, opts: ResolvedOptions, log: Logger) {
    this.#host = host
    this.#maxPeers = opts.maxPeers
    this.#self = self
    this.#log = log
    this.regions = opts.maxPeers !== Infinity && opts.region !== '' ? new RegionLinks(self, opts.region, opts.crossRegionLinks, { oneCopy: opts.crossRegionCopies === 'one' }) : undefined
    this.#view = this.regions !== undefined ? new RegionView(this.regions, host) : undefined
  }

  start (): void {
    this.#view?.start()
  }

  stop (): void {
    this.#view?.stop()
  }

  /** What a greeting carries for region links: this node's report (region-view.ts), with regions. */
  greeting (): Uint8Array[] {
    return this.#view !== undefined ? [this.#view.current()] : []
  }

  /** A neighbour's report (VIEW): it may be what makes this node stand down and let its far link go. */
  heard (peer: string, report: RegionReport): void {
    if (this.regions === undefined) return
    this.regions.heard(peer, report)
    this.#view?.tick() // the holders it reports may have changed ours
    this.shedFarLinks()
  }

  /**
   * A peer connected, or its last connection closed, or its region became
   * known: our report changes at once if we gained or lost a far link (not
   * on the next tick), as the lane's carriers are chosen by the reports
   * (regions.ts `carries`), and a claim a second stale left a write to a
   * holder that had let its link go (15+15 instances, writes right after the
   * far links settled: 0.6 copies a write across, most repaired).
   */
  linksChanged (): void {
    this.#view?.tick()
  }

  /**
   * A partial mesh (the `maxPeers` option): more peers known than this node
   * connects to, so broadcasts must spread over gossipsub to reach them all.
   */
  isPartial (): boolean {
    // Connected peers count too: a burst of newcomers connects before their HELLOs are read (the
    // redialer learns a peer from its HELLO), and a bootstrap node that waited for those kept all of
    // them (26-28 connections at maxPeers 8 in bench:scale's start, where every newcomer dials the same three).
    return this.#maxPeers !== Infinity && Math.max(this.#host.redialer?.peerCount ?? 0, this.#host.connectedPeerCount()) > this.#maxPeers
  }

  /** Whether the redialer may dial `peer` now: in a partial mesh with regions, only as regions.ts allows. */
  allowDial (peer: string | undefined): boolean {
    return this.regions === undefined || !this.isPartial() || this.regions.allowDial(peer, this.#host.linkedPeers())
  }

  /** Whether the redialer needs to dial `peer` even at the bound (regions.ts: a holder without a far link). */
  needsDial (peer: string | undefined): boolean {
    return this.regions !== undefined && this.isPartial() && this.regions.needsDial(peer, this.#host.linkedPeers())
  }

  /**
   * Whether the new connection `conn` (`first`: the peer's only one) takes a
   * partial mesh past twice maxPeers peers. Such a newcomer is still greeted,
   * so it learns other peers (PEERS) to dial instead, and then let go
   * (letGo).
   */
  overBound (conn: Connection, first: boolean): boolean {
    if (!first || conn.direction !== 'inbound' || !this.isPartial() || this.#host.connectedPeerCount() <= 2 * this.#maxPeers) return false
    this.#host.stats.refusedFull++
    return true
  }

  /**
   * Lets `peer` go, over the bound and being greeted: closed once it has had time to read our PEERS. Returns
   * the SHED the greeting carries before its JOINs, so the peer never counts the link a neighbour meanwhile
   * (stream-link.ts `leaving`).
   */
  letGo (peer: string): Uint8Array {
    this.#log('%d peers connected, more than twice maxPeers: letting %s go once it has our PEERS', this.#host.connectedPeerCount(), peer)
    setTimeout(() => { this.#close(peer) }, SHED_AFTER_MS).unref()
    return this.#announced(peer)
  }

  /** Closes every connection to `peer`, on purpose, a SHED first. */
  #shed (peer: string): void {
    // Already gone by itself meanwhile: that close was not ours, and may have been a partition's.
    if (this.#host.connectionsOf(peer).length === 0) return
    this.#host.sendEnvelope(peer, this.#announced(peer))
    this.#close(peer)
  }

  /**
   * Counts `peer`'s link let go, tells our redialer (dial-policy.ts isLost), and returns the SHED to send it
   * first: the peer then does not take the close for a partition's and redial us at its bound.
   */
  #announced (peer: string): Uint8Array {
    this.#host.stats.linksLetGo++
    this.#host.redialer?.letGo(peer)
    return encodeShed()
  }

  #close (peer: string): void {
    for (const c of this.#host.connectionsOf(peer)) c.close().catch((err: Error) => { c.abort(err) })
  }

  /** A new link may be the one in our region that lets a far link we dialled go (regions.ts). */
  shedFarLinks (): void {
    if (this.regions !== undefined) for (const peer of this.#host.linkedPeers()) this.#shedFarLink(peer)
  }

  /**
   * A far link we dialled and do not need (regions.ts) is let go once the peer has our PEERS; one the peer
   * dialled is its decision. One both dialled at once (at start every bootstrap address is dialled before any
   * region is known; after a cut both ends redial) keeps the smaller id's connection (crossed-dials.ts), so it
   * is that dialer's to judge. (Kept whole while any connection was inbound, such links held 4-10 connections
   * across a 40 ms link at 5+5, where the rule keeps about two.)
   */
  #shedFarLink (peer: string): void {
    const conns = this.#host.connectionsOf(peer)
    if (this.regions === undefined || !this.isPartial() || conns.length === 0 || this.#shedding.has(peer)) return
    if (!conns.some(c => c.direction === 'outbound') || oursGoes(this.#self, peer, conns)) return
    if (!this.regions.shouldShed(peer, this.#host.linkedPeers())) return
    this.#log('%s is in region %s and this node needs no far link: letting it go', peer, this.regions.regionOf(peer))
    this.#shedding.add(peer)
    setTimeout(() => {
      this.#shedding.delete(peer)
      const connected = this.#host.linkedPeers()
      if (this.regions?.shouldShed(peer, connected) !== true) return
      if (this.regions.stoodDown(connected.filter(p => p !== peer))) this.#host.stats.farLinksStoodDown++
      this.#shed(peer)
    }, SHED_AFTER_MS).unref()
  }
}
