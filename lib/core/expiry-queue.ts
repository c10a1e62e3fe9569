/**
 * Deadlines of held values, soonest first: a binary min-heap in two
 * parallel typed arrays (deadline, ref), 12 bytes an item and nothing for
 * the GC to trace. A ref is a small integer the store gives each value (its
 * state's slot, or its lifetime's number: store.ts); an array of key strings
 * beside a JS array of doubles cost ~24 bytes a live key with their growth.
 *
 * The queue holds hints, not truth: an item may be stale (the value was
 * dropped, or its deadline moved, or its ref now names another value), and
 * the store checks each item it pops against the current lifetime of what
 * the ref names. That keeps every operation on a write O(1) in the common
 * case: a new deadline is usually the latest one, so the sift-up stops at
 * once, and a deadline that moves later needs no queue operation at all (the
 * item is pushed again when it comes due).
 */
import { column, grownTo } from './columns.ts'

const MIN_CAPACITY = 1024

export class ExpiryQueue {
  /** Deadlines in epoch ms. */
  #at = column(Float64Array, MIN_CAPACITY)
  #refs = column(Int32Array, MIN_CAPACITY)
  #size = 0

  get size (): number {
    return this.#size
  }

  /** Items the arrays have room for (it follows the size both ways). */
  get capacity (): number {
    return this.#at.length
  }

  /** The soonest deadline, or Infinity when empty. */
  get next (): number {
    return this.#size === 0 ? Infinity : this.#at[0] as number
  }

  push (at: number, ref: number): void {
    if (this.#size === this.#at.length) {
      // in place once large (a shared reservation), as the store's columns grow (columns.ts)
      this.#at = grownTo(this.#at, 2 * this.#size)
      this.#refs = grownTo(this.#refs, 2 * this.#size)
    }
    const ats = this.#at
    const refs = this.#refs
    let i = this.#size++
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = ats[parent] as number
      if (p <= at) break
      ats[i] = p
      refs[i] = refs[parent] as number
      i = parent
    }
    ats[i] = at
    refs[i] = ref
  }

  /** Removes the soonest item and returns its ref (its deadline was `next`). Empty queue: undefined. */
  pop (): number | undefined {
    if (this.#size === 0) return undefined
    const top = this.#refs[0] as number
    const last = --this.#size
    if (last > 0) this.#siftDown(0, this.#at[last] as number, this.#refs[last] as number)
    if (this.#at.length > MIN_CAPACITY && this.#size < this.#at.length >> 2) this.#resize(this.#at.length >> 1)
    return top
  }

  /** Keeps only the items `keep` accepts, in O(n): how the store drops stale hints in bulk. */
  retain (keep: (at: number, ref: number) => boolean): void {
    const ats = this.#at
    const refs = this.#refs
    let n = 0
    for (let i = 0; i < this.#size; i++) {
      const at = ats[i] as number
      const ref = refs[i] as number
      if (!keep(at, ref)) continue
      ats[n] = at
      refs[n] = ref
      n++
    }
    this.#size = n
    for (let i = (n >> 1) - 1; i >= 0; i--) this.#siftDown(i, ats[i] as number, refs[i] as number)
    let capacity = this.#at.length
    while (capacity > MIN_CAPACITY && n < capacity >> 2) capacity >>= 1
    if (capacity !== this.#at.length) this.#resize(capacity)
  }

  clear (): void {
    this.#size = 0
    if (this.#at.length !== MIN_CAPACITY) this.#resize(MIN_CAPACITY)
  }

  /** Down to `capacity` items (a drained queue gives its memory back). */
  #resize (capacity: number): void {
    const at = column(Float64Array, capacity)
    const refs = column(Int32Array, capacity)
    at.set(this.#at.subarray(0, this.#size))
    refs.set(this.#refs.subarray(0, this.#size))
    this.#at = at
    this.#refs = refs
  }

  /** Places (at, ref) at index `i` or below, moving smaller children up. */
  #siftDown (i: number, at: number, ref: number): void {
    const ats = this.#at
    const refs = this.#refs
    const n = this.#size
    for (;;) {
      let child = 2 * i + 1
      if (child >= n) break
      const right = child + 1
      if (right < n && (ats[right] as number) < (ats[child] as number)) child = right
      const c = ats[child] as number
      if (c >= at) break
      ats[i] = c
      refs[i] = refs[child] as number
      i = child
    }
    ats[i] = at
    refs[i] = ref
  }
}
