/**
 * Sequence announcements in a partial mesh (SPEC.md §5, §11.1): a DIGEST to
 * each neighbour instead of a relayed announcement per origin.
 *
 * The announcement that reveals a lost last frame used to be each origin's
 * own awareness state, re-broadcast every `announceInterval` when its number
 * moved and relayed to every instance: n·D copies per announcing origin, as
 * many as the write's own frame (bench:scale: half of all messages). Here
 * every instance instead tells its neighbours, on the announcement tick and
 * only if its state vector moved, what moved of it: one frame per neighbour,
 * however many origins moved. A neighbour ahead of us on some origin holds
 * what we lack (it counts only what it merged), so we ask it (anti-entropy);
 * once repaired our own vector moves, and our next digest tells our other
 * neighbours: a lost frame is repaired hop by hop, as far as it went missing,
 * within a tick or so a hop.
 */
import { encodeFrame } from '../../protocol/frame.ts'
import { MessageType } from '../../protocol/constants.ts'
import type { StateVector } from '../../protocol/sync.ts'

/**
 * Every this many digests a node sends its whole state vector, not only what
 * moved: a lost digest (or one a neighbour had no use for yet) is made good
 * within this many ticks, as the 15 s membership renewal did for the relayed
 * announcement (8 × 2 s by default).
 */
export const FULL_DIGEST_EVERY = 8

const EMPTY = new Uint8Array(0)

export interface DigestHost {
  /** This instance's origin: never asked about. */
  readonly origin: string
  /** Our state vector as we report it to peers (what we can answer for). */
  reported (): StateVector
  /** How far we have received `origin` without a gap. */
  contiguous (origin: string): number
  /** Origins whose own frames reach us steadily (SPEC §5): being behind them is frames in flight. */
  flowing (): ReadonlySet<string>
  /** The neighbours now (transport ids). */
  neighbours (): string[]
  send (peer: string, frame: Uint8Array): void
  /** Starts anti-entropy with `peer`. */
  request (peer: string): void
  now (): number
}

export class Digests {
  readonly #host: DigestHost
  /** At most this many entries a frame (the receivers' maxOrigins). */
  readonly #maxEntries: number
  /** An origin asked about is not asked about again before this many ms (one announcement period). */
  readonly #retryMs: number
  /**
   * Neighbour → how far it has seen each origin, as far as we know: what our
   * digests told it and what its digests told us. An entry it knows already
   * is not sent again, so of two neighbours that received the same writes
   * only the first to tick sends a digest.
   */
  readonly #known = new Map<string, Map<string, number>>()
  #ticks = 0
  /** Neighbour → the origins it has seen further than we have, and how far. */
  readonly #ahead = new Map<string, Map<string, number>>()
  /** Origin → when we last asked a neighbour for it. */
  readonly #asked = new Map<string, number>()

  constructor (host: DigestHost, maxEntries: number, retryMs: number) {
    this.#host = host
    this.#maxEntries = Math.max(1, maxEntries)
    this.#retryMs = retryMs
  }

