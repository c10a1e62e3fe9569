/**
 * Per-origin receive state: the highest sequence number seen without a gap
 * (the state vector sent in anti-entropy step 1) and the numbers received
 * beyond it. A number above `contiguous + 1` is a gap, seen the moment the
 * frame arrives, so repair starts at once instead of on a timer.
 */
import type { StateVector } from '../../protocol/sync.ts'

/** Above this many out-of-order numbers for one origin, rely on anti-entropy alone. */
const MAX_PENDING = 100_000

class OriginState {
  /** The origin's id: the one copy that the entries it writes share (see `canonical`). */
  readonly id: string
  contiguous = 0
  pending: Set<number> | undefined = undefined
  /** Local ms of the last activity, for forgetting departed origins. */
  lastSeen: number
  /** Local ms when one of the origin's own UPDATES last arrived (0: never); anti-entropy does not set it. */
  lastFrame = 0
  /**
   * Known only from a peer's state vector, and its number never moved here
   * since: not reported on to other peers (see `reportedStateVector`).
   */
  heardOnly = false
  /** The highest counter of this origin named by a vector that arrived here (see `noteNamed`). */
  named = 0

  constructor (id: string, now: number) {
    this.id = id
    this.lastSeen = now
  }
}

export class SequenceTracker {
  readonly #origins = new Map<string, OriginState>()
  /**
   * Departed origins forgotten here, with the last number received from each.
   * Vectors of keys written since may still name them; anti-entropy counts
   * those entries as seen (see `retired`).
   */
  readonly #retired = new Map<string, number>()
  /**
   * Vector entries forgotten here: origin → the highest counter forgotten
   * (its last number when it was retired), and when (local ms). Kept apart
   * from `#retired` because they outlive it: an origin that comes back is no
   * longer retired, but its old entries are still old (SPEC §7).
   */
  readonly #forgotten = new Map<string, number>()
  readonly #forgottenAt = new Map<string, number>()
  /**
   * Origins named by vector entries of records that arrived here, but not
   * tracked here (their own frames never came, and no peer reported them:
   * see `reportedStateVector`): the highest counter named, and when first
   * named (local ms). Retired a horizon after that like any silent origin,
   * so their entries are forgotten too. Once tracked, the counter moves to
   * the origin's state.
   */
  readonly #named = new Map<string, { id: string, counter: number, at: number }>()

  /**
   * The string held here for origin `id` when it is tracked or named, else
   * `id` itself. Incoming frames' origin ids are mapped through this, so
   * the entries of an origin share one copy of its id instead of one per
   * frame, and comparing ids is comparing pointers. It adds nothing: an
   * unknown id becomes the held one when the tracker first takes it.
   */
  canonical (id: string): string {
    return this.#origins.get(id)?.id ?? this.#named.get(id)?.id ?? id
  }

