/**
 * The one timer that drops a store's values at their deadline (store.ts says
 * why expiry is not checked on reads): armed for the soonest deadline, and
 * re-armed as that changes. With an injected clock there is no timer: reads
 * check the deadline themselves, so tests stay exact.
 */
import type { Now } from './clock.ts'

/** setTimeout's longest delay; a later deadline is simply re-armed when the timer fires. */
const MAX_TIMER_MS = 2 ** 31 - 1

export class ExpiryTimer {
  /**
   * The deadline the timer is armed for (Infinity: none). Without timers it
   * stays -Infinity, so no deadline is ever sooner: the store's check
   * `at < armedFor` is then all it costs.
   */
  armedFor: number
  readonly #timed: boolean
  readonly #now: Now
  /** Called when the timer fires. */
  readonly #fire: () => void
  #timer: ReturnType<typeof setTimeout> | undefined
  #closed = false

  constructor (timed: boolean, now: Now, fire: () => void) {
    this.#timed = timed
    this.armedFor = timed ? Infinity : -Infinity
    this.#now = now
    this.#fire = fire
  }

  /** Arms the timer for `next`, the soonest deadline (Infinity: none), unless it is armed for that already. */
  arm (next: number): void {
    if (!this.#timed || this.#closed || next === this.armedFor) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.armedFor = next
    if (next === Infinity) return
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next - this.#now()))
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.armedFor = Infinity
      this.#fire()
    }, delay)
    this.#timer.unref()
  }

  /** Stops the timer for good. */
  close (): void {
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
