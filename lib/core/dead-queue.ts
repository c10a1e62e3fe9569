/**
 * The GC queue of entries that hold no value (tombstones, remote writes in
 * invalidate mode, dropped copies), oldest death first: state slots and death times
 * (seconds) in parallel, read from a moving head. A queue slot names the
 * key's state slot (EntryTable), not its key: a queue of strings kept every
 * tombstone's key string alive on the heap (key-index.ts says why that mattered).
 *
 * It replaced a `Map<string, Entry>` (insertion-ordered, so it was a queue
 * too) to cut what each dead key keeps and costs: a Map slot is ~28 bytes
 * plus the table's growth slack and one more hash insert per write, and each
 * slot pointing at a young entry is one more pointer for every scavenge to
 * update. Here a queue slot is two numbers in typed arrays, and a key's
 * membership is a flag on its state (EntryTable.deadQueued). A queue slot whose
 * state has since been revived, forgotten (its slot maybe reused) or re-queued
 * is stale (its state is not queued, or under another death time): the sweep skips it, as
 * the expiry queue skips its stale hints, and `retain` rebuilds the queue
 * when stale slots outnumber the live ones.
 *
 * The slots live in fixed-size chunks, not two growing arrays: at 20,000
 * new dead keys a second (bench:mesh) a growing array's copy on growth, and
 * the compaction of its consumed head, each copied the whole queue (over
 * 100k slots) in one synchronous step, a stall every receiver felt at once.
 * Here a push fills the last chunk or starts one, a shift that empties the
 * first chunk drops it, and nothing ever copies more than one chunk.
 * The chunks are store metadata outside the GC's count (columns.ts); an
 * emptied chunk is kept as the next one to fill, so a queue that drains as
 * fast as it fills allocates nothing, and none waits for a full GC to go.
 */
import { SHARED_FROM, block } from './columns.ts'

/** Slots per chunk: a chunk's arrays stay small enough to allocate and drop in one go. */
const CHUNK = 4096

class Chunk {
  readonly slots: Int32Array
  readonly at: Float64Array
  length = 0

  /** `large`: the queue holds SHARED_FROM slots already (columns.ts says why that decides). */
  constructor (large: boolean) {
    this.slots = block(Int32Array, CHUNK, large)
    this.at = block(Float64Array, CHUNK, large)
  }
}

export class DeadQueue {
  #chunks: Chunk[] = [new Chunk(false)]
  /** Index of the oldest slot in the first chunk. */
  #head = 0
  #size = 0
  /** An emptied chunk, filled next. */
  #spare: Chunk | undefined

  /** Slots held, stale ones included. */
  get slots (): number {
    return this.#size
  }

  push (slot: number, seconds: number): void {
    let last = this.#chunks[this.#chunks.length - 1] as Chunk
    if (last.length === CHUNK) {
      last = this.#spare ?? new Chunk(this.#size >= SHARED_FROM)
      this.#spare = undefined
      this.#chunks.push(last)
    }
    last.at[last.length] = seconds
    last.slots[last.length++] = slot
    this.#size++
  }

  /** The oldest queue slot's state slot (-1 when empty). */
  get firstSlot (): number {
    return this.#size === 0 ? -1 : (this.#chunks[0] as Chunk).slots[this.#head] as number
  }

  /** The oldest slot's death time in seconds (Infinity when empty). */
  get firstAt (): number {
    return this.#size === 0 ? Infinity : (this.#chunks[0] as Chunk).at[this.#head] as number
  }

  /** Drops the oldest slot. */
  shift (): void {
    if (this.#size === 0) return
    this.#head++
    this.#size--
    if (this.#size === 0) {
      // Empty: its one chunk (earlier ones were shifted out as the head left them) starts over.
      (this.#chunks[0] as Chunk).length = 0
      this.#head = 0
    } else if (this.#head === CHUNK) {
      this.#recycle(this.#chunks.shift() as Chunk) // an array of chunks: a few hundred pointers at most
      this.#head = 0
    }
  }

  /** Rebuilds the queue from the slots `keep` accepts, in order. */
  retain (keep: (slot: number, seconds: number) => boolean): void {
    const old = this.#chunks
    let head = this.#head
    this.#clear()
    for (const chunk of old) {
      for (let i = head; i < chunk.length; i++) {
        const slot = chunk.slots[i] as number
        const seconds = chunk.at[i] as number
        if (keep(slot, seconds)) this.push(slot, seconds)
      }
      head = 0
    }
  }

  #recycle (chunk: Chunk): void {
    chunk.length = 0
    this.#spare ??= chunk
  }

  #clear (): void {
    this.#chunks = [new Chunk(false)]
    this.#head = 0
    this.#size = 0
  }
}