  /** Records `seq` as received. */
  mark (origin: string, seq: number, now: number): void {
    if (this.#isRetired(origin, seq, now)) return
    const s = this.#state(origin, now)
    s.lastFrame = now
    s.heardOnly = false
    if (seq === s.contiguous + 1) {
      s.contiguous = seq
      this.#absorb(s)
    } else if (seq > s.contiguous) {
      if (s.pending === undefined) s.pending = new Set()
      if (s.pending.size < MAX_PENDING) s.pending.add(seq)
    }
  }

  /**
   * Raises `origin` to `seq` (after a complete anti-entropy exchange, or for
   * our own writes). Only a new number counts as activity: peers repeat a
   * departed origin's last number in every exchange, and that must not keep
   * it from being forgotten.
   */
  advance (origin: string, seq: number, now: number): void {
    if (this.#isRetired(origin, seq, now)) return
    const known = this.#origins.get(origin)
    if (known !== undefined && seq <= known.contiguous) return
    const s = known ?? this.#state(origin, now)
    // First heard of here: from a peer's state vector; or a new number of one already known.
    s.heardOnly = known === undefined
    s.lastSeen = now
    s.contiguous = seq
    this.#absorb(s)
  }

  /** Whether `origin`'s numbers are tracked here (not retired, not unknown). */
  tracks (origin: string): boolean {
    return this.#origins.has(origin)
  }

  /** When one of `origin`'s own UPDATES last arrived here (`mark`), 0 if never or not tracked. */
  lastFrame (origin: string): number {
    return this.#origins.get(origin)?.lastFrame ?? 0
  }

  /** True when some number is missing below one already received. */
  hasGap (origin: string): boolean {
    return this.#origins.get(origin)?.pending !== undefined
  }

  contiguous (origin: string): number {
    return this.#origins.get(origin)?.contiguous ?? 0
  }

  stateVector (): StateVector {
    const sv: StateVector = new Map()
    for (const [origin, s] of this.#origins) sv.set(origin, s.contiguous)
    return sv
  }

  /**
   * The state vector a peer adopts after our answer (step 2): without the
   * origins we only heard of from another peer's state vector and whose
   * number never moved here, unless `keep` (live members) has them. A
   * departed origin is thus passed on by the instances that received its
   * own frames, which retire it a horizon after its last number, and by
   * nobody else: otherwise every restart within a horizon learnt it afresh
   * from the previous one, and a stream of restarts faster than the horizon
   * kept it alive for ever (SPEC §7).
   */
  reportedStateVector (keep: ReadonlySet<string>): StateVector {
    const sv: StateVector = new Map()
    for (const [origin, s] of this.#origins) if (!s.heardOnly || keep.has(origin)) sv.set(origin, s.contiguous)
    return sv
  }

  get size (): number {
    return this.#origins.size
  }

  /**
   * Notes that a record's vector names `origin` up to `counter`. When the
   * origin is retired, its entries are forgotten up to the highest number
   * known here in any form, not only up to the numbers its frames brought:
   * a vector may name writes whose frames never came (lost, or sent before
   * this instance started). A higher number than any known counts as
   * activity, as a new number would.
   */
  noteNamed (origin: string, counter: number, now: number): void {
    const s = this.#origins.get(origin)
    if (s !== undefined) {
      if (counter > s.named) {
        if (counter > s.contiguous) s.lastSeen = now // a number not received yet: it was writing
        s.named = counter
      }
      return
    }
    if (counter <= (this.#forgotten.get(origin) ?? 0)) return
    const named = this.#named.get(origin)
    if (named === undefined) this.#named.set(origin, { id: origin, counter, at: now })
    else if (counter > named.counter) {
      named.counter = counter
      named.at = now
    }
  }

  /** Forgets origins silent since `before` (departed nodes), except those in `keep`; they are retired at `now`. */
  forgetSilent (before: number, keep: ReadonlySet<string>, now: number): number {
    let n = 0
    for (const [origin, named] of this.#named) {
      if (named.at < before && !keep.has(origin)) {
        this.#named.delete(origin)
        this.#forget(origin, named.counter, now)
        n++
      }
    }
    for (const [origin, s] of this.#origins) {
      if (s.lastSeen < before && !keep.has(origin)) {
        let last = Math.max(s.contiguous, s.named)
        if (s.pending !== undefined) for (const seq of s.pending) if (seq > last) last = seq
        this.#origins.delete(origin)
        this.#retired.set(origin, last)
        this.#forget(origin, last, now)
        n++
      }
    }
    return n
  }

  /**
   * Retired origins and their last numbers. An entry of a retired origin at
   * or below that number is a write older than the horizon: a requester that
   * lacks it either has the state it fed or would drop it as expired, so
   * anti-entropy treats it as seen (otherwise every answer would re-send
   * every key whose vector still names a departed incarnation).
   */
  get retired (): ReadonlyMap<string, number> {
    return this.#retired
  }

  /** Drops retired origins that no vector names any more (`named` holds every origin still named). */
  retainRetired (named: ReadonlySet<string>): void {
    for (const origin of this.#retired.keys()) if (!named.has(origin)) this.#retired.delete(origin)
  }

  /**
   * Entries to forget: origin → the highest counter of it that vectors no
   * longer carry here (SPEC §7). Incoming records lose those entries too.
   */
  get forgotten (): ReadonlyMap<string, number> {
    return this.#forgotten
  }

  /**
   * Drops the forgotten counters of origins that no vector names and that
   * were forgotten before `before`: long enough for every peer to have
   * forgotten them as well, so none still sends them (SPEC §7).
   */
  retainForgotten (named: ReadonlySet<string>, before: number): void {
    for (const [origin, at] of this.#forgottenAt) {
      if (named.has(origin) || at >= before) continue
      this.#forgotten.delete(origin)
      this.#forgottenAt.delete(origin)
    }
  }

  #forget (origin: string, counter: number, now: number): void {
    this.#forgotten.set(origin, Math.max(this.#forgotten.get(origin) ?? 0, counter))
    this.#forgottenAt.set(origin, now)
  }

  /**
   * A number at or below an origin's forgotten counter (a retired origin's
   * is its last number) is old news; a higher one brings the origin back.
   * The forgotten counter outlives the retirement record (which goes as soon as no vector
   * names the origin): without it, a peer that retires the origin later and
   * still repeats its last number would make it "first heard of" here again,
   * so every replica took it back a horizon after retiring it, for ever.
   */
  #isRetired (origin: string, seq: number, now: number): boolean {
    // Every retired origin is forgotten too, at its last number or above.
    if (this.#forgotten.size === 0) return false
    const last = this.#forgotten.get(origin)
    if (last === undefined) return false
    if (seq <= last) return true
    this.#retired.delete(origin)
    // back (a partition longer than the horizon): resume where it left
    if (!this.#origins.has(origin)) this.#state(origin, now).contiguous = last
    return false
  }

  #state (origin: string, now: number): OriginState {
    let s = this.#origins.get(origin)
    if (s === undefined) {
      s = new OriginState(origin, now)
      this.#origins.set(origin, s)
      // Tracked from now on: the numbers vectors named so far go with it.
      const named = this.#named.get(origin)
      if (named !== undefined) {
        s.named = named.counter
        this.#named.delete(origin)
      }
    }
    s.lastSeen = now
    return s
  }

  #absorb (s: OriginState): void {
    const pending = s.pending
    if (pending === undefined) return
    for (const n of pending) if (n <= s.contiguous) pending.delete(n)
    while (pending.delete(s.contiguous + 1)) s.contiguous++
    if (pending.size === 0) s.pending = undefined
  }
}
