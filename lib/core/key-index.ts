/**
 * The store's index of keys, key → slot and slot → key, held in typed arrays
 * off the JS heap: no object, string or Map entry per key.
 *
 * Why not a `Map<string, Slot>` (what this replaced, split over 16 Maps):
 * the store keeps every key's state until the horizon, a tombstone included,
 * and under a stream of new keys (bench:mesh: every write a new key, 20,000 a
 * second on every instance) each one left a key string, a Map entry and a GC
 * queue slot on the heap. The young-generation GC copied each string twice
 * before promoting it, and scavenges walked the old tables' pointers to the
 * new strings: the receivers' scavenges copied 63-68 MB in a 12 s run where the
 * transport floor's copied 28, and under load meshcache's p99 at 20,000
 * writes/s was 24-580 ms against the floor's 2 (bench/README.md). With the
 * table in typed arrays and the characters in an arena (key-arena.ts), an
 * indexed key costs the GC nothing: the string the caller passed dies young.
 * The price: the hash is computed here (FNV-1a over the UTF-16 code units,
 * where V8 caches its own on the string), a hit compares characters, and
 * handing a key back (`keyOf`) builds a string.
 *
 * 64 shards of open addressing with linear probing; a cell is [slot + 1 (0:
 * empty), hash], so a probe reads one cache line and compares characters
 * only when the hashes match, and a growth step rehashes from the stored
 * hashes without reading a key. A shard doubles past 5/8 full and halves
 * under 1/8, so one step moves 1/64 of the keys (16 shards, as at first, made
 * each step at 200,000 keys a visible part of a receiver's stalls at 20,000
 * new keys/s). Deletes shift later cells of the run back (no tombstone cells).
 *
 * Contract (what the store keeps): a slot names at most one key at a time.
 * Iteration is by slot number; no caller relies on an order across keys.
 */
import { KeyArena, finishHash } from './key-arena.ts'
import { SHARED_FROM, block } from './columns.ts'

const SHARD_BITS = 6
const SHARDS = 1 << SHARD_BITS
const MIN_CELLS = 16

/** FNV-1a over every UTF-16 code unit, finalised (key-arena.ts `hashOf` gives the same from stored units). */
export function hashKey (key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return finishHash(h)
}

/** Cells in pairs, [slot + 1 (0: empty), hash], so a probe reads one cache line. */
class Shard {
  table = new Int32Array(2 * MIN_CELLS)
  size = 0
}

export class KeyIndex {
  readonly #shards: Shard[] = Array.from({ length: SHARDS }, () => new Shard())
  readonly #arena = new KeyArena()
  #size = 0
  /** The last key hashed, and its hash: a new key is looked up, then set, and the hash loop is most of a miss. */
  #lastKey = ''
  #lastHash = hashKey('')

