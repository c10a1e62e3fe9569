/**
 * The memory the store's metadata lives in: typed arrays on shared buffers,
 * which grow in place and which V8's garbage collector does not count.
 *
 * Growing in place. The per-slot columns (entry.ts, key-arena.ts) grow with
 * the number of keys. A fresh array twice the size plus a copy on every
 * doubling was the longest synchronous run of a receiver under a stream of
 * new keys (issue 21 §4): at 262,144 slots, 10–25 ms per doubling on a new
 * VM, where each page of the new array is faulted in at once by the copy.
 * A column here sits on a growable buffer whose address range is reserved
 * up front: growing commits more of it, nothing is copied, and the new pages
 * are faulted in one by one as slots come into use. The reservation is
 * address space, not memory; it starts at RESERVED elements, and a column
 * that outgrows it moves once to a reservation eight times larger (a copy,
 * but once per 8×). Where a reservation cannot be made, a column is an
 * ordinary array that is copied when it grows.
 *
 * Shared buffers, not resizable ones. V8 counts the bytes of ordinary and
 * resizable ArrayBuffers allocated since its last full GC against the old
 * generation's limit, and after a quiet spell it sets that limit a few MB
 * above the live heap. The store's metadata is freed by the store, never by
 * a GC, yet each few MB of it that a growing key set added made V8 mark the
 * whole heap: three or four full GCs in 10 s on every receiver of bench:mesh
 * at 20,000 new keys/s after a spell at 1,000/s, each freeing none of it and
 * each a stall of every write in flight (bench/README.md, 2026-12-04).
 * SharedArrayBuffers are outside that count, so a large store's memory
 * (SHARED_FROM below) is on them; a small store's stays on ordinary buffers,
 * which V8 counts and so collects when a cache is dropped. Shared buffers
 * cannot shrink, and a view
 * of a growable one that tracks its length is several times slower to index,
 * so a column is a fixed-length view, replaced by a longer view of the same
 * memory when its buffer grows: holders keep what `grownTo` returns.
 *
 * The other side of that: a shared buffer a store lets go of (a key index
 * table it outgrew, a chunk past the one kept for reuse) is freed when a
 * full GC collects it, and V8 then runs one for reasons of its own. The GC
 * queue and the key arena keep an emptied chunk for their next one, so a
 * steady churn of keys lets go of nothing.
 *
 * Node's `process.memoryUsage()` counts none of the shared memory (`arrayBuffers`
 * counts the fixed-size shared buffers only); `sharedBytes()` does, and the
 * cache's `stats().metadataBytes` estimates it.
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
 * them collected, and V8 is prompted by nothing else (each growable shared
 * buffer is also a mapping of its own, of which a process has ~65,000). Above,
 * a store is large and long-lived, and its growth is what set off the full GCs.
 */
export const SHARED_FROM = 1 << 16

/** Bytes of the live shared buffers made here; each buffer's share leaves when a GC collects it. */
let live = 0
const collected = new FinalizationRegistry<{ bytes: number }>((share) => { live -= share.bytes })
const shares = new WeakMap<SharedArrayBuffer, { bytes: number }>()

function shared (bytes: number, maxBytes?: number): SharedArrayBuffer {
  const buffer = maxBytes === undefined ? new SharedArrayBuffer(bytes) : new SharedArrayBuffer(bytes, { maxByteLength: maxBytes })
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
 * A column of `length` zeroed elements that can grow in place: on a
 * resizable ArrayBuffer (reserved up to SHARED_FROM elements) while small,
 * on a growable shared one from SHARED_FROM elements on.
 */
export function column<C extends Column> (type: ColumnType<C>, length: number, reserve = RESERVED): C {
  const bytes = length * type.BYTES_PER_ELEMENT
  try {
    const buffer = length >= SHARED_FROM
      ? shared(bytes, Math.max(length, reserve) * type.BYTES_PER_ELEMENT)
      : new ArrayBuffer(bytes, { maxByteLength: Math.min(Math.max(length, reserve), SHARED_FROM) * type.BYTES_PER_ELEMENT })
    return new type(buffer, 0, length)
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
 * the same memory when its buffer can grow in place, else a copy (once, when
 * a column reaches SHARED_FROM elements and moves to a shared buffer). The
 * caller keeps the result: `c` keeps its old length.
 */
export function grownTo<C extends Column> (c: C, length: number): C {
  if (length <= c.length) return c
  const type = c.constructor as ColumnType<C>
  const buffer = c.buffer as ArrayBufferLike & { growable?: boolean, resizable?: boolean }
  const bytes = length * type.BYTES_PER_ELEMENT
  // `growable` is a growable SharedArrayBuffer's alone (read so, with no reference to a global a runtime may lack)
  if (buffer.growable === true && bytes <= (buffer as SharedArrayBuffer).maxByteLength) {
    const sab = buffer as SharedArrayBuffer
    if (bytes > sab.byteLength) {
      const share = shares.get(sab)
      if (share !== undefined) {
        live += bytes - sab.byteLength
        share.bytes = bytes
      }
      sab.grow(bytes)
    }
    return new type(sab, 0, length)
  }
  if (buffer.resizable === true && length < SHARED_FROM && bytes <= (buffer as ArrayBuffer).maxByteLength) {
    if (bytes > buffer.byteLength) (buffer as ArrayBuffer).resize(bytes)
    return new type(buffer, 0, length)
  }
  // Past the reservation (or without one): a copy, into one eight times the length.
  const next = column(type, length, 8 * length)
  next.set(c)
  return next
}
