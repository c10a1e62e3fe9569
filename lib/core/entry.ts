/**
 * The replicated state of every key of a store: what the CRDT merges. The
 * values themselves live in the LRU (so a read is one LRU lookup); this is
 * the metadata.
 *
 * One slot per key, its fields in parallel columns (typed arrays, and two
 * plain arrays for strings and vectors), found through the store's
 * `Map<key, slot>`. Not an object per key: under a stream of new keys (every
 * write a new key, as bench:mesh at 20,000 writes/s) each key's object was
 * copied by every young-generation GC that found it alive, twice (within the
 * young generation, then to the old one), and those scavenges were the
 * latency tail (lib/net/libp2p/DESIGN.md). A slot leaves nothing on the
 * young heap but the key string, and no boxing concerns: typed arrays hold
 * doubles unboxed, so timestamps, TTLs and deadlines are stored exactly as
 * numbers.
 *
 * Most keys are written by one origin, so their vector is `{writer: n}`: the
 * vector column then holds the counter itself (a small integer in the array
 * slot), and an array only for vectors with several origins.
 */
import type { RecordKindValue } from '../../protocol/constants.ts'
import type { WireRecord } from '../../protocol/record.ts'
import { physicalMs } from './clock.ts'
import type { MergedState, MergeState } from './merge.ts'
import { compareVectors, Order, vectorExceeds, vectorWith, vectorWithout, type OrderValue, type VersionVector } from './version-vector.ts'

/** A key's place in an EntryTable: valid until the store forgets the key (then reused). */
export type Slot = number

/** Flags: the record kind in the low bits, whether the LRU holds the value, whether the store's GC queue holds the key, whether a merge folded its vector. */
const KIND_MASK = 0x0f
const HAS_VALUE = 0x10
const DEAD_QUEUED = 0x20
const FOLDED = 0x40

const INITIAL_SLOTS = 1024

export class EntryTable {
  /** The write's hybrid logical clock timestamp (lib/core/clock.ts). */
  #hlc = new Float64Array(INITIAL_SLOTS)
  /** Lifetime of the value in ms, counted from the write's physical time. */
  #ttl = new Float64Array(INITIAL_SLOTS)
  /**
   * One column for the two phases of a key, so metadata stays small: while
   * it has a value, the deadline (epoch ms) under which the expiry queue
   * holds the key (0: not queued); while it has none, the epoch seconds when
   * it lost it, for the GC queue (0: not queued).
   */
  #since = new Float64Array(INITIAL_SLOTS)
  #flags = new Uint8Array(INITIAL_SLOTS)
  /**
   * Grown by `push` only, never preallocated: `new Array(n)` past ~100k
   * elements makes a dictionary-mode array, slow and several times larger.
   */
  readonly #writer: string[] = []
  /** The writer's counter when the vector is `{writer: counter}`, else the whole vector. */
  readonly #vv: Array<number | VersionVector> = []
  /** Slots of forgotten keys, reused first. */
  readonly #free: Slot[] = []
  /** The one view `at` hands out (see SlotState). */
  readonly #view = new SlotState(this, -1)

  /** Slots in use. */
  get size (): number {
    return this.#writer.length - this.#free.length
  }

  /** Slots allocated, in use or free: what the columns hold (for the memory estimate). */
  get capacity (): number {
    return this.#hlc.length
  }

