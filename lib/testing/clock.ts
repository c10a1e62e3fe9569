import { ErrorCode, MeshCacheError } from '../errors.ts'

/** A manual clock for tests: time moves only when the test says so, so TTL tests never sleep. */
export interface TestClock {
  /** Pass as the cache's `now` option. */
  now: () => number
  advance(ms: number): void
  set(ms: number): void
}

/** A time the clock may show or move by: a NaN would make every TTL check false, and the cache serve forever. */
function finite (what: string, ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `${what} must be a finite number of ms, got ${String(ms)}`)
  return ms
}

export function createTestClock (start = 1_700_000_000_000): TestClock {
  let t = finite('createTestClock: start', start)
  return {
    now: () => t,
    // A negative step is allowed: a wall clock stepped back (NTP) is a case worth testing.
    advance: (ms) => { t += finite('advance', ms) },
    set: (ms) => { t = finite('set', ms) },
  }
}
