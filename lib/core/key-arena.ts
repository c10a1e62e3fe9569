/**
 * The characters of the store's keys, off the JS heap, by slot (key-index.ts
 * says why): chunks of 64 KiB bytes, a key written whole into one chunk as
 *
 *   slot (4 bytes) • length << 1 | wide (4 bytes) • its UTF-16 code units
 *
 * one byte each when every unit is under 256 (most keys), else two (little
 * end first); a record is padded to an even size. Per slot, the record's
 * location (chunk × 65,536 + offset, -1 for none).
 *
 * What deleted keys leave is bounded without a whole-arena compaction: a chunk
 * that empties is dropped, and one under a quarter live that is not the one
 * being filled has its live records copied to the current chunk (the slot in
 * each record says whose location to move) and is dropped. So no step copies
 * more than one chunk. A key over 64 KiB gets a chunk of its own.
 */
import { SHARED_FROM, block, column, grownTo } from './columns.ts'

const CHUNK_BYTES = 1 << 16
const HEADER = 8
/** Locations are int32: chunk × 65,536 + offset, so 32,767 chunks (2 GiB of keys). */
const MAX_CHUNKS = 1 << 15

export class KeyArena {
  /** Per slot: where its key's record starts, -1 for none. */
  #location = column(Int32Array, 0)
  #chunks: Array<Uint8Array | undefined> = [new Uint8Array(CHUNK_BYTES)]
  /** Per chunk: bytes written, and bytes of records still in use. */
  #filled: number[] = [0]
  #live: number[] = [0]
  #current = 0
  #freeChunks: number[] = []
  /** A reclaimed chunk's memory, the next chunk's. */
  #spare: Uint8Array | undefined
  /** For decoding two-byte keys. */
  #units = new Uint16Array(0)

  /** One past the highest slot a key was ever put under (what iteration walks). */
  get slots (): number {
    return this.#location.length
  }

  /** Whether `slot` holds a key. */
  has (slot: number): boolean {
    return slot < this.#location.length && (this.#location[slot] as number) >= 0
  }

  /** Writes `key` for `slot`, which must hold none. */
  put (slot: number, key: string): void {
    let wide = 0
    for (let i = 0; i < key.length; i++) {
      if (key.charCodeAt(i) > 0xff) {
        wide = 1
        break
      }
    }
    this.#ensureSlot(slot)
    const offset = this.#reserve(recordBytes(key.length, wide))
    const chunk = this.#chunks[this.#current] as Uint8Array
    writeU32(chunk, offset, slot)
    writeU32(chunk, offset + 4, key.length * 2 + wide)
    const start = offset + HEADER
    if (wide === 0) {
      for (let i = 0; i < key.length; i++) chunk[start + i] = key.charCodeAt(i)
    } else {
      for (let i = 0; i < key.length; i++) {
        const unit = key.charCodeAt(i)
        chunk[start + 2 * i] = unit & 0xff
        chunk[start + 2 * i + 1] = unit >>> 8
      }
    }
    this.#location[slot] = this.#current * CHUNK_BYTES + offset
  }

  /** Whether `slot`'s key is `key`. */
  equals (slot: number, key: string): boolean {
    const at = this.#location[slot] as number
    const chunk = this.#chunks[at >>> 16] as Uint8Array
    const offset = at & 0xffff
    const field = readU32(chunk, offset + 4)
    const length = key.length
    if (field >>> 1 !== length) return false
    const start = offset + HEADER
    if ((field & 1) === 0) {
      for (let i = 0; i < length; i++) if (chunk[start + i] !== key.charCodeAt(i)) return false
    } else {
      for (let i = 0; i < length; i++) if (((chunk[start + 2 * i] as number) | (chunk[start + 2 * i + 1] as number) << 8) !== key.charCodeAt(i)) return false
    }
    return true
  }

