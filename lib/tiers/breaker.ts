/**
 * A circuit breaker for one remote tier.
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
