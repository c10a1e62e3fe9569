/**
 * Per-origin receive state: the highest sequence number seen without a gap
 * (the state vector sent in anti-entropy step 1) and the numbers received
 * beyond it. A number above `contiguous + 1` is a gap, seen the moment the
 * frame arrives, so repair starts at once instead of on a timer.
 */
import type { StateVector } from '../protocol/sync.ts'

/** Above this many out-of-order numbers for one origin, rely on anti-entropy alone. */
const MAX_PENDING = 100_000

class OriginState {
  contiguous = 0
  pending: Set<number> | undefined = undefined
  /** Local ms of the last activity, for forgetting departed origins. */
  lastSeen: number

  constructor (now: number) {
    this.lastSeen = now
  }
}

export class SequenceTracker {
  readonly #origins = new Map<string, OriginState>()

  /** Records `seq` as received. */
  mark (origin: string, seq: number, now: number): void {
    const s = this.#state(origin, now)
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
    const known = this.#origins.get(origin)
    if (known !== undefined && seq <= known.contiguous) return
    const s = known ?? this.#state(origin, now)
    s.lastSeen = now
    s.contiguous = seq
    this.#absorb(s)
  }

  /** Whether any number of `origin` is tracked here. */
  knows (origin: string): boolean {
    return this.#origins.has(origin)
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

  get size (): number {
    return this.#origins.size
  }

  /** Forgets origins silent since `before` (departed nodes), except those in `keep`. */
  forgetSilent (before: number, keep: ReadonlySet<string>): number {
    let n = 0
    for (const [origin, s] of this.#origins) {
      if (s.lastSeen < before && !keep.has(origin)) {
        this.#origins.delete(origin)
        n++
      }
    }
    return n
  }

  #state (origin: string, now: number): OriginState {
    let s = this.#origins.get(origin)
    if (s === undefined) {
      s = new OriginState(now)
      this.#origins.set(origin, s)
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