  /** A slot holding a new state, without a value and not in any queue. */
  add (kind: RecordKindValue, hlc: number, writer: string, vv: VersionVector, ttl: number): Slot {
    let slot = this.#free.pop()
    if (slot === undefined) {
      slot = this.#writer.length
      if (slot === this.#hlc.length) this.#grow()
      this.#writer.push(writer)
      this.#vv.push(0)
    }
    this.#flags[slot] = kind
    this.#since[slot] = 0
    this.#write(slot, hlc, writer, vv, ttl)
    return slot
  }

  /** Gives `slot` back: its strings and vector are let go, and the next `add` may reuse it. */
  free (slot: Slot): void {
    this.#writer[slot] = ''
    this.#vv[slot] = 0
    this.#flags[slot] = 0
    this.#free.push(slot)
  }

  /**
   * A local write's new state over `slot`, as a fresh state would be: no
   * value yet (the store revives it when it stores one), except that a key
   * in the GC queue stays there under its death time (Store.writeState).
   */
  rewrite (slot: Slot, kind: RecordKindValue, hlc: number, writer: string, vv: VersionVector, ttl: number): void {
    const queued = (this.#flags[slot] as number) & DEAD_QUEUED
    this.#flags[slot] = kind | queued
    if (queued === 0) this.#since[slot] = 0
    this.#write(slot, hlc, writer, vv, ttl)
  }

  /** Takes over a record's state in place (kind, hlc, writer, ttl, vector); the value and queue flags stay. */
  assign (slot: Slot, r: WireRecord, ttl: number): void {
    this.#flags[slot] = ((this.#flags[slot] as number) & ~KIND_MASK) | r.kind
    this.#write(slot, r.hlc, r.writer, r.vv, ttl)
  }

  #write (slot: Slot, hlc: number, writer: string, vv: VersionVector, ttl: number): void {
    this.#hlc[slot] = hlc
    this.#ttl[slot] = ttl
    this.#writer[slot] = writer
    this.setVv(slot, vv)
  }

  #grow (): void {
    const n = this.#hlc.length * 2
    this.#hlc = grown(this.#hlc, new Float64Array(n))
    this.#ttl = grown(this.#ttl, new Float64Array(n))
    this.#since = grown(this.#since, new Float64Array(n))
    this.#flags = grown(this.#flags, new Uint8Array(n))
  }

  hlc (slot: Slot): number {
    return this.#hlc[slot] as number
  }

