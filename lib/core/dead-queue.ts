/**
 * The GC queue of entries that hold no value (tombstones, remote writes in
 * invalidate mode, dropped copies), oldest death first: two parallel arrays
 * of keys and death times (seconds), read from a moving head.
 *
 * It replaced a `Map<string, Entry>` (insertion-ordered, so it was a queue
 * too) to cut what each dead key keeps and costs: a Map slot is ~28 bytes
 * plus the table's growth slack and one more hash insert per write, and each
 * slot pointing at a young entry is one more pointer for every scavenge to
 * update. Here a slot is a key pointer and a small integer, and a key's
 * membership is a flag on its state (EntryTable.deadQueued). A slot whose key has
 * since been revived, forgotten or re-queued is stale: the sweep skips it, as
 * the expiry queue skips its stale hints, and `retain` rebuilds the arrays
 * when stale slots outnumber the live ones.
 */
export class DeadQueue {
  #keys: string[] = []
  #at: number[] = []
  #head = 0

  /** Slots held, stale ones included. */
  get slots (): number {
    return this.#keys.length - this.#head
  }

  push (key: string, seconds: number): void {
    this.#keys.push(key)
    this.#at.push(seconds)
  }

  /** The oldest slot's key (undefined when empty). */
  get firstKey (): string | undefined {
    return this.#head < this.#keys.length ? this.#keys[this.#head] : undefined
  }

  /** The oldest slot's death time in seconds (Infinity when empty). */
  get firstAt (): number {
    return this.#head < this.#at.length ? this.#at[this.#head] as number : Infinity
  }

  /** Drops the oldest slot. */
  shift (): void {
    this.#keys[this.#head] = '' // let the key go now, not at the next rebuild
    this.#head++
    if (this.#head === this.#keys.length) this.#clear()
    else if (this.#head >= 1024 && this.#head * 2 >= this.#keys.length) this.retain(() => true)
  }

  /** Rebuilds the queue from the slots `keep` accepts, in order. */
  retain (keep: (key: string, seconds: number) => boolean): void {
    const keys: string[] = []
    const at: number[] = []
    for (let i = this.#head; i < this.#keys.length; i++) {
      const key = this.#keys[i] as string
      const seconds = this.#at[i] as number
      if (keep(key, seconds)) {
        keys.push(key)
        at.push(seconds)
      }
    }
    this.#keys = keys
    this.#at = at
    this.#head = 0
  }

  #clear (): void {
    this.#keys = []
    this.#at = []
    this.#head = 0
  }
}
