/**
 * The states that hold no value (tombstones, remote writes in invalidate
 * mode, expired or evicted copies), in the order they lost it: the GC queue
 * (dead-queue.ts) with its count, and the sweep that drops those past the
 * horizon (SPEC §7). A state's membership is a flag on its slot
 * (EntryTable.deadQueued); a queue slot whose state was revived, forgotten
 * or re-queued since is stale and skipped.
 */
import { physicalMs, type Now } from './clock.ts'
import { DeadQueue } from './dead-queue.ts'
import type { EntryTable, Slot } from './entry.ts'
import type { KeyIndex } from './key-index.ts'

export class DeadStates {
  readonly #queue = new DeadQueue()
  /** States queued here (a slot's `deadQueued` flag says whether it is). */
  #count = 0
  readonly #meta: KeyIndex
  readonly #table: EntryTable
  readonly #now: Now
  /** Runs the next chunk of a sweep, in a later turn (the store's collect, which expires due values first). */
  readonly #resume: (horizon: number, chunk: number) => void
  #sweepPending = false
  #closed = false

  constructor (meta: KeyIndex, table: EntryTable, now: Now, resume: (horizon: number, chunk: number) => void) {
    this.#meta = meta
    this.#table = table
    this.#now = now
    this.#resume = resume
  }

  /** How many states hold no value (tombstones included). */
  get size (): number {
    return this.#count
  }

  /** Queues the state in `slot`, which holds no value, under the current second unless it already is. */
  add (slot: Slot): void {
    const table = this.#table
    if (table.deadQueued(slot)) return
    const seconds = Math.ceil(this.#now() / 1000)
    table.setDeadSince(slot, seconds)
    table.setDeadQueued(slot, true)
    this.#count++
    if (this.#queue.slots > 2 * this.#count + 1024) this.#queue.retain((queued, at) => this.#isQueuedAt(queued, at))
    this.#queue.push(slot, seconds)
  }

  /** The state in `slot` holds a value again: out of the queue (its queue slot goes stale). */
  revive (slot: Slot): void {
    if (!this.#table.deadQueued(slot)) return
    this.#table.setDeadQueued(slot, false)
    this.#count--
  }

  /** The state in `slot` is about to be freed: it leaves the count (its queue slot goes stale). */
  forget (slot: Slot): void {
    if (this.#table.deadQueued(slot)) this.#count--
  }

  /** Stops a sweep still going in chunks. */
  close (): void {
    this.#closed = true
  }

  /**
   * Whether a queue slot (state slot, death time) is still its state's: a revived, forgotten or re-queued key
   * leaves a stale one. A forgotten key's slot may be reused by another key queued under the same second: the
   * queue slot then stands for that state, which is due at the same time.
   */
  #isQueuedAt (slot: Slot, seconds: number): boolean {
    return this.#meta.holds(slot) && this.#table.deadQueued(slot) && this.#table.deadSince(slot) === seconds
  }

  /**
   * Drops dead states older than `horizon`: no copy of anything they
   * dominate can still be alive anywhere, since every copy expires within
   * `maxTtl` of its write. Returns how many went (in this call).
   *
   * `chunk` bounds the slots one call looks at; when more are due, the rest
   * follows in later event-loop turns (`setImmediate`), a chunk each. The
   * periodic sweep passes one: at 20,000 new keys a second, a 10 s
   * `gcInterval` finds ~200,000 tombstones due at once, and dropping them in
   * one synchronous run stalled every frame behind it (issue 21 §4).
   */
  sweep (horizon: number, chunk = Infinity): number {
    const now = this.#now()
    const cutoff = now - horizon
    const cutoffSeconds = Math.floor(cutoff / 1000)
    const queue = this.#queue
    const table = this.#table
    // Slots re-queued below go to the back: each slot is looked at once.
    let n = 0
    let looked = 0
    for (let budget = queue.slots; budget > 0 && queue.firstAt <= cutoffSeconds; budget--) {
      if (looked++ === chunk) {
        this.#sweepLater(horizon, chunk)
        break
      }
      const slot = queue.firstSlot
      const seconds = queue.firstAt
      queue.shift()
      if (!this.#isQueuedAt(slot, seconds)) continue // a stale slot
      // The write itself must be past the horizon: this is the safety rule
      // (deadSince, rounded up to seconds, only orders the queue).
      if (physicalMs(table.hlc(slot)) > cutoff) {
        const again = Math.ceil(now / 1000)
        table.setDeadSince(slot, again)
        queue.push(slot, again)
        continue
      }
      this.#meta.deleteSlot(slot)
      table.free(slot)
      this.#count--
      n++
    }
    return n
  }

  #sweepLater (horizon: number, chunk: number): void {
    if (this.#sweepPending) return
    this.#sweepPending = true
    setImmediate(() => {
      this.#sweepPending = false
      if (!this.#closed) this.#resume(horizon, chunk)
    })
  }
}
