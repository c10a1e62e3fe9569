/**
 * The replicated state of one key: what the CRDT merges. The value itself
 * lives in the LRU (so a read is one LRU lookup); this is the metadata.
 *
 * Most keys are written by one origin, so their vector is `{writer: n}`:
 * that case is kept inline (the writer field plus a counter) and an array is
 * allocated only for vectors with several origins. That halves the metadata
 * of a key (measured: an exact two-slot array costs 64 bytes).
 */
import type { RecordKindValue } from '../../protocol/constants.ts'
import type { WireRecord } from '../../protocol/record.ts'
import { physicalMs } from './clock.ts'
import { compareVectors, Order, vectorExceeds, vectorWith, vectorWithout, type OrderValue, type VersionVector } from './version-vector.ts'

/**
 * The timestamp is kept as two small integers, never as one number: an HLC is
 * above 2^31, so V8 would box it in a 16-byte HeapNumber per entry (and a new
 * one per overwrite), while small integers (Smis, below 2^30 on every V8
 * build) live in the object's own slots. `#stamp` holds hlc / 2^24 (below 2^30
 * until the year 2500); `#low` holds the low 24 bits and, above them, the
 * entry's flags, so the split costs no slot.
 */
const LOW_BITS = 24
const LOW_RANGE = 2 ** LOW_BITS
const LOW_MASK = LOW_RANGE - 1
/**
 * Flags in `#low` above the timestamp's bits: the record kind, whether the LRU
 * holds the value, and whether the store's GC queue holds the key (the highest
 * flag, 2^29, keeps `#low` below 2^30: a small integer on every V8 build).
 */
const KIND_BITS = 0x0f << LOW_BITS
const HAS_VALUE = 0x10 << LOW_BITS
const DEAD_QUEUED = 0x20 << LOW_BITS
/**
 * `n` as an int32 when it is one exactly, else `n`. A number computed in
 * floating point (Math.ceil, a division) may reach a field as a boxed
 * HeapNumber even when its value is small; an int32 is stored in the slot.
 */
function small (n: number): number {
  const i = n | 0
  return i === n ? i : n
}

/** `#since` of an entry that holds a value and is not in the expiry queue (no deadline is that far before its write). */
const NOT_QUEUED = -(2 ** 30)
/**
 * Death times are kept in seconds after 2020-01-01 (UTC), not after 1970:
 * epoch seconds leave the int32 range in 2038, these in 2088.
 */
const DEATH_EPOCH_S = 1_577_836_800

export class Entry {
  writer: string
  /** Lifetime of the value in ms, counted from the write's physical time. */
  ttl: number
  /**
   * One field for the two phases of an entry, so metadata stays small:
   * while it has a value, the deadline under which the expiry queue holds
   * the key, in ms after the write's physical time (NOT_QUEUED when not
   * queued); while it has none, the time in seconds (rounded up) when it lost
   * it, for the GC queue (see DEATH_EPOCH_S). Both are stored as int32s (see
   * `small`): an epoch-ms deadline, or epoch seconds from Math.ceil, cost a
   * 16-byte HeapNumber per entry (measured: 16 bytes a tombstone).
   */
  #since = 0
  /**
   * The writer's counter when the vector is `{writer: counter}` (a small
   * integer in the slot), else the whole vector (several origins, or a
   * placeholder's empty vector). One slot for both: 8 bytes less per key.
   */
  #vv: number | VersionVector = 0
  /** The timestamp's high part (see LOW_BITS). */
  #stamp = 0
  /** The timestamp's low 24 bits, the kind and has-value: one small integer. */
  #low = 0

  constructor (kind: RecordKindValue, hlc: number, writer: string, vv: VersionVector, ttl: number) {
    this.kind = kind
    this.hlc = hlc
    this.writer = writer
    this.ttl = ttl
    this.vv = vv
  }

  static fromRecord (r: WireRecord, ttl: number): Entry {
    return new Entry(r.kind, r.hlc, r.writer, r.vv, ttl)
  }

  /** The write's hybrid logical clock timestamp (lib/core/clock.ts). */
  get hlc (): number {
    return this.#stamp * LOW_RANGE + (this.#low & LOW_MASK)
  }

  set hlc (hlc: number) {
    const stamp = Math.floor(hlc / LOW_RANGE)
    this.#stamp = small(stamp)
    this.#low = (this.#low & ~LOW_MASK) | (hlc - stamp * LOW_RANGE)
  }

