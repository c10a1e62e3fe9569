/**
 * Per-call deadlines for a tier's calls (SPEC.md §14.4).
 */
/** What a timed call resolves to when it did not answer in time. */
export const TIMED_OUT: unique symbol = Symbol('timed out')

interface Waiter {
  at: number
  done: boolean
  settle: (value: unknown) => void
  next: Waiter | undefined
}

/**
 * Per-call timeouts for calls that all share one limit: the calls wait in
 * arrival order, which is also deadline order, so one timer serves them all
 * (no timer armed and cleared per call on the L2 hit path).
 *
 * A call's clock starts once its command has left, not when it was made:
 * node-redis writes the commands of a turn in a `setImmediate`, so a call
 * made before a busy stretch of the event loop (the process's own work, or
 * its close) leaves only after it, and timing it from the call counted that
 * stretch as Redis's slowness (false timeouts in a starting or closing
 * process). The calls of a turn are stamped together in a `setImmediate`
 * queued after node-redis's write.
 *
 * When a deadline passes, the verdict waits one `setImmediate`: the event
 * loop's poll phase runs between the two, so a reply already in the socket
 * (the loop was busy, not Redis) still wins rather than counting as a
 * timeout.
 */
export class Deadlines {
  readonly #ms: number
  #head: Waiter | undefined
  #tail: Waiter | undefined
  #timer: NodeJS.Timeout | undefined
  /** Calls made since the last stamp: their clocks start at the next. */
  #unstamped: Waiter[] = []

  constructor (ms: number) {
    this.#ms = ms
  }

  /** `call`'s value, or TIMED_OUT once `ms` passed since its command left (the stamp below); rejects as `call` does. */
  race<T> (call: Promise<T>): Promise<T | typeof TIMED_OUT> {
    return new Promise<T | typeof TIMED_OUT>((resolve, reject) => {
      const w: Waiter = { at: 0, done: false, settle: resolve as (value: unknown) => void, next: undefined }
      if (this.#unstamped.length === 0) setImmediate(this.#stamp)
      this.#unstamped.push(w)
      call.then(
        (value) => { if (!w.done) { w.done = true; resolve(value) } },
        (error: unknown) => { if (!w.done) { w.done = true; reject(error) } },
      )
    })
  }

  /** Starts the clocks of the calls made since the last stamp, in their order (the queue stays in deadline order). */
  readonly #stamp = (): void => {
    const at = performance.now() + this.#ms
    for (const w of this.#unstamped) {
      w.at = at
      if (this.#tail === undefined) this.#head = w
      else this.#tail.next = w
      this.#tail = w
    }
    this.#unstamped = []
    if (this.#timer === undefined) this.#arm(this.#ms)
  }

  #arm (ms: number): void {
    this.#timer = setTimeout(() => this.#expire(), ms)
  }

  #expire (): void {
    this.#timer = undefined
    const now = performance.now()
    const due: Waiter[] = []
    let w = this.#head
    while (w !== undefined && (w.done || w.at <= now)) {
      if (!w.done) due.push(w)
      w = w.next
    }
    this.#head = w
    if (w === undefined) this.#tail = undefined
    else this.#arm(Math.max(1, Math.ceil(w.at - now)))
    if (due.length !== 0) {
      setImmediate(() => {
        for (const d of due) {
          if (d.done) continue
          d.done = true
          d.settle(TIMED_OUT)
        }
      })
    }
  }
}
