/**
 * The entry table's TTL column (entry.ts): a key's lifetime in ms, counted
 * from its write's physical time, in 32 bits. That is 4 bytes a key fewer
 * than a double, and every TTL under ~49 days fits. A longer (or fractional)
 * one is marked WIDE in the column and kept exactly in a Map beside it.
 */
import { column, grownTo } from './columns.ts'

/** The column's mark for a TTL kept in the Map. */
const WIDE = 0xffffffff

export class TtlColumn {
  #narrow: Uint32Array
  readonly #wide = new Map<number, number>()

  constructor (slots: number) {
    this.#narrow = column(Uint32Array, slots)
  }

  /** Slots whose TTL does not fit the column (for the memory estimate). */
  get wide (): number {
    return this.#wide.size
  }

  get (slot: number): number {
    const ttl = this.#narrow[slot] as number
    return ttl !== WIDE ? ttl : this.#wide.get(slot) as number
  }

  set (slot: number, ttl: number): void {
    if (ttl >= 0 && ttl < WIDE && Number.isInteger(ttl)) {
      if (this.#narrow[slot] === WIDE) this.#wide.delete(slot)
      this.#narrow[slot] = ttl
    } else {
      this.#narrow[slot] = WIDE
      this.#wide.set(slot, ttl)
    }
  }

  /** The slot is given back: a TTL kept beside the column goes with it. */
  free (slot: number): void {
    if (this.#narrow[slot] === WIDE) {
      this.#wide.delete(slot)
      this.#narrow[slot] = 0
    }
  }

  /** Room for `slots`: a copy while small, in place once a shared reservation (columns.ts). */
  grow (slots: number): void {
    this.#narrow = grownTo(this.#narrow, slots)
  }
}