  /**
   * The announcement tick: tells every neighbour the entries of our state
   * vector it does not know we have (all of them every FULL_DIGEST_EVERY
   * ticks), with `renewals[peer]` (the membership states that moved here,
   * Membership.takeRenewals), then asks the neighbours still ahead of us for
   * what we lack. A neighbour with nothing new gets no frame.
   */
  tick (renewals: ReadonlyMap<string, Uint8Array> = new Map()): void {
    const full = this.#ticks++ % FULL_DIGEST_EVERY === 0
    const neighbours = this.#send(full, renewals)
    if (this.#known.size > neighbours.length) {
      const now = new Set(neighbours)
      for (const peer of this.#known.keys()) if (!now.has(peer)) this.#known.delete(peer)
    }
    this.#askAhead()
  }

  /** Sends each neighbour the entries it is not known to have (all, if `full`), with its renewals; returns the neighbours. */
  #send (full: boolean, renewals: ReadonlyMap<string, Uint8Array>): string[] {
    const sv = this.#host.reported()
    const neighbours = this.#host.neighbours()
    for (const peer of neighbours) {
      const known = this.#knownBy(peer)
      const news: StateVector = new Map()
      for (const [origin, seq] of sv) {
        if (seq > 0 && (full || seq > (known.get(origin) ?? 0))) {
          news.set(origin, seq)
          known.set(origin, seq)
        }
      }
      const update = renewals.get(peer) ?? EMPTY
      if (news.size === 0 && update.length === 0) continue
      for (const [i, part] of slices(news, this.#maxEntries).entries()) {
        this.#host.send(peer, encodeFrame({ type: MessageType.DIGEST, sv: part, update: i === 0 ? update : EMPTY }))
      }
    }
    return neighbours
  }

  /** A neighbour's digest: remember where it is ahead of us, and ask it at once for what we lack. */
  onDigest (from: string, sv: StateVector): void {
    let ahead: Map<string, number> | undefined
    const known = this.#knownBy(from)
    for (const [origin, seq] of sv) {
      if (seq > (known.get(origin) ?? 0)) known.set(origin, seq)
      if (origin === this.#host.origin || seq <= this.#host.contiguous(origin)) continue
      ahead ??= this.#ahead.get(from) ?? new Map<string, number>()
      if (seq > (ahead.get(origin) ?? 0)) ahead.set(origin, seq)
    }
    if (ahead === undefined) return
    this.#ahead.set(from, ahead)
    this.#ask(from, ahead, this.#host.now(), undefined)
  }

  peerGone (peer: string): void {
    this.#ahead.delete(peer)
    this.#known.delete(peer)
  }

  #knownBy (peer: string): Map<string, number> {
    let known = this.#known.get(peer)
    if (known === undefined) { known = new Map(); this.#known.set(peer, known) }
    return known
  }

  /**
   * Each origin we are still behind on is asked of one neighbour that is
   * ahead on it, at most once per announcement period (a request brings all
   * the neighbour has, so one suffices; the next period tries the next).
   */
  #askAhead (): void {
    if (this.#ahead.size === 0) return
    const neighbours = new Set(this.#host.neighbours())
    const now = this.#host.now()
    let flowing: ReadonlySet<string> | undefined
    for (const [peer, ahead] of this.#ahead) {
      if (!neighbours.has(peer)) { this.#ahead.delete(peer); continue }
      flowing = this.#ask(peer, ahead, now, flowing)
      if (ahead.size === 0) this.#ahead.delete(peer)
    }
    for (const [origin, at] of this.#asked) if (now - at >= this.#retryMs) this.#asked.delete(origin)
  }

  /** Asks `peer` if it is ahead on an origin that does not flow and was not asked for lately; drops caught-up entries. */
  #ask (peer: string, ahead: Map<string, number>, now: number, flowing: ReadonlySet<string> | undefined): ReadonlySet<string> | undefined {
    let ask = false
    for (const [origin, seq] of ahead) {
      if (seq <= this.#host.contiguous(origin)) { ahead.delete(origin); continue }
      const asked = this.#asked.get(origin)
      if (asked !== undefined && now - asked < this.#retryMs) continue
      // Behind an origin whose frames flow is frames in flight (SPEC §5): a loss shows as a gap.
      flowing ??= this.#host.flowing()
      if (!flowing.has(origin)) ask = true
    }
    if (!ask) return flowing
    for (const origin of ahead.keys()) this.#asked.set(origin, now)
    this.#host.request(peer)
    return flowing
  }
}

/** `sv` in slices of at most `max` entries. */
function slices (sv: StateVector, max: number): StateVector[] {
  if (sv.size <= max) return [sv]
  const out: StateVector[] = []
  let slice: StateVector = new Map()
  for (const [origin, seq] of sv) {
    if (slice.size >= max) { out.push(slice); slice = new Map() }
    slice.set(origin, seq)
  }
  out.push(slice)
  return out
}
