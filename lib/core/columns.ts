/**
 * Typed-array columns that grow in place. The store's per-slot columns
 * (entry.ts, key-arena.ts) grow with the number of keys. A fresh array
 * twice the size plus a copy on every doubling was the longest synchronous
 * run of a receiver under a stream of new keys (issue 21 §4): at 262,144
 * slots, 10–25 ms per doubling on a new VM, where each page of the new
 * array is faulted in at once by the copy.
 *
 * A column here sits on a resizable ArrayBuffer, and the typed array tracks
 * its length. Growing it commits more of an address range that was
 * reserved up front: nothing is copied, and the new pages are faulted in
 * one by one as slots come into use. The reservation is virtual address
 * space, not memory; it starts at RESERVED elements, and a column that
 * outgrows it moves once to a reservation eight times larger (a copy, as
 * before, but once per 8×). Where a reservation cannot be made, a column
 * is an ordinary array that is copied when it grows.
 *
 * An element access on a length-tracking array costs a few nanoseconds more
 * than on a fixed one (the apply-updates benchmark measures the whole apply).
 * Node's `process.memoryUsage().arrayBuffers` does not count these buffers;
 * `external` does.
 */
export type Column = Float64Array | Int32Array | Uint32Array | Uint8Array

interface ColumnType<C extends Column> {
  new (buffer: ArrayBuffer): C
  new (length: number): C
  readonly BYTES_PER_ELEMENT: number
}

/**
 * Elements reserved for a new column: 8 MiB of address space for a
 * Float64Array, ~40 MiB for a store's columns (a process with 400 caches
 * reserved 111 GB of address space at 4M). A store past 1M keys moves each
 * column once, to 8M.
 */
const RESERVED = 1 << 20

/** A column of `length` zeroed elements. */
export function column<C extends Column> (type: ColumnType<C>, length: number, reserve = RESERVED): C {
  const max = Math.max(length, reserve) * type.BYTES_PER_ELEMENT
  try {
    return new type(new ArrayBuffer(length * type.BYTES_PER_ELEMENT, { maxByteLength: max }))
  } catch {
    return new type(length) // no room to reserve: an ordinary array
  }
}

/** `c` holding at least `length` elements, grown in place when it can be; new elements are zero. */
export function grownTo<C extends Column> (c: C, length: number): C {
  if (length <= c.length) return c
  const type = c.constructor as ColumnType<C>
  const buffer = c.buffer as ArrayBuffer
  const bytes = length * type.BYTES_PER_ELEMENT
  if (buffer.resizable && bytes <= buffer.maxByteLength) {
    buffer.resize(bytes)
    return c
  }
  // Past the reservation (or without one): a copy, into one eight times the length.
  const next = column(type, length, 8 * length)
  next.set(c)
  return next
}
