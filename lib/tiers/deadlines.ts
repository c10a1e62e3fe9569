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

  constructor (ms: number) {
    this.#ms = ms
  }

  /** `call`'s value, or TIMED_OUT once `ms` passed; rejects as `call` does. */
  race<T> (call: Promise<T>): Promise<T | typeof TIMED_OUT> {
    return new Promise<T | typeof TIMED_OUT>((resolve, reject) => {
      const w: Waiter = { at: performance.now() + this.#ms, done: false, settle: resolve as (value: unknown) => void, next: undefined }
      if (this.#tail === undefined) this.#head = w
      else this.#tail.next = w
      this.#tail = w
      if (this.#timer === undefined) this.#arm(this.#ms)
      call.then(
        (value) => { if (!w.done) { w.done = true; resolve(value) } },
        (error: unknown) => { if (!w.done) { w.done = true; reject(error) } },
      )
    })
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
