/**
 * The GC queue of entries that hold no value (tombstones, remote writes in
 * invalidate mode, dropped copies), oldest death first: keys and death times
 * (seconds) in parallel, read from a moving head.
 *
 * It replaced a `Map<string, Entry>` (insertion-ordered, so it was a queue
 * too) to cut what each dead key keeps and costs: a Map slot is ~28 bytes
 * plus the table's growth slack and one more hash insert per write, and each
 * slot pointing at a young entry is one more pointer for every scavenge to
 * update. Here a slot is a key pointer and a small integer, and a key's
 * membership is a flag on its state (EntryTable.deadQueued). A slot whose key has
 * since been revived, forgotten or re-queued is stale: the sweep skips it, as
 * the expiry queue skips its stale hints, and `retain` rebuilds the queue
 * when stale slots outnumber the live ones.
 *
 * The slots live in fixed-size chunks, not two growing arrays: at 20,000
 * new dead keys a second (bench:mesh) a growing array's copy on growth, and
 * the compaction of its consumed head, each copied the whole queue (over
 * 100k slots) in one synchronous step, a stall every receiver felt at once.
 * Here a push fills the last chunk or starts one, a shift that empties the
 * first chunk drops it, and nothing ever copies more than one chunk.
 */

/** Slots per chunk: a chunk's arrays stay small enough to allocate and drop in one go. */
const CHUNK = 4096

class Chunk {
  readonly keys: string[] = []
  readonly at = new Float64Array(CHUNK)
}

export class DeadQueue {
  #chunks: Chunk[] = [new Chunk()]
  /** Index of the oldest slot in the first chunk. */
  #head = 0
  #size = 0

  /** Slots held, stale ones included. */
  get slots (): number {
    return this.#size
  }

  push (key: string, seconds: number): void {
    let last = this.#chunks[this.#chunks.length - 1] as Chunk
    if (last.keys.length === CHUNK) {
      last = new Chunk()
      this.#chunks.push(last)
    }
    last.at[last.keys.length] = seconds
    last.keys.push(key)
    this.#size++
  }

  /** The oldest slot's key (undefined when empty). */
  get firstKey (): string | undefined {
    return this.#size === 0 ? undefined : (this.#chunks[0] as Chunk).keys[this.#head]
  }

  /** The oldest slot's death time in seconds (Infinity when empty). */
  get firstAt (): number {
    return this.#size === 0 ? Infinity : (this.#chunks[0] as Chunk).at[this.#head] as number
  }

  /** Drops the oldest slot. */
  shift (): void {
    if (this.#size === 0) return
    const first = this.#chunks[0] as Chunk
    first.keys[this.#head] = '' // let the key go now, not when the chunk goes
    this.#head++
    this.#size--
    if (this.#size === 0) this.#clear()
    else if (this.#head === CHUNK) {
      this.#chunks.shift() // an array of chunks: a few hundred pointers at most
      this.#head = 0
    }
  }

  /** Rebuilds the queue from the slots `keep` accepts, in order. */
  retain (keep: (key: string, seconds: number) => boolean): void {
    const old = this.#chunks
    let head = this.#head
    this.#clear()
    for (const chunk of old) {
      for (let i = head; i < chunk.keys.length; i++) {
        const key = chunk.keys[i] as string
        const seconds = chunk.at[i] as number
        if (keep(key, seconds)) this.push(key, seconds)
      }
      head = 0
    }
  }

  #clear (): void {
    this.#chunks = [new Chunk()]
    this.#head = 0
    this.#size = 0
  }
}
