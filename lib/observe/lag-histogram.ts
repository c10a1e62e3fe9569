/**
 * How long remote writes take to reach this instance: the lag from a
 * write's HLC time (stamped by its writer) to the moment it is applied here,
 * in fixed buckets from 100 µs to 10 s (the bounds a Prometheus histogram of
 * it uses, so exporters copy the counts as they are). Recording is a short
 * scan and an increment, so it runs for every remote update.
 *
 * The HLC is millisecond-grained and comes from the writer's clock, so a
 * lag is a whole number of milliseconds and includes the clock skew between
 * the two machines (a receiver behind the writer reads 0). A lag of 0 (the
 * write and its arrival fell in the same clock millisecond) lands in the
 * first bucket: the sub-millisecond bounds say "under the clock's
 * resolution", not a measured 100 µs.
 */

/** Upper bounds of the buckets, in ms; a last bucket holds everything longer. */
export const LAG_BOUNDS_MS: readonly number[] = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000]
const BUCKETS = LAG_BOUNDS_MS.length + 1

export interface PropagationStats {
  /** Remote updates measured (those that changed state on arrival; repairs are counted in `repairs`). */
  count: number
  /** Median lag, as the upper bound of its bucket (ms), capped at the max seen. */
  p50Ms: number
  /** 99th percentile lag, as the upper bound of its bucket (ms), capped at the max seen. */
  p99Ms: number
  /** Longest lag seen (ms). */
  maxMs: number
  /** Sum of every lag measured (ms): with `count`, the mean. */
  sumMs: number
  /**
   * Cumulative buckets, Prometheus style: [upper bound in ms, updates with a
   * lag at most that]. Every bound is finite, so the stats survive
   * `JSON.stringify` (an Infinity would become null); the "+Inf" bucket is
   * `count`, as a Prometheus histogram's `_count` is.
   */
  buckets: Array<[leMs: number, count: number]>
}

export class LagHistogram {
  readonly #counts = new Float64Array(BUCKETS)
  #count = 0
  #max = 0
  #sum = 0

  /** Records the lag of a write stamped at `writeMs`, applied at `nowMs`. */
  record (writeMs: number, nowMs: number): void {
    const lag = nowMs > writeMs ? nowMs - writeMs : 0
    let i = 0
    // Most lags are a few ms: a scan from the bottom ends within a few steps.
    while (i < BUCKETS - 1 && lag > (LAG_BOUNDS_MS[i] as number)) i++
    this.#counts[i] = (this.#counts[i] as number) + 1
    if (lag > this.#max) this.#max = lag
    this.#sum += lag
    this.#count++
  }

  snapshot (): PropagationStats {
    const buckets: Array<[number, number]> = []
    let cumulative = 0
    for (let i = 0; i < BUCKETS - 1; i++) {
      cumulative += this.#counts[i] as number
      buckets.push([LAG_BOUNDS_MS[i] as number, cumulative])
    }
    return {
      count: this.#count,
      p50Ms: this.#quantile(buckets, 0.5),
      p99Ms: this.#quantile(buckets, 0.99),
      maxMs: this.#max,
      sumMs: this.#sum,
      buckets,
    }
  }

  /** The upper bound of the bucket holding the q-quantile (capped at the max seen); 0 when empty. */
  #quantile (buckets: Array<[number, number]>, q: number): number {
    if (this.#count === 0) return 0
    const rank = Math.ceil(q * this.#count)
    for (const [le, cumulative] of buckets) if (cumulative >= rank) return Math.min(le, this.#max)
    return this.#max // in the +Inf bucket
  }
}
