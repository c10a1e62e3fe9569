/**
 * Condition waits for the node processes tests drive over IPC
 * (test/netns/mesh-node.ts, test/sources/fixtures/cdc-node.ts): `until`
 * resolves with the monotonic time at which a condition first held, checked
 * on every `wake` (called on the cache's events) and every 20 ms, the
 * measurement resolution, for what has no event (peers).
 */

/** CLOCK_MONOTONIC in ms, comparable across processes on one machine (the `at` of a reply). */
export const now = (): number => Number(process.hrtime.bigint()) / 1e6

export interface Waiters {
  /** Re-checks every pending condition. */
  wake(): void
  /** Resolves with `now()` once `done()` holds. */
  until(done: () => boolean): Promise<number>
}

export function createWaiters (pollMs = 20): Waiters {
  const waiters = new Set<() => void>()
  const wake = (): void => { for (const w of [...waiters]) w() }
  setInterval(wake, pollMs).unref()
  return {
    wake,
    until: (done) => new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return
        waiters.delete(check)
        resolve(now())
      }
      waiters.add(check)
      check()
    }),
  }
}
