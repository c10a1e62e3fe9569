/**
 * The fast lane of a partial mesh (SPEC.md §11.4): broadcasts of writes
 * (UPDATES frames) also travel over the direct streams the mesh already
 * has, along the region path, while gossipsub keeps publishing them for
 * coverage. A gossipsub hop costs ~1.5-2 ms here (per-message work, the
 * message id, copies from several mesh peers); a direct send ~20 µs, so a
 * write that crossed three gossipsub hops to reach the far region (writer →
 * its region's link holder → the far holder → the far region) now crosses
 * three direct hops.
 *
 * The rules, each instance forwarding a frame at most once, on its first
 * arrival, whichever path brought it:
 * - the writer sends its frame to every neighbour (hop WRITER);
 * - a frame from a neighbour of our own region (or of unknown region, or
 *   through gossipsub from one) goes on over our far links, if we hold any
 *   (hop CROSSED), to every region but its writer's (membership tells the
 *   core, the core tells us: FrameHandler.regionOf); so does a LAST copy,
 *   once the writer's region is known: a region between two that share no
 *   link passes their writes on, and none goes back where it came from;
 *   with crossRegionCopies 'one', only if we carry the writer's writes, of
 *   our region's holders (regions.ts `carries`), and one copy a far region;
 * - a writer's own copy (WRITER) that we cannot send across, holding no far
 *   link (or leaving it to the carrier), goes to our own-region neighbours
 *   that said they hold one (VIEW, region-view.ts; hop HOLDER), which send
 *   it across as above, and a HOLDER copy we do not send across goes on the
 *   same way: with few holders in a region (they stand down, regions.ts) a
 *   write would otherwise reach one through gossipsub's hops first;
 * - a frame from a far neighbour goes on to our neighbours of our own
 *   region (hop LAST), and, if it came by the lane, into gossipsub here, on
 *   our region's topic (relay.ts regionTopicOf): writes are published there,
 *   so gossipsub never carries one across, and a region larger than a far
 *   link's end's neighbours would wait for anti-entropy (before, on the
 *   namespace's topic, for gossipsub's heartbeat: bench:scale --regions 2,
 *   p99 0.3-0.8 s at 25+25 against 0.08-0.2 s with the regions as labels);
 *   and over our far links to a third region (not the one it came from);
 * - a LAST frame goes nowhere else but over far links as above, and to the
 *   neighbours below;
 * - on its first arrival by any path, a frame also goes (hop LAST) to the
 *   neighbours not of another region that do not join our region's topic
 *   (a release from before region topics, or a subscription not come yet;
 *   an instance without a region joins it: relay.ts missesRegionWrites),
 *   which would otherwise hear our region's writes from no gossipsub
 *   publish at all, only from a repair. The writer's own copies reach its
 *   neighbours anyway.
 * So a write costs at most the writer's links, plus its neighbours' links
 * to holders, plus each far link once, plus each far-link end's own-region
 * links: a bounded number of sends, never a flood. Without regions only the writer's sends remain.
 *
 * The seen-cache makes the lane safe: a frame is handed to the core once
 * (the second copy, by either path, is dropped and counted), and a frame is
 * marked seen only when it is delivered, so nothing is dropped that was not
 * delivered before. A frame evicted from the bounded cache and seen again is
 * delivered again: harmless, the core's merge is idempotent (a duplicate is
 * dominated and dropped there, counted in the core's `duplicates`).
 */
import { updatesFrameId } from '../../../protocol/frame-id.ts'
import { MessageType } from '../../../protocol/constants.ts'
import { CHUNK_BYTES, encodeFast } from './envelope.ts'
import type { LocalNamespace } from './namespaces.ts'
import type { TransportStats } from './stats.ts'

