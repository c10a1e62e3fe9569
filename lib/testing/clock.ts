/** A manual clock for tests: time moves only when the test says so, so TTL tests never sleep. */
export interface TestClock {
  /** Pass as the cache's `now` option. */
  now: () => number
  advance(ms: number): void
  set(ms: number): void
}

export function createTestClock (start = 1_700_000_000_000): TestClock {
  let t = start
  return {
    now: () => t,
    advance: (ms) => { t += ms },
    set: (ms) => { t = ms },
  }
}
