/**
 * A hybrid logical clock packed into one safe integer:
 *
 *   hlc = physicalMs * HLC_LOGICAL_RANGE + logical
 *
 * It never goes backwards, stays at or just above the wall clock, and moves
 * past every timestamp it observes, so a write that saw another write always
 * has the larger timestamp (causality) even when wall clocks are skewed.
 * Packing keeps it a plain number: no allocation per write, one varuint on
 * the wire. Epoch milliseconds times 1000 stays below 2^53 until the year 2255.
 */

/** Logical ticks per millisecond. Past 1000 events in one millisecond the clock runs ahead of the wall clock briefly. */
export const HLC_LOGICAL_RANGE = 1000

/** Returns epoch milliseconds. Injectable so tests control time. */
export type Now = () => number

export function physicalMs (hlc: number): number {
  return Math.floor(hlc / HLC_LOGICAL_RANGE)
}

export class HybridClock {
  #last = 0
  readonly #now: Now
  readonly #maxDriftMs: number

  /**
   * @param maxDriftMs a remote timestamp further than this ahead of our wall
   *   clock is not followed (a node with a broken clock must not drag every
   *   other clock into the future); the record itself is still merged.
   */
  constructor (now: Now, maxDriftMs: number) {
    this.#now = now
    this.#maxDriftMs = maxDriftMs
  }

  /** A fresh timestamp for a local event. */
  tick (): number {
    const wall = this.#now() * HLC_LOGICAL_RANGE
    this.#last = wall > this.#last ? wall : this.#last + 1
    return this.#last
  }

  /**
   * Moves the clock past a timestamp seen in a remote record. `now` is the
   * wall clock if the caller has just read it (a frame's records share one
   * read: a clock read per record was ~2% of applying one). Returns false
   * when the timestamp was too far ahead to follow: the writer's clock (or
   * one it followed) is ahead of ours by more than the drift allowed, which
   * the caller reports (lib/observe/clock-skew.ts) rather than drop silently.
   */
  observe (remote: number, now?: number): boolean {
    if (remote <= this.#last) return true
    if (physicalMs(remote) > (now ?? this.#now()) + this.#maxDriftMs) return false
    this.#last = remote
    return true
  }

  /** The last timestamp issued or observed. */
  peek (): number {
    return this.#last
  }
}