  kind (slot: Slot): RecordKindValue {
    return ((this.#flags[slot] as number) & KIND_MASK) as RecordKindValue
  }

  writer (slot: Slot): string {
    return this.#writer[slot] as string
  }

  ttl (slot: Slot): number {
    return this.#ttl[slot] as number
  }

  /** Whether the LRU holds a value for this state. */
  hasValue (slot: Slot): boolean {
    return ((this.#flags[slot] as number) & HAS_VALUE) !== 0
  }

  setHasValue (slot: Slot, has: boolean): void {
    const f = this.#flags[slot] as number
    this.#flags[slot] = has ? f | HAS_VALUE : f & ~HAS_VALUE
  }

  /** Whether the store's GC queue (dead-queue.ts) holds this key under `deadSince`. */
  deadQueued (slot: Slot): boolean {
    return ((this.#flags[slot] as number) & DEAD_QUEUED) !== 0
  }

  setDeadQueued (slot: Slot, queued: boolean): void {
    const f = this.#flags[slot] as number
    this.#flags[slot] = queued ? f | DEAD_QUEUED : f & ~DEAD_QUEUED
  }

  /**
   * Whether a merge here folded this key's vector (SPEC §4, vector bounds).
   * A folded entry may have been the only trace of a write (a conflict's
   * loser, a delete) that another instance still lacks, and its state vector
   * can cover every entry left: answers then send this state regardless
   * (records-beyond.ts). Cleared by a local write, whose own entry travels.
   */
  folded (slot: Slot): boolean {
    return ((this.#flags[slot] as number) & FOLDED) !== 0
  }

  setFolded (slot: Slot): void {
    this.#flags[slot] = (this.#flags[slot] as number) | FOLDED
  }

  /** Epoch seconds when the key lost its value (meaningful while it has none; 0: not in the GC queue). */
  deadSince (slot: Slot): number {
    return this.#since[slot] as number
  }

  setDeadSince (slot: Slot, seconds: number): void {
    this.#since[slot] = seconds
  }

  /** The deadline (epoch ms) of the key's live item in the expiry queue, 0 for none (meaningful while it has a value). */
  queuedAt (slot: Slot): number {
    return this.#since[slot] as number
  }

  setQueuedAt (slot: Slot, ms: number): void {
    this.#since[slot] = ms
  }

  /** When a value written by this state expires: its write's physical time plus its ttl, on every replica alike. */
  expiresAt (slot: Slot): number {
    return physicalMs(this.#hlc[slot] as number) + (this.#ttl[slot] as number)
  }

  /** The version vector (a fresh array for the one-origin case). */
  vv (slot: Slot): VersionVector {
    const vv = this.#vv[slot] as number | VersionVector
    return typeof vv === 'number' ? [this.#writer[slot] as string, vv] : vv
  }

  /** Sets the vector; the slot's writer must already be set. */
  setVv (slot: Slot, vv: VersionVector): void {
    this.#vv[slot] = vv.length === 2 && vv[0] === this.#writer[slot] ? vv[1] as number : vv
  }

  /** A loaded value's stand-in: an empty vector that every record dominates, never sent. */
  isPlaceholder (slot: Slot): boolean {
    const vv = this.#vv[slot] as number | VersionVector
    return typeof vv !== 'number' && vv.length === 0
  }

  /** Origins in the vector. */
  vectorSize (slot: Slot): number {
    const vv = this.#vv[slot] as number | VersionVector
    return typeof vv === 'number' ? 1 : vv.length / 2
  }

  /** The order of `vv` relative to the slot's vector (as `compareVectors(vv, this.vv(slot))`), without allocating. */
  compare (slot: Slot, vv: VersionVector): OrderValue {
    const counter = this.#vv[slot] as number | VersionVector
    if (typeof counter !== 'number') return compareVectors(vv, counter)
    const writer = this.#writer[slot] as string
    let theirs = 0
    let other = false // counters are ≥ 1, so any other origin puts vv ahead
    for (let i = 0; i < vv.length; i += 2) {
      if (vv[i] === writer) theirs = vv[i + 1] as number
      else other = true
    }
    const ahead = other || theirs > counter
    const behind = theirs < counter
    return ahead ? (behind ? Order.CONCURRENT : Order.AFTER) : (behind ? Order.BEFORE : Order.EQUAL)
  }

  /** The slot's vector with `origin` raised to `counter`: the vector of a local write over it. */
  vectorWith (slot: Slot, origin: string, counter: number): VersionVector {
    const own = this.#vv[slot] as number | VersionVector
    if (typeof own === 'number' && this.#writer[slot] === origin) return [origin, Math.max(counter, own)]
    return vectorWith(this.vv(slot), origin, counter)
  }

  /**
   * Drops the vector entries of forgotten origins up to their forgotten
   * counter (SPEC §7), except the writer's own; returns whether any went. Only a
   * vector of several origins can hold another origin's entry.
   */
  forget (slot: Slot, forgotten: ReadonlyMap<string, number>): boolean {
    const vector = this.#vv[slot] as number | VersionVector
    if (typeof vector === 'number' || vector.length === 0) return false
    const kept = vectorWithout(vector, forgotten, this.#writer[slot] as string)
    if (kept === vector) return false
    this.setVv(slot, kept)
    return true
  }

  /**
   * True when some vector entry is above what `sv` has seen. With `memo`,
   * for a walk over many slots against one `sv`: a one-origin slot's writer
   * is looked up in `sv` once per run of slots with the same writer (most
   * keys share a handful of writers), not once per slot.
   */
  exceeds (slot: Slot, sv: ReadonlyMap<string, number>, memo?: SeenMemo): boolean {
    const vv = this.#vv[slot] as number | VersionVector
    if (typeof vv !== 'number') return vectorExceeds(vv, sv)
    const writer = this.#writer[slot] as string
    if (memo === undefined) return vv > (sv.get(writer) ?? 0)
    if (writer !== memo.writer) {
      memo.writer = writer
      memo.seen = sv.get(writer) ?? 0
    }
    return vv > memo.seen
  }

  /**
   * The slot as the merge rule reads a state (merge.ts): one view per table,
   * re-pointed by each call, so it is valid only until the next `at`. For
   * the rule's pure functions, called at once; nothing may keep it.
   */
  at (slot: Slot): SlotState {
    const view = this.#view
    view.slot = slot
    return view
  }
}

function grown<T extends Float64Array | Uint8Array> (old: T, next: T): T {
  next.set(old)
  return next
}

/** The last writer `EntryTable.exceeds` looked up in a walk's `sv`, and what `sv` says of it. */
export class SeenMemo {
  writer: string | undefined = undefined
  seen = 0
}

/** A slot seen as one state (MergeState, MergedState): `EntryTable.at`, or its own for tests. */
export class SlotState implements MergeState, MergedState {
  readonly table: EntryTable
  slot: Slot

  constructor (table: EntryTable, slot: Slot) {
    this.table = table
    this.slot = slot
  }

  get hlc (): number { return this.table.hlc(this.slot) }
  get writer (): string { return this.table.writer(this.slot) }
  get kind (): RecordKindValue { return this.table.kind(this.slot) }
  get vv (): VersionVector { return this.table.vv(this.slot) }
  get expiresAt (): number { return this.table.expiresAt(this.slot) }
  compare (vv: VersionVector): OrderValue { return this.table.compare(this.slot, vv) }
}
