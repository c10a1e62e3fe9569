/**
 * How long remote writes take to reach this instance: the lag from a
 * write's HLC time (stamped by its writer) to the moment it is applied here,
 * in whole milliseconds, in power-of-two buckets. Recording is a subtraction
 * and an increment, so it runs for every remote update.
 *
 * The HLC is millisecond-grained and comes from the writer's clock, so a
 * lag includes the clock skew between the two machines (a receiver behind
 * the writer reads 0), and on one host every lag is 0 or 1 ms.
 */

/** Bucket i holds lags up to 2^i − 1 ms; the last one everything longer. */
const BUCKETS = 22

export interface PropagationStats {
  /** Remote updates measured (those that changed state on arrival; repairs are counted in `repairs`). */
  count: number
  /** Median lag, as the upper bound of its bucket (ms). */
  p50Ms: number
  /** 99th percentile lag, as the upper bound of its bucket (ms). */
  p99Ms: number
  /** Longest lag seen (ms). */
  maxMs: number
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

  /** Records the lag of a write stamped at `writeMs`, applied at `nowMs`. */
  record (writeMs: number, nowMs: number): void {
    const lag = nowMs - writeMs
    const i = lag < 1 ? 0 : lag >= 2 ** (BUCKETS - 1) ? BUCKETS - 1 : 32 - Math.clz32(lag)
    this.#counts[i] = (this.#counts[i] as number) + 1
    if (lag > this.#max) this.#max = lag
    this.#count++
  }

  snapshot (): PropagationStats {
    const buckets: Array<[number, number]> = []
    let cumulative = 0
    for (let i = 0; i < BUCKETS - 1; i++) {
      cumulative += this.#counts[i] as number
      buckets.push([2 ** i - 1, cumulative])
    }
    return {
      count: this.#count,
      p50Ms: this.#quantile(buckets, 0.5),
      p99Ms: this.#quantile(buckets, 0.99),
      maxMs: this.#max,
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