  #hash (key: string): number {
    if (key === this.#lastKey) return this.#lastHash
    this.#lastKey = key
    return (this.#lastHash = hashKey(key))
  }

  get size (): number {
    return this.#size
  }

  /** The slot of `key`, or undefined. */
  get (key: string): number | undefined {
    const h = this.#hash(key)
    const table = (this.#shards[h >>> (32 - SHARD_BITS)] as Shard).table
    const mask = (table.length >> 1) - 1
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const cell = table[2 * i] as number
      if (cell === 0) return undefined
      if (table[2 * i + 1] === h && this.#arena.equals(cell - 1, key)) return cell - 1
    }
  }

  has (key: string): boolean {
    return this.get(key) !== undefined
  }

  /** Indexes `key` under `slot` (a key already indexed moves to `slot`). `slot` must not name another key. */
  set (key: string, slot: number): this {
    const h = this.#hash(key)
    const s = h >>> (32 - SHARD_BITS)
    let shard = this.#shards[s] as Shard
    const table = shard.table
    const mask = (table.length >> 1) - 1
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const cell = table[2 * i] as number
      if (cell === 0) break
      if (table[2 * i + 1] === h && this.#arena.equals(cell - 1, key)) {
        if (cell - 1 !== slot) {
          table[2 * i] = slot + 1
          this.#arena.move(cell - 1, slot)
        }
        return this
      }
    }
    const cells = table.length >> 1
    if ((shard.size + 1) * 8 > cells * 5) shard = this.#resize(s, cells * 2)
    this.#arena.put(slot, key)
    place(shard.table, h, slot + 1)
    shard.size++
    this.#size++
    return this
  }

  delete (key: string): boolean {
    const h = this.#hash(key)
    const s = h >>> (32 - SHARD_BITS)
    const table = (this.#shards[s] as Shard).table
    const mask = (table.length >> 1) - 1
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const cell = table[2 * i] as number
      if (cell === 0) return false
      if (table[2 * i + 1] === h && this.#arena.equals(cell - 1, key)) {
        this.#remove(s, i, cell - 1)
        return true
      }
    }
  }

  /** Drops the key `slot` names, if any, without building its string; returns whether there was one. */
  deleteSlot (slot: number): boolean {
    if (!this.#arena.has(slot)) return false
    const h = this.#arena.hashOf(slot)
    const s = h >>> (32 - SHARD_BITS)
    const table = (this.#shards[s] as Shard).table
    const mask = (table.length >> 1) - 1
    for (let i = h & mask; ; i = (i + 1) & mask) {
      if (table[2 * i] === slot + 1) {
        this.#remove(s, i, slot)
        return true
      }
    }
  }

  /** Whether `slot` names a key. */
  holds (slot: number): boolean {
    return this.#arena.has(slot)
  }

  /** The key `slot` names (a new string each call). */
  keyOf (slot: number): string {
    return this.#arena.keyOf(slot)
  }

  /** One past the highest slot that ever named a key: what `forEachSlot` walks. */
  get slots (): number {
    return this.#arena.slots
  }

  /** Every slot in [from, to) that names a key, by slot number. `fn` must not add or delete keys. */
  forEachSlot (fn: (slot: number) => void, from = 0, to = this.#arena.slots): void {
    const arena = this.#arena
    const end = Math.min(to, arena.slots)
    for (let slot = from; slot < end; slot++) if (arena.has(slot)) fn(slot)
  }

  * keys (): IterableIterator<string> {
    for (let slot = 0; slot < this.#arena.slots; slot++) if (this.#arena.has(slot)) yield this.#arena.keyOf(slot)
  }

  clear (): void {
    for (let s = 0; s < SHARDS; s++) this.#shards[s] = new Shard()
    this.#arena.clear()
    this.#size = 0
  }

  /** Bytes held: the cells, and the arena's (for the metadata estimate and its test). */
  get bytes (): number {
    let bytes = this.#arena.bytes
    for (const shard of this.#shards) bytes += shard.table.length * 4
    return bytes
  }

  /** Rebuilds shard `s` with `cells` cells, from the stored hashes (no key is read); returns it. */
  #resize (s: number, cells: number): Shard {
    const { table: old, size } = this.#shards[s] as Shard
    const grown = new Shard()
    grown.table = block(Int32Array, 2 * cells, this.#size >= SHARED_FROM)
    grown.size = size
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0) place(grown.table, old[i + 1] as number, old[i] as number)
    this.#shards[s] = grown
    return grown
  }

  /** Empties cell `i` of shard `s` (shifting later cells of its run back) and frees `slot`'s key. */
  #remove (s: number, i: number, slot: number): void {
    const shard = this.#shards[s] as Shard
    const table = shard.table
    const cells = table.length >> 1
    const mask = cells - 1
    let hole = i
    for (let j = (i + 1) & mask; table[2 * j] !== 0; j = (j + 1) & mask) {
      // The cell at j may fill the hole if the hole lies on its probe path (from its home cell to j).
      if (((j - (table[2 * j + 1] as number)) & mask) >= ((j - hole) & mask)) {
        table[2 * hole] = table[2 * j] as number
        table[2 * hole + 1] = table[2 * j + 1] as number
        hole = j
      }
    }
    table[2 * hole] = 0
    table[2 * hole + 1] = 0
    shard.size--
    this.#size--
    this.#arena.release(slot)
    if (cells > MIN_CELLS && shard.size * 8 < cells) this.#resize(s, cells / 2)
  }
}

/** Puts a cell at the first empty place of its probe run. */
function place (table: Int32Array, h: number, cell: number): void {
  const mask = (table.length >> 1) - 1
  let i = h & mask
  while (table[2 * i] !== 0) i = (i + 1) & mask
  table[2 * i] = cell
  table[2 * i + 1] = h
}