/** Where a fast-lane copy is on its path: the envelope's hop byte (envelope.ts FAST). */
export const Hop = {
  /** Sent by the writer to its neighbours. */
  WRITER: 0,
  /** Sent over a far link by the instance holding it. */
  CROSSED: 1,
  /** Sent by a far link's end to its own region; not forwarded again. */
  LAST: 2,
  /** Sent by a writer's neighbour without a far link to a neighbour of its region holding one, to send across. */
  HOLDER: 3,
} as const
export type HopValue = (typeof Hop)[keyof typeof Hop]
/** A copy that came through gossipsub: forwarded like a WRITER copy, by where it came from. */
export const RELAYED = -1

/**
 * Frames remembered per namespace: the last 1,024, a second's worth at
 * 1,024 frames/s (one frame per writer per turn), while the second path's
 * copy trails the first by milliseconds; one that comes later than that is
 * delivered twice, harmlessly. ~60 KB a namespace (a transport may carry
 * up to 1,024 namespaces, so not more).
 */
export const SEEN_CAPACITY = 1024

/** A bounded set of frame keys; the oldest key goes first. */
export class SeenFrames {
  readonly #keys = new Set<string>()
  readonly #ring: (string | undefined)[]
  #next = 0

  constructor (capacity = SEEN_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new TypeError(`SeenFrames: capacity must be a positive integer, got ${capacity}`)
    this.#ring = new Array<string | undefined>(capacity).fill(undefined)
  }