  get kind (): RecordKindValue {
    return ((this.#low & KIND_BITS) >>> LOW_BITS) as RecordKindValue
  }

  set kind (kind: RecordKindValue) {
    this.#low = (this.#low & ~KIND_BITS) | (kind << LOW_BITS)
  }

  /** Whether the LRU holds a value for this state. */
  get hasValue (): boolean {
    return (this.#low & HAS_VALUE) !== 0
  }

  set hasValue (has: boolean) {
    this.#low = has ? this.#low | HAS_VALUE : this.#low & ~HAS_VALUE
  }

  /** Whether the store's GC queue (dead-queue.ts) holds this entry's key under `deadSince`. */
  get deadQueued (): boolean {
    return (this.#low & DEAD_QUEUED) !== 0
  }

  set deadQueued (queued: boolean) {
    this.#low = queued ? this.#low | DEAD_QUEUED : this.#low & ~DEAD_QUEUED
  }

  /** Epoch seconds when the entry lost its value (meaningful while it has none). */
  get deadSince (): number {
    const since = this.#since
    return since === 0 ? 0 : since + DEATH_EPOCH_S
  }

  set deadSince (seconds: number) {
    // 0 (not in the GC queue) stays 0. A death at 2020-01-01T00:00:00Z would read back as 0 too,
    // which only makes markDead look the key up in the queue instead of trusting the entry.
    this.#since = seconds === 0 ? 0 : small(seconds - DEATH_EPOCH_S)
  }

  /** The deadline (epoch ms) of the key's live item in the expiry queue, 0 for none (meaningful while it has a value). */
  get queuedAt (): number {
    const offset = this.#since
    return offset === NOT_QUEUED ? 0 : physicalMs(this.hlc) + offset
  }

  set queuedAt (ms: number) {
    this.#since = ms === 0 ? NOT_QUEUED : small(ms - physicalMs(this.hlc))
  }

  /** When a value written by this state expires: its write's physical time plus its ttl, on every replica alike. */
  get expiresAt (): number {
    return physicalMs(this.hlc) + this.ttl
  }

  /** The version vector (a fresh array for the inline case). */
  get vv (): VersionVector {
    const vv = this.#vv
    return typeof vv === 'number' ? [this.writer, vv] : vv
  }

  /** Sets the vector; `writer` must already be this state's writer. */
  set vv (vv: VersionVector) {
    this.#vv = vv.length === 2 && vv[0] === this.writer ? vv[1] as number : vv
  }

  /** Takes over a record's state in place, so the entry keeps its slots in the store's maps. */
  assign (r: WireRecord, ttl: number): void {
    // The expiry queue's deadline is kept relative to the write: it must not move with it.
    const queued = this.hasValue ? this.queuedAt : 0
    this.kind = r.kind
    this.hlc = r.hlc
    this.writer = r.writer
    this.ttl = ttl
    this.vv = r.vv
    if (queued !== 0) this.queuedAt = queued
  }

  /** A loaded value's stand-in: an empty vector that every record dominates, never sent. */
  get isPlaceholder (): boolean {
    const vv = this.#vv
    return typeof vv !== 'number' && vv.length === 0
  }

  /** Origins in the vector. */
  get vectorSize (): number {
    const vv = this.#vv
    return typeof vv === 'number' ? 1 : vv.length / 2
  }

  /** The order of `vv` relative to this entry's vector (as `compareVectors(vv, this.vv)`), without allocating. */
  compare (vv: VersionVector): OrderValue {
    const counter = this.#vv
    if (typeof counter !== 'number') return compareVectors(vv, counter)
    let theirs = 0
    let other = false // counters are ≥ 1, so any other origin puts vv ahead
    for (let i = 0; i < vv.length; i += 2) {
      if (vv[i] === this.writer) theirs = vv[i + 1] as number
      else other = true
    }
    const ahead = other || theirs > counter
    const behind = theirs < counter
    return ahead ? (behind ? Order.CONCURRENT : Order.AFTER) : (behind ? Order.BEFORE : Order.EQUAL)
  }

  /** This state's vector with `origin` raised to `counter`: the vector of a local write over it. */
  vectorWith (origin: string, counter: number): VersionVector {
    const own = this.#vv
    if (typeof own === 'number' && this.writer === origin) return [origin, Math.max(counter, own)]
    return vectorWith(this.vv, origin, counter)
  }

  /**
   * Drops the vector entries of forgotten origins up to their forgotten
   * counter (SPEC §7), except the writer's own; returns whether any went. Only a
   * vector of several origins can hold another origin's entry.
   */
  forget (forgotten: ReadonlyMap<string, number>): boolean {
    const vector = this.#vv
    if (typeof vector === 'number' || vector.length === 0) return false
    const kept = vectorWithout(vector, forgotten, this.writer)
    if (kept === vector) return false
    this.vv = kept
    return true
  }

  /** True when some vector entry is above what `sv` has seen. */
  exceeds (sv: ReadonlyMap<string, number>): boolean {
    const vv = this.#vv
    if (typeof vv !== 'number') return vectorExceeds(vv, sv)
    return vv > (sv.get(this.writer) ?? 0)
  }
}
