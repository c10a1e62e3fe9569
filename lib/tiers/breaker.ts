/**
 * A circuit breaker for one remote tier, and the per-call timeout.
 *
 * closed     calls go through; `threshold` failures in a row open it.
 * open       no call goes out; after `probeInterval` ms one probe is made.
 * recovering the probe answered: the owner replays what it owes the tier
 *            (its queued writes) before it trusts reads again; a failure
 *            reopens, `recovered()` closes.
 */
export type BreakerState = 'closed' | 'open' | 'recovering'

export interface BreakerOptions {
  threshold: number
  probeInterval: number
  /** Makes one probe call; resolves true when the tier answered. */
  probe: () => Promise<boolean>
  /** The probe answered: the owner starts its replay (and calls `recovered()` when done). */
  onRecovering: () => void
  onChange: (state: BreakerState) => void
}

export class Breaker {
  #state: BreakerState = 'closed'
  #failures = 0
  #timer: NodeJS.Timeout | undefined
  #closed = false
  readonly #o: BreakerOptions
  /** Times the breaker opened. */
  opened = 0

  constructor (o: BreakerOptions) {
    this.#o = o
  }

  get state (): BreakerState {
    return this.#state
  }

  /** Whether ordinary calls (reads, fills, writes) may go out now. */
  get allows (): boolean {
    return this.#state === 'closed'
  }

  success (): void {
    this.#failures = 0
  }

  failure (): void {
    if (this.#state === 'open' || this.#closed) return
    if (this.#state === 'recovering' || ++this.#failures >= this.#o.threshold) this.#open()
  }

  /** The owner's replay is done: back to normal. */
  recovered (): void {
    if (this.#state !== 'recovering') return
    this.#failures = 0
    this.#set('closed')
  }

  close (): void {
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
  }

  #open (): void {
    this.opened++
    this.#set('open')
    this.#schedule()
  }

  #schedule (): void {
    if (this.#closed) return
    this.#timer = setTimeout(() => { void this.#probe() }, this.#o.probeInterval)
    this.#timer.unref()
  }

  async #probe (): Promise<void> {
    this.#timer = undefined
    let ok = false
    try {
      ok = await this.#o.probe()
    } catch {
      ok = false
    }
    if (this.#closed || this.#state !== 'open') return
    if (!ok) {
      this.#schedule()
      return
    }
    this.#failures = 0
    this.#set('recovering')
    this.#o.onRecovering()
  }

  #set (state: BreakerState): void {
    if (this.#state === state) return
    this.#state = state
    this.#o.onChange(state)
  }
}

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
