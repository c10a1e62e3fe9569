/**
 * Deadlines of held values, soonest first: a binary min-heap kept in two
 * parallel arrays (deadline, key), so an item costs two array slots and no
 * object (an object per item would cost ~48 bytes a key; see SPEC.md §12).
 *
 * The queue holds hints, not truth: an item may be stale (the value was
 * dropped, or its deadline moved), and the store checks each item it pops
 * against the key's current lifetime. That keeps every operation on a
 * write O(1) in the common case: a new deadline is usually the latest one,
 * so the sift-up stops at once, and a deadline that moves later needs no
 * queue operation at all (the item is pushed again when it comes due).
 */
export class ExpiryQueue {
  /** Deadlines in epoch ms; all numbers, so V8 stores them unboxed. */
  readonly #at: number[] = []
  readonly #keys: string[] = []

  get size (): number {
    return this.#at.length
  }

  /** The soonest deadline, or Infinity when empty. */
  get next (): number {
    return this.#at.length === 0 ? Infinity : this.#at[0] as number
  }

  push (at: number, key: string): void {
    const ats = this.#at
    const keys = this.#keys
    let i = ats.length
    ats.push(at)
    keys.push(key)
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = ats[parent] as number
      if (p <= at) break
      ats[i] = p
      keys[i] = keys[parent] as string
      i = parent
    }
    ats[i] = at
    keys[i] = key
  }

  /** Removes the soonest item and returns its key (its deadline was `next`). Empty queue: undefined. */
  pop (): string | undefined {
    const ats = this.#at
    const keys = this.#keys
    if (ats.length === 0) return undefined
    const top = keys[0] as string
    const lastAt = ats.pop() as number
    const lastKey = keys.pop() as string
    if (ats.length > 0) this.#siftDown(0, lastAt, lastKey)
    return top
  }

  /** Keeps only the items `keep` accepts, in O(n): how the store drops stale hints in bulk. */
  retain (keep: (at: number, key: string) => boolean): void {
    const ats = this.#at
    const keys = this.#keys
    let n = 0
    for (let i = 0; i < ats.length; i++) {
      const at = ats[i] as number
      const key = keys[i] as string
      if (!keep(at, key)) continue
      ats[n] = at
      keys[n] = key
      n++
    }
    ats.length = n
    keys.length = n
    for (let i = (n >> 1) - 1; i >= 0; i--) this.#siftDown(i, ats[i] as number, keys[i] as string)
  }

  clear (): void {
    this.#at.length = 0
    this.#keys.length = 0
  }

  /** Places (at, key) at slot `i` or below, moving smaller children up. */
  #siftDown (i: number, at: number, key: string): void {
    const ats = this.#at
    const keys = this.#keys
    const n = ats.length
    for (;;) {
      let child = 2 * i + 1
      if (child >= n) break
      const right = child + 1
      if (right < n && (ats[right] as number) < (ats[child] as number)) child = right
      const c = ats[child] as number
      if (c >= at) break
      ats[i] = c
      keys[i] = keys[child] as string
      i = child
    }
    ats[i] = at
    keys[i] = key
  }
}
