/**
 * Frames out of the mesh: a namespace's broadcast (straight to each link, or in a partial mesh or past the relay's
 * threshold over the fast lane and gossipsub), a lone write (lone-writes.ts, where the broadcast would go straight to
 * each link) and a frame to one peer (anti-entropy). Apart from mesh.ts, which keeps the connections and membership
 * these read: which links there are, which are up in a namespace, whether the mesh is partial.
 */
import type { Logger } from '@libp2p/interface'
import type { RecordKindValue } from '../../../protocol/constants.ts'
import { encodeFrame } from './envelope.ts'
import { sendLoneWrite } from './lone-writes.ts'
import type { LocalNamespace } from './namespaces.ts'
import type { GossipRelay } from './relay.ts'
import type { TransportStats } from './stats.ts'
import type { PeerLink } from './stream-link.ts'

/** What the mesh lends the sends. */
export interface FramesOutHost {
  readonly stats: TransportStats
  /** Every peer's link, by peer id (the mesh's own map, read only here). */
  readonly links: ReadonlyMap<string, PeerLink>
  /** The gossipsub relay tier, when on (the mesh sets it after it starts). */
  relay (): GossipRelay | undefined
  isPartial (): boolean
  /** How many peers are up in `ns`. */
  peerCount (ns: LocalNamespace): number
  /** Direct copies along the region path (fast-lane.ts); whether it sent any. */
  fastPublish (ns: LocalNamespace, frame: Uint8Array): boolean
  /** Whether region links are on (the relay then publishes on the region's topic). */
  readonly regional: boolean
}

export class FramesOut {
  readonly #host: FramesOutHost
  readonly #maxFrameBytes: number
  readonly #maxBuffered: number
  readonly #log: Logger

  constructor (host: FramesOutHost, opts: { maxFrameBytes: number, maxBufferedBytes: number }, log: Logger) {
    this.#host = host
    this.#maxFrameBytes = opts.maxFrameBytes
    this.#maxBuffered = opts.maxBufferedBytes
    this.#log = log
  }

  broadcast (ns: LocalNamespace, frame: Uint8Array): void {
    if (!ns.open) return
    const host = this.#host
    if (frame.length > this.#maxFrameBytes) {
      host.stats.droppedOversize++
      this.#log('refused a %d-byte frame in %s (maxFrameBytes %d)', frame.length, ns.name, this.#maxFrameBytes)
      return
    }
    const relay = this.#relayFirst()
    if (relay !== undefined) {
      const partial = host.isPartial()
      // direct sends along the region path first, then gossipsub (with regions, the region's topic: relay.ts)
      const laned = partial && host.fastPublish(ns, frame)
      const peers = partial ? Infinity : host.peerCount(ns)
      if (relay.publish(ns.name, frame, peers, laned && host.regional)) {
        host.stats.framesRelayed++
        return
      }
    }
    let envelopes: Uint8Array[] | undefined
    for (const link of host.links.values()) {
      if (!link.up.has(ns.name)) continue
      envelopes ??= encodeFrame(ns.id, frame)
      if (link.write(envelopes, this.#maxBuffered)) host.stats.framesSent++
      else host.stats.droppedBackpressure++
    }
  }

  /**
   * A lone write to every peer of the namespace, where `broadcast` would write to each link itself: as LONE, or its
   * frame to an older peer (lone-writes.ts). False, having sent nothing, where the broadcast would be relayed.
   */
  broadcastLone (ns: LocalNamespace, origin: string, seq: number, key: string, kind: RecordKindValue, hlc: number): boolean {
    if (this.#relayFirst() !== undefined) return false
    const host = this.#host
    if (ns.open) sendLoneWrite(host.links.values(), ns.name, ns.id, origin, seq, key, kind, hlc, this.#maxBuffered, host.stats)
    return true
  }

  /**
   * The relay, where a broadcast asks it first: a partial mesh, or a full one with the relay's threshold of links.
   * Undefined: straight to each link (every small mesh, without asking the relay, which would decline, or listing
   * the namespace's peers).
   */
  #relayFirst (): GossipRelay | undefined {
    const relay = this.#host.relay()
    return relay !== undefined && (this.#host.links.size >= relay.minPeers || this.#host.isPartial()) ? relay : undefined
  }

  send (ns: LocalNamespace, peer: string, frame: Uint8Array): void {
    if (!ns.open) return
    const host = this.#host
    if (frame.length > this.#maxFrameBytes) {
      host.stats.droppedOversize++
      this.#log('refused a %d-byte frame to %s in %s (maxFrameBytes %d)', frame.length, peer, ns.name, this.#maxFrameBytes)
      return
    }
    const link = host.links.get(peer)
    if (link === undefined || !link.writable()) { host.stats.droppedNoPeer++; return }
    if (link.write(encodeFrame(ns.id, frame), this.#maxBuffered)) host.stats.framesSent++
    else host.stats.droppedBackpressure++
  }
}
