/**
 * What the mesh does about peers that fall silent: the Liveness host. A
 * silent peer is probed (probe.ts) and, when a probe connects, dialled
 * afresh beside its stalled connections; a peer silent past `peerTimeout` is
 * given up (its connections aborted, the redialer takes over); and a new
 * connection to a peer silent on its others replaces them. Kept apart from
 * mesh.ts because it is one policy (DESIGN.md "Liveness" and "Healing after
 * a real cut") over the mesh's connections, not part of membership.
 */
import type { Libp2p } from 'libp2p'
import type { Connection, Logger } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { Liveness, type LivenessHost } from './liveness.ts'
import { Prober } from './probe.ts'
import type { ResolvedOptions } from './options.ts'
import type { Redialer } from './redial.ts'
import type { TransportStats } from './stats.ts'
import type { PeerLink } from './stream-link.ts'

/** What silent-peer handling needs of the mesh. */
export interface SilentPeersHost {
  readonly node: Libp2p
  readonly stats: TransportStats
  readonly redialer: Redialer | undefined
  readonly stopped: boolean
  isConnected (peer: string): boolean
  /** Every connection to `peer` now, as a copy (callers close them while iterating). */
  connectionsOf (peer: string): Connection[]
  linkOf (peer: string): PeerLink | undefined
  connectedLinks (): Iterable<PeerLink>
}

export class SilentPeers implements LivenessHost {
  readonly liveness: Liveness
  /** Probes silent and lost peers (probe.ts); undefined when `probeInterval` is 0. */
  readonly prober: Prober | undefined
  readonly #host: SilentPeersHost
  readonly #opts: ResolvedOptions
  readonly #log: Logger

  constructor (host: SilentPeersHost, opts: ResolvedOptions, log: Logger) {
    this.#host = host
    this.#opts = opts
    this.#log = log
    this.liveness = new Liveness(this, opts.keepaliveInterval, opts.peerTimeout, opts.probeInterval)
    this.prober = opts.probeInterval > 0 ? new Prober(opts.probeInterval, peer => { this.#reachable(peer) }) : undefined
  }

  /**
   * A connection to `link`'s peer opened; `conns` holds all of them, `conn`
   * included. Replaces the others if the peer was silent on them.
   */
  connectionOpened (link: PeerLink, conn: Connection, conns: ReadonlySet<Connection>): void {
    const silent = performance.now() - link.lastHeard
    if (this.prober !== undefined && link.pings && silent > this.liveness.suspectMs && conns.size > 1) {
      // A new connection to a peer silent on the old ones: the path is back
      // and they are stalled in TCP's retransmission backoff (a cut that
      // outlasted a keepalive). The new one replaces them; the peer does the
      // same on its side for the same reason, and anti-entropy on the new
      // onPeerUp repairs what the cut kept from either side.
      this.#host.stats.staleReplaced++
      this.#log('new connection to %s, silent for %d ms on the others: replacing them', link.peer, Math.round(silent))
      for (const c of [...conns]) if (c !== conn) c.abort(new Error(`meshcache: silent for ${Math.round(silent)} ms, replaced by a new connection`))
    }
    link.lastHeard = performance.now() // a new connection starts its own silence count
    link.suspect = false
    this.prober?.unwatch(link.peer)
  }

  // ---- LivenessHost ----

  connectedLinks (): Iterable<PeerLink> {
    return this.#host.connectedLinks()
  }

  stalled (ms: number): void {
    this.#log('this process ran no timers for %d ms (a long GC or a blocking call): peers heard nothing from us meanwhile', Math.round(ms))
  }

  suspect (link: PeerLink, silentMs: number): void {
    if (this.#host.stopped || this.prober === undefined || link.refreshing || this.prober.isWatching(link.peer)) return
    const addrs = this.#addrsOf(link)
    if (this.prober.watch(link.peer, addrs)) this.#log('nothing from %s for %d ms: probing %s', link.peer, Math.round(silentMs), addrs.join(', '))
    else this.#log('nothing from %s for %d ms, and no TCP address to probe it at', link.peer, Math.round(silentMs))
  }

  recovered (link: PeerLink): void {
    if (this.#host.isConnected(link.peer)) this.prober?.unwatch(link.peer)
  }

  giveUp (link: PeerLink, silentMs: number): void {
    if (this.#host.stopped) return
    this.#host.stats.peersTimedOut++
    this.#log('nothing from %s for %d ms (%d inbound streams; our stream to it %s, %d bytes queued): closing its connections, the redialer takes over',
      link.peer, Math.round(silentMs), link.readers.size, link.out?.writeStatus ?? 'closed', link.out?.writeBufferLength ?? 0)
    link.gaveUp = true
    // Aborted, not closed: a graceful close would wait on the silent peer.
    for (const c of this.#host.connectionsOf(link.peer)) c.abort(new Error(`meshcache: nothing from the peer for ${Math.round(silentMs)} ms`))
  }

  #addrsOf (link: PeerLink): string[] {
    return [...new Set([...link.addrs, ...this.#host.redialer?.addrsOf(link.peer) ?? []])]
  }

  /** A probe connected to `peer`: its path works. */
  #reachable (peer: string): void {
    if (this.#host.stopped) return
    const link = this.#host.linkOf(peer)
    if (!this.#host.isConnected(peer)) { this.#host.redialer?.dialNow(peer); return }
    if (link === undefined || !link.suspect || link.refreshing) return
    // Connected, but silent: dial a new connection beside the stalled ones
    // (connectionOpened replaces them if they are still silent when it opens).
    const addrs = this.#addrsOf(link).map(a => multiaddr(`${a}/p2p/${peer}`))
    link.refreshing = true
    this.#log('%s is reachable but silent: dialling a new connection', peer)
    this.#host.node.dial(addrs, { force: true, signal: AbortSignal.timeout(this.#opts.dialTimeout) })
      .then(conn => {
        // Heard from again meanwhile (the old connections resumed): the new one is not needed.
        const others = this.#host.connectionsOf(peer).some(c => c !== conn && c.status === 'open')
        if (others && conn.status === 'open') {
          conn.close().catch((err: Error) => { conn.abort(err) })
        }
      }, (err: Error) => {
        this.#log('dialling silent %s afresh failed: %s', peer, err.message)
      })
      .finally(() => { link.refreshing = false })
  }
}
