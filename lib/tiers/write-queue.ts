/**
 * A tier's write-through queue (SPEC.md §14.2): writes leave after the
 * caller's synchronous run, at most one per key on the wire, a later write of
 * a key replacing any of the key still waiting (only the newest matters),
 * and a failed write waits to be retried unless a newer one replaced it.
 * After an outage, `replay()` sends what waits and reports when every key
 * that waited has had a write land.
 */
import { afterThisRun } from '../core/runtime.ts'

export interface WriteQueueHost<W> {
  /** Sends a write; resolves whether it was stored (false: refused as older), rejects on failure. */
  send: (key: string, write: W) => Promise<boolean>
  /** Whether writes may go out now (the breaker closed, or recovering). */
  sending: () => boolean
  landed: (stored: boolean) => void
  failed: (key: string, error: unknown) => void
  /** More than `max` keys waited: they were dropped. */
  overflowed: () => void
  /** Every key that waited when `replay()` began has had a write land. */
  replayed: () => void
  /** Whether a failed write is retried after `retryMs` (the breaker is still closed). */
  retrySoon: () => boolean
}

export class WriteQueue<W> {
  readonly #host: WriteQueueHost<W>
  readonly #max: number
  readonly #retryMs: number
  /** key → the newest write not yet sent (a write for a key on the wire waits here). */
  readonly #pending = new Map<string, W>()
  /** key → the write on the wire. */
  readonly #inflight = new Map<string, W>()
  #scheduled = false
  #retryTimer: NodeJS.Timeout | undefined
  /** While replaying: keys whose write has not landed yet. */
  #replayLeft: Set<string> | undefined
  #drained: Array<() => void> = []
  #closed = false

  constructor (host: WriteQueueHost<W>, max: number, retryMs: number) {
    this.#host = host
    this.#max = max
    this.#retryMs = retryMs
  }

  /** Writes waiting or on the wire. */
  get size (): number {
    return this.#pending.size + this.#inflight.size
  }

  /** Whether a write of `key` has not landed yet. */
  has (key: string): boolean {
    return this.#pending.has(key) || this.#inflight.has(key)
  }

  add (key: string, write: W): void {
    if (this.#closed) return
    // One map operation here: this runs inside the caller's set().
    this.#pending.set(key, write)
    if (this.#pending.size > this.#max) this.#overflow()
    else if (!this.#scheduled && this.#host.sending()) {
      this.#scheduled = true
      afterThisRun(this.#pumpNow) // after the caller's synchronous run
    }
  }

  readonly #pumpNow = (): void => { this.pump() }

  /** Sends every waiting write whose key has none on the wire. */
  pump (): void {
    this.#scheduled = false
    if (this.#closed || !this.#host.sending()) return
    for (const [key, w] of this.#pending) {
      if (this.#inflight.has(key)) continue
      this.#pending.delete(key)
      this.#send(key, w)
    }
    this.#checkDrained()
  }

  /** Sends what waits; `replayed` is called once each key waiting now has had a write land. Returns how many. */
  replay (): number {
    const n = this.#pending.size
    this.#replayLeft = new Set(this.#pending.keys())
    if (n === 0) this.#replayDone()
    else this.pump()
    return n
  }

  /** A replay that failed: the next one starts over. */
  abandonReplay (): void {
    this.#replayLeft = undefined
  }

  /** Drops every waiting write (clear()). */
  dropPending (): void {
    this.#pending.clear()
  }

  /** Resolves once nothing waits or is on the wire, or after `timeoutMs`. */
  async flush (timeoutMs: number): Promise<void> {
    if (this.size === 0) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      timer.unref()
      this.#drained.push(() => { clearTimeout(timer); resolve() })
    })
  }

  close (): void {
    this.#closed = true
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer)
  }

  #send (key: string, w: W): void {
    this.#inflight.set(key, w)
    this.#host.send(key, w).then((stored) => this.#landed(key, stored), (error: unknown) => this.#failed(key, w, error))
  }

  #landed (key: string, stored: boolean): void {
    this.#inflight.delete(key)
    this.#host.landed(stored)
    if (this.#replayLeft !== undefined && this.#replayLeft.delete(key) && this.#replayLeft.size === 0) this.#replayDone()
    const next = this.#pending.get(key)
    if (next !== undefined && this.#host.sending()) {
      this.#pending.delete(key)
      this.#send(key, next)
    }
    this.#checkDrained()
  }

  #failed (key: string, w: W, error: unknown): void {
    this.#inflight.delete(key)
    // Kept for the retry unless a newer write of the key replaced it.
    if (!this.#pending.has(key) && !this.#closed) {
      this.#pending.set(key, w)
      if (this.#pending.size > this.#max) this.#overflow()
    }
    this.#host.failed(key, error)
    if (this.#retryTimer === undefined && !this.#closed && this.#host.retrySoon()) {
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined
        this.pump()
      }, this.#retryMs)
      this.#retryTimer.unref()
    }
    this.#checkDrained()
  }

  #overflow (): void {
    this.#pending.clear()
    this.#host.overflowed()
  }

  #replayDone (): void {
    this.#replayLeft = undefined
    this.#host.replayed()
  }

  #checkDrained (): void {
    if (this.size !== 0) return
    const waiting = this.#drained
    this.#drained = []
    for (const resolve of waiting) resolve()
  }
}