  /** `slot`'s key, as a new string. */
  keyOf (slot: number): string {
    const at = this.#location[slot] as number
    if (!(at >= 0)) throw new RangeError(`slot ${slot} holds no key`)
    const chunk = this.#chunks[at >>> 16] as Uint8Array
    const offset = at & 0xffff
    const field = readU32(chunk, offset + 4)
    const length = field >>> 1
    const start = offset + HEADER
    let units: Uint8Array | Uint16Array = chunk.subarray(start, start + length)
    if ((field & 1) === 1) {
      if (this.#units.length < length) this.#units = new Uint16Array(Math.max(length, 256))
      for (let i = 0; i < length; i++) this.#units[i] = (chunk[start + 2 * i] as number) | (chunk[start + 2 * i + 1] as number) << 8
      units = this.#units.subarray(0, length)
    }
    if (length <= 4096) return String.fromCharCode.apply(null, units as unknown as number[])
    let out = ''
    for (let i = 0; i < length; i += 4096) out += String.fromCharCode.apply(null, units.subarray(i, Math.min(length, i + 4096)) as unknown as number[])
    return out
  }

  /** The hash key-index.ts `hashKey` gives `slot`'s key, from its stored units. */
  hashOf (slot: number): number {
    const at = this.#location[slot] as number
    const chunk = this.#chunks[at >>> 16] as Uint8Array
    const offset = at & 0xffff
    const field = readU32(chunk, offset + 4)
    const length = field >>> 1
    const start = offset + HEADER
    let h = 0x811c9dc5
    if ((field & 1) === 0) for (let i = 0; i < length; i++) h = Math.imul(h ^ (chunk[start + i] as number), 0x01000193)
    else for (let i = 0; i < length; i++) h = Math.imul(h ^ ((chunk[start + 2 * i] as number) | (chunk[start + 2 * i + 1] as number) << 8), 0x01000193)
    return finishHash(h)
  }

  /** Moves the key of slot `from` to slot `to` (which holds none). */
  move (from: number, to: number): void {
    this.#ensureSlot(to)
    const at = this.#location[from] as number
    this.#location[to] = at
    this.#location[from] = -1
    writeU32(this.#chunks[at >>> 16] as Uint8Array, at & 0xffff, to)
  }

  /** Frees `slot`'s key. */
  release (slot: number): void {
    const at = this.#location[slot] as number
    this.#location[slot] = -1
    const c = at >>> 16
    const chunk = this.#chunks[c] as Uint8Array
    const field = readU32(chunk, (at & 0xffff) + 4)
    this.#live[c] = (this.#live[c] as number) - recordBytes(field >>> 1, field & 1)
    if (c !== this.#current) this.#reclaim(c)
  }

  clear (): void {
    this.#location = column(Int32Array, 0)
    this.#chunks = [new Uint8Array(CHUNK_BYTES)]
    this.#filled = [0]
    this.#live = [0]
    this.#current = 0
    this.#freeChunks = []
  }

  /** Bytes held: the location column and the chunks. */
  get bytes (): number {
    let bytes = this.#location.length * 4
    for (const chunk of this.#chunks) if (chunk !== undefined) bytes += chunk.length
    return bytes
  }

  #ensureSlot (slot: number): void {
    if (slot < this.#location.length) return
    let size = Math.max(1024, this.#location.length * 2)
    while (size <= slot) size *= 2
    const before = this.#location.length
    // In place where it can be (columns.ts); the new part is marked empty.
    this.#location = grownTo(this.#location, size)
    this.#location.fill(-1, before)
  }

  /** Room for `bytes` in the current chunk (starting another if needed); returns the offset, counted as written. */
  #reserve (bytes: number): number {
    while ((this.#filled[this.#current] as number) + bytes > (this.#chunks[this.#current] as Uint8Array).length) {
      const c = this.#freeChunks.pop() ?? this.#chunks.length
      if (c >= MAX_CHUNKS) throw new RangeError(`meshcache: the keys held take more than ${MAX_CHUNKS * CHUNK_BYTES} bytes`)
      let chunk = bytes <= CHUNK_BYTES ? this.#spare : undefined
      if (chunk !== undefined) this.#spare = undefined
      else chunk = block(Uint8Array, Math.max(CHUNK_BYTES, bytes), this.#chunks.length * CHUNK_BYTES >= 16 * SHARED_FROM)
      this.#chunks[c] = chunk
      this.#filled[c] = 0
      this.#live[c] = 0
      const previous = this.#current
      this.#current = c
      // The chunk left behind may be mostly dead already (its records move here, maybe starting yet another chunk).
      this.#reclaim(previous)
    }
    const c = this.#current
    const offset = this.#filled[c] as number
    this.#filled[c] = offset + bytes
    this.#live[c] = (this.#live[c] as number) + bytes
    return offset
  }

  /** Drops chunk `c` (not the current one) once under a quarter live, moving its live records out first. */
  #reclaim (c: number): void {
    const chunk = this.#chunks[c] as Uint8Array
    if ((this.#live[c] as number) * 4 >= chunk.length) return
    const filled = this.#filled[c] as number
    for (let offset = 0; offset < filled && (this.#live[c] as number) > 0;) {
      const slot = readU32(chunk, offset)
      const field = readU32(chunk, offset + 4)
      const bytes = recordBytes(field >>> 1, field & 1)
      if (this.#location[slot] === c * CHUNK_BYTES + offset) {
        this.#live[c] = (this.#live[c] as number) - bytes
        const to = this.#reserve(bytes)
        ;(this.#chunks[this.#current] as Uint8Array).set(chunk.subarray(offset, offset + bytes), to)
        this.#location[slot] = this.#current * CHUNK_BYTES + to
      }
      offset += bytes
    }
    this.#chunks[c] = undefined
    this.#filled[c] = 0
    this.#live[c] = 0
    this.#freeChunks.push(c)
    // Kept for the next chunk: a dropped one would wait for a full GC (columns.ts), and a steady churn of keys drops none.
    if (chunk.length === CHUNK_BYTES) this.#spare ??= chunk
  }
}

/** FNV-1a's state finalised, so both the high bits (shard) and the low bits (cell) mix. */
export function finishHash (h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) | 0
}

function recordBytes (length: number, wide: number): number {
  const bytes = HEADER + (wide === 1 ? 2 * length : length)
  return bytes + (bytes & 1)
}

function writeU32 (b: Uint8Array, at: number, n: number): void {
  b[at] = n & 0xff
  b[at + 1] = (n >>> 8) & 0xff
  b[at + 2] = (n >>> 16) & 0xff
  b[at + 3] = n >>> 24
}

function readU32 (b: Uint8Array, at: number): number {
  return ((b[at] as number) | (b[at + 1] as number) << 8 | (b[at + 2] as number) << 16 | (b[at + 3] as number) << 24) >>> 0
}
