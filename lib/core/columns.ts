/**
 * The memory the store's metadata lives in: typed arrays, on shared buffers
 * once a store is large, which grow without a copy and which V8's garbage
 * collector does not count.
 *
 * Growing without a copy. The per-slot columns (entry.ts, key-arena.ts) grow
 * with the number of keys. A fresh array twice the size plus a copy on every
 * doubling was the longest synchronous run of a receiver under a stream of
 * new keys (issue 21 §4): at 262,144 slots, 10–25 ms per doubling on a new
 * VM, where each page of the new array is faulted in at once by the copy.
 * A large column (SHARED_FROM elements on) is a view of the start of a
 * shared buffer reserved up front: growing is a longer view of the same
 * memory, nothing is copied, and the new pages are faulted in one by one as
 * slots come into use. The reservation is address space, not memory (Linux
 * commits a page of it when first written: 40 reservations of 64 MiB raised
 * a process's resident memory by 0.3 MiB). It starts at RESERVED elements,
 * and a column that outgrows it moves once to a reservation eight times
 * larger (a copy, but once per 8×). A small column is an ordinary array,
 * copied when it doubles (at most SHARED_FROM elements: microseconds).
 *
 * Fixed buffers, not resizable or growable ones. V8 indexes a typed array on
 * a resizable ArrayBuffer or a growable SharedArrayBuffer by a slower path in
 * every tier, even a view of fixed length: 5.9 ns an access against 0.97 in
 * TurboFan, 22 against 1.8 in Maglev, where a write path called 1,000 times a
 * second runs for its first ten seconds (bench/README.md, "the columns'
 * buffers"). Every column here, the reservations included, is a plain buffer.
 *
 * Shared buffers. V8 counts the bytes of ordinary ArrayBuffers allocated
 * since its last full GC against the old generation's limit, and after a
 * quiet spell it sets that limit a few MB above the live heap. The store's
 * metadata is freed by the store, never by a GC, yet each few MB of it that a
 * growing key set added made V8 mark the whole heap: three or four full GCs
 * in 10 s on every receiver of bench:mesh at 20,000 new keys/s after a spell
 * at 1,000/s, each freeing none of it and each a stall of every write in
 * flight (bench/README.md, 2026-12-04). SharedArrayBuffers are outside that
 * count, so a large store's memory (SHARED_FROM below) is on them; a small
 * store's stays on ordinary buffers, which V8 counts and so collects when a
 * cache is dropped. A column is a fixed-length view, replaced by a longer view
 * of the same memory when it grows: holders keep what `grownTo` returns.
 *
 * The other side of that: a shared buffer a store lets go of (a key index
 * table it outgrew, a chunk past the one kept for reuse) is freed when a
 * full GC collects it, and V8 then runs one for reasons of its own. The GC
 * queue and the key arena keep an emptied chunk for their next one, so a
 * steady churn of keys lets go of nothing.
 *
 * Node's `process.memoryUsage()` counts none of the shared memory; `sharedBytes()`
 * counts what is in use of it (each reservation up to its longest view), and
 * the cache's `stats().metadataBytes` estimates it.
 */
export type Column = Float64Array | Int32Array | Uint32Array | Uint8Array

interface ColumnType<C extends Column> {
  new (buffer: ArrayBufferLike, offset: number, length: number): C
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

/**
 * Elements from which a column, or a block whose owner holds that much, is
 * shared memory. Below, a store's memory is ordinary buffers that V8 counts:
 * a process that makes and drops many small caches (a test suite) must see
 * them collected, and V8 is prompted by nothing else (each shared buffer is
 * also a mapping of its own, of which a process has ~65,000). Above,
 * a store is large and long-lived, and its growth is what set off the full GCs.
 */
export const SHARED_FROM = 1 << 16

/** Bytes in use of the live shared buffers made here; each buffer's share leaves when a GC collects it. */
let live = 0
const collected = new FinalizationRegistry<{ bytes: number }>((share) => { live -= share.bytes })
/** A shared buffer made here, and how many of its bytes are in use (a reservation's, up to its longest view). */
const shares = new WeakMap<SharedArrayBuffer, { bytes: number }>()

function shared (bytes: number, reservedBytes = bytes): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(reservedBytes)
  const share = { bytes }
  shares.set(buffer, share)
  collected.register(buffer, share)
  live += bytes
  return buffer
}

/** What the shared buffers of every store in this process hold now (for measurements: `process.memoryUsage()` misses it). */
export function sharedBytes (): number {
  return live
}

/**
 * A column of `length` zeroed elements that can grow: an ordinary array while
 * small, from SHARED_FROM elements on a view of a shared buffer reserved for
 * `reserve` elements (or `length`, if more), which grows in place.
 */
export function column<C extends Column> (type: ColumnType<C>, length: number, reserve = RESERVED): C {
  if (length < SHARED_FROM) return new type(length)
  const bytes = length * type.BYTES_PER_ELEMENT
  try {
    return new type(shared(bytes, Math.max(length, reserve) * type.BYTES_PER_ELEMENT), 0, length)
  } catch {
    return new type(length) // no room to reserve, or no shared memory: an ordinary array
  }
}

/**
 * A fixed-size array of `length` zeroed elements (a chunk, a hash table):
 * on a shared buffer when `large` (its owner holds much already, SHARED_FROM),
 * else an ordinary one.
 */
export function block<C extends Column> (type: ColumnType<C>, length: number, large: boolean): C {
  if (!large) return new type(length)
  try {
    return new type(shared(length * type.BYTES_PER_ELEMENT), 0, length)
  } catch {
    return new type(length) // a runtime without shared memory
  }
}

/**
 * `c` holding at least `length` elements, the new ones zero: a longer view of
 * the same memory when `c` is a view of a reservation with room, else a copy
 * (doubling a small column; once when a column reaches SHARED_FROM elements
 * and moves to a reservation; once per 8× past one). The caller keeps the
 * result: `c` keeps its old length.
 */
export function grownTo<C extends Column> (c: C, length: number): C {
  if (length <= c.length) return c
  const type = c.constructor as ColumnType<C>
  const bytes = length * type.BYTES_PER_ELEMENT
  // One of this module's reservations (a WeakMap lookup: no reference to a global a runtime may lack)
  const share = shares.get(c.buffer as SharedArrayBuffer)
  if (share !== undefined && bytes <= c.buffer.byteLength) {
    if (bytes > share.bytes) {
      live += bytes - share.bytes
      share.bytes = bytes
    }
    return new type(c.buffer, 0, length)
  }
  // Small, or past the reservation: a copy, into a reservation eight times the length once it is shared.
  const next = column(type, length, 8 * length)
  next.set(c)
  return next
}