  get size (): number { return this.#keys.size }

  has (key: string): boolean { return this.#keys.has(key) }

  /** Remembers `key`; returns false if it was remembered already. */
  add (key: string): boolean {
    if (this.#keys.has(key)) return false
    const old = this.#ring[this.#next]
    if (old !== undefined) this.#keys.delete(old)
    this.#ring[this.#next] = key
    this.#next = (this.#next + 1) % this.#ring.length
    this.#keys.add(key)
    return true
  }
}

/**
 * The seen-cache key of a frame the lane carries: an UPDATES frame's origin
 * and first sequence number (protocol/frame-id.ts: no two different frames
 * share them; gossipsub's message id is the same) and its length. Undefined
 * for any other frame (awareness, repairs, malformed): the lane leaves those
 * to gossipsub, and delivers them without deduplication.
 */
export function fastLaneKey (frame: Uint8Array): string | undefined {
  // byte 0 is the version, byte 1 the message type (both one-byte varuints today); a cheap filter first
  if (frame.length > CHUNK_BYTES || frame[1] !== MessageType.UPDATES) return undefined
  const id = updatesFrameId(frame)
  return id === undefined ? undefined : `${id}/${frame.length}`
}

/** The writer (origin) of the frame keyed `key`: origin / first sequence number / length (fastLaneKey); an origin holds no '/' (SPEC §1). */
function originOf (key: string): string {
  return key.slice(0, key.indexOf('/'))
}

/** The region the writer of the frame keyed `key` announced, if known and not none ('' is none). */
function writtenIn (ns: LocalNamespace, key: string): string | undefined {
  const region = ns.handler.regionOf?.(originOf(key))
  return region === '' ? undefined : region
}

/** What the lane needs of the mesh. */
export interface FastLaneHost {
  readonly stats: TransportStats
  /** Peers up in `ns` (our stream open, the namespace announced). */
  peersOf (ns: LocalNamespace): string[]
  /** Whether `peer` is known to be in another region than ours (false without regions). */
  isFar (peer: string): boolean
  /** The region `peer` told us (HELLO, PEERS), if any. */
  regionOf (peer: string): string | undefined
  /** Whether we send writes of `origin` across, of our region's link holders (regions.ts `carries`; true without regions). */
  carries (origin: string): boolean
  /** Whether a write crosses once to a far region (crossRegionCopies 'one'): over one far link of it, not each. */
  readonly oneCopy: boolean
  /** Whether `peer`, of our region, said it holds a far link (VIEW, region-view.ts; false without regions). */
  holdsFar (peer: string): boolean
  /** Writes `envelopes` to `peer`'s stream without waiting; false if not written (gone, or saturated). */
  write (peer: string, envelopes: readonly Uint8Array[]): boolean
  /** Hands `frame` to the namespace's handler. */
  deliver (ns: LocalNamespace, from: string, frame: Uint8Array): void
  /** Publishes `frame`, which crossed from another region by the lane, on the namespace's gossipsub topic. */
  relay (ns: LocalNamespace, frame: Uint8Array): void
  /** Whether neighbour `peer` does not join our region's topic of `ns`, so hears none of its writes (relay.ts). */
  missesRegionWrites (ns: LocalNamespace, peer: string): boolean
}

export class FastLane {
  readonly #host: FastLaneHost
  readonly #capacity: number
  readonly #seen = new WeakMap<LocalNamespace, SeenFrames>()
  /**
   * Whether a lane runs here: this node sent or received a lane copy. Until
   * then gossipsub's copies (the relay tier in a full mesh, where nobody
   * uses the lane) skip the seen-cache: no key, no allocation per frame.
   */
  #active = false

  constructor (host: FastLaneHost, capacity = SEEN_CAPACITY) {
    this.#host = host
    this.#capacity = capacity
  }

  #seenOf (ns: LocalNamespace): SeenFrames {
    let seen = this.#seen.get(ns)
    if (seen === undefined) { seen = new SeenFrames(this.#capacity); this.#seen.set(ns, seen) }
    return seen
  }

  /**
   * Our own broadcast: sent to every neighbour, and remembered, so a copy coming back is dropped. Returns
   * whether the lane carries it (a write: UPDATES), which then goes on the region's gossipsub topic (relay.ts).
   */
  publish (ns: LocalNamespace, frame: Uint8Array): boolean {
    const key = fastLaneKey(frame)
    if (key === undefined) return false
    this.#active = true
    this.#seenOf(ns).add(key)
    const across = this.#across(key)
    this.#send(ns, frame, Hop.WRITER, undefined, peer => !this.#host.isFar(peer) || across.to(peer), across.took)
    return true
  }

  /**
   * A frame arrived from neighbour `from`, on the lane (`hop`) or through
   * gossipsub (RELAYED; `regional`, on our region's topic: writers there
   * run the lane, so it runs here too). Returns whether it was delivered
   * (false: a duplicate, dropped and counted).
   */
  receive (ns: LocalNamespace, from: string, frame: Uint8Array, hop: HopValue | typeof RELAYED, regional = false): boolean {
    if (hop !== RELAYED || regional) this.#active = true
    else if (!this.#active) { this.#host.deliver(ns, from, frame); return true }
    const key = fastLaneKey(frame)
    if (key === undefined) { this.#host.deliver(ns, from, frame); return true }
    if (!this.#seenOf(ns).add(key)) {
      if (hop === RELAYED) this.#host.stats.relayedDuplicates++
      else this.#host.stats.fastLaneDuplicates++
      return false
    }
    // forward first: the next hop should not wait for our merge and its listeners
    if (hop !== Hop.LAST && this.#host.isFar(from)) {
      // to every neighbour not far, those off our region's topic included
      this.#send(ns, frame, Hop.LAST, from, peer => !this.#host.isFar(peer))
      if (hop !== RELAYED) {
        this.#host.stats.fastLaneRelayed++
        this.#host.relay(ns, frame)
      }
      // and on to a third region we link to (where we hold links to two)
      this.#cross(ns, frame, key, from, this.#host.regionOf(from))
    } else {
      // a LAST copy crossed into our region somewhere: on only if we know where it was written, not to go back
      const crossed = this.#cross(ns, frame, key, from, undefined, hop === Hop.LAST)
      // not sent across here: on to the neighbours holding far links, one of which may carry it (a holder that
      // left it to another passes a holder's copy on too, to reach the carrier in direct hops, not gossipsub's)
      if (crossed === 0 && (hop === Hop.WRITER || hop === Hop.HOLDER)) this.#send(ns, frame, Hop.HOLDER, from, peer => this.#host.holdsFar(peer))
      this.#send(ns, frame, Hop.LAST, from, peer => !this.#host.isFar(peer) && this.#host.missesRegionWrites(ns, peer))
    }
    this.#host.deliver(ns, from, frame)
    return true
  }

  /**
   * Sends `frame` (seen-cache key `key`) over our far links (hop CROSSED), to
   * the regions it has not come from: not to `cameFrom`'s, nor to the region
   * its writer announced (membership, the handler's `regionOf`). So a region
   * between two that share no link passes a write on (gossipsub carries
   * none across: writes go on a topic of each region), and a far link's end
   * that got the write from its own region first does not send it back.
   * With `needOrigin` and the writer's region unknown, nothing is sent.
   * Returns how many took it.
   */
  #cross (ns: LocalNamespace, frame: Uint8Array, key: string, from: string, cameFrom: string | undefined, needOrigin = false): number {
    let written: string | undefined
    let asked = false
    const across = this.#across(key)
    return this.#send(ns, frame, Hop.CROSSED, from, peer => {
      if (!this.#host.isFar(peer)) return false
      if (!asked) { asked = true; written = writtenIn(ns, key) }
      if (needOrigin && written === undefined) return false
      // a far peer's region is known (isFar), so neither matches when undefined
      const region = this.#host.regionOf(peer)
      if (region === written || region === cameFrom) return false
      return across.to(peer)
    }, across.took)
  }

  /**
   * Which far peers take the frame keyed `key`: if we carry its origin's
   * writes, of our region's link holders (regions.ts `carries`, asked once,
   * when a far peer would take it; the others count it deferred), every far
   * peer, or with `oneCopy` one far peer of each region, the first whose
   * stream takes it (`took`): its far end passes it on in its region, so a
   * second link to the same region would carry a second copy.
   */
  #across (key: string): { to: (peer: string) => boolean, took: (peer: string) => void } {
    let carries: boolean | undefined
    let reached: Set<string | undefined> | undefined // far regions a copy went to (oneCopy)
    return {
      to: peer => {
        if (carries === undefined) {
          // with a copy a far link every holder carries: not asked (it would list our connections for nothing)
          carries = !this.#host.oneCopy || this.#host.carries(originOf(key))
          if (!carries) this.#host.stats.fastLaneDeferred++
        }
        return carries && reached?.has(this.#host.regionOf(peer)) !== true
      },
      took: peer => { if (this.#host.oneCopy && this.#host.isFar(peer)) (reached ??= new Set()).add(this.#host.regionOf(peer)) }
    }
  }

  /** Sends `frame` at `hop` to every peer up in `ns` that `to` takes, but `except`, telling `took` of each that did; returns how many took it. */
  #send (ns: LocalNamespace, frame: Uint8Array, hop: HopValue, except: string | undefined, to: (peer: string) => boolean, took?: (peer: string) => void): number {
    let envelope: Uint8Array[] | undefined
    let sent = 0
    for (const peer of this.#host.peersOf(ns)) {
      if (peer === except || !to(peer)) continue
      envelope ??= [encodeFast(ns.id, hop, frame)]
      if (this.#host.write(peer, envelope)) {
        sent++
        took?.(peer)
        this.#host.stats.framesSent++
        this.#host.stats.fastLaneSent++
        if (hop !== Hop.WRITER) this.#host.stats.fastLaneForwarded++
        if (hop === Hop.HOLDER) this.#host.stats.fastLaneToHolders++
        if (hop === Hop.LAST && this.#host.missesRegionWrites(ns, peer)) this.#host.stats.fastLaneOffTopic++
        if (hop !== Hop.LAST && this.#host.isFar(peer)) this.#host.stats.fastLaneFar++
      } else {
        this.#host.stats.droppedBackpressure++
      }
    }
    return sent
  }
}
