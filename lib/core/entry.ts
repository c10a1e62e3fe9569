/**
 * The replicated state of every key of a store: what the CRDT merges. The
 * values themselves live in the LRU (so a read is one LRU lookup); this is
 * the metadata.
 *
 * One slot per key, its fields in parallel typed-array columns, found
 * through the store's key index (key-index.ts). Not an object per key: under
 * a stream of new keys (every write a new key, as bench:mesh at 20,000
 * writes/s) each key's object was copied by every young-generation GC that
 * found it alive, twice (within the young generation, then to the old one),
 * and those scavenges were the latency tail (lib/net/libp2p/DESIGN.md).
 * Typed arrays hold doubles unboxed, so timestamps, TTLs and deadlines are
 * stored exactly as numbers, and the columns grow in place (columns.ts).
 *
 * No column holds pointers: the writer is a small id (writer-ids.ts), and
 * most keys are written by one origin, so their vector is `{writer: n}`
 * and the counter column holds n (0 for a loaded value's placeholder, whose
 * vector is empty). Only a vector with several origins is an array, in a Map
 * beside the columns. Two
 * plain arrays of one pointer per key, as before, grew by copying and were
 * the largest item in a receiver's stalls after the columns' own doubling.
 */
import type { RecordKindValue } from '../../protocol/constants.ts'
import type { WireRecord } from '../../protocol/record.ts'
import { physicalMs } from './clock.ts'
import { column, grownTo } from './columns.ts'
import { SlotState } from './slot-state.ts'
import { compareVectors, Order, vectorExceeds, vectorWith, vectorWithout, type OrderValue, type VersionVector } from './version-vector.ts'
import { HighestCounters } from './highest-counters.ts'
import { TtlColumn } from './ttl-column.ts'
import { WriterIds } from './writer-ids.ts'

/** A key's place in an EntryTable: valid until the store forgets the key (then reused). */
export type Slot = number

/**
 * Flags: the record kind in the low bits, whether the held value was loaded (not written by this state), whether
 * the LRU holds the value, whether the store's GC queue holds the key, whether a merge folded its vector, whether
 * the vector is in `#vectors`.
 */
const KIND_MASK = 0x07
const LOADED = 0x08
const HAS_VALUE = 0x10
const DEAD_QUEUED = 0x20
const FOLDED = 0x40
const MULTI = 0x80

const INITIAL_SLOTS = 1024

export class EntryTable {
  /** The write's hybrid logical clock timestamp (lib/core/clock.ts). */
  #hlc = column(Float64Array, INITIAL_SLOTS)
  /** Lifetime of the value in ms, counted from the write's physical time (32 bits: ttl-column.ts). */
  readonly #ttl = new TtlColumn(INITIAL_SLOTS)
  /**
   * One column for the two phases of a key, so metadata stays small: while
   * it has a value, the deadline (epoch ms) under which the expiry queue
   * holds the key (0: not queued); while it has none, the epoch seconds when
   * it lost it, for the GC queue (0: not queued).
   */
  #since = column(Float64Array, INITIAL_SLOTS)
  #flags = column(Uint8Array, INITIAL_SLOTS)
  /** The writer, as its id in `#writers`. */
  #writer = column(Int32Array, INITIAL_SLOTS)
  readonly #writers = new WriterIds()
  /**
   * The writer's counter when the vector is `{writer: counter}` (flag MULTI clear); 0 there is the empty vector
   * of a loaded value's placeholder (real counters start at 1), so a placeholder costs no entry in `#vectors`.
   */
  #counter = column(Float64Array, INITIAL_SLOTS)
  /** The vectors of the other slots (flag MULTI set): several origins, or one other than the writer's. */
  readonly #vectors = new Map<Slot, VersionVector>()
  /** What an answer may owe at most, by origin (highest-counters.ts). */
  readonly #highest = new HighestCounters()
  /** Slots with the FOLDED flag: while any is, an answer may owe one regardless of vectors. */
  #foldedSlots = 0
  /** One past the highest slot ever used. */
  #used = 0
  /** Slots of forgotten keys, reused first. */
  readonly #free: Slot[] = []
  /** The one view `at` hands out (see SlotState). */
  readonly #view = new SlotState(this, -1)

  /** Slots in use. */
  get size (): number {
    return this.#used - this.#free.length
  }

  /** Writers the table holds ids for: those of the slots in use (writer-ids.ts). */
  get writers (): number {
    return this.#writers.size
  }

  /** Slots whose TTL does not fit the column (for the memory estimate). */
  get wideTtls (): number {
    return this.#ttl.wide
  }

  /** Slots allocated, in use or free: what the columns hold (for the memory estimate). */
  get capacity (): number {
    return this.#hlc.length
  }

  /** A slot holding a new state, without a value and not in any queue. */
  add (kind: RecordKindValue, hlc: number, writer: string, vv: VersionVector, ttl: number): Slot {
    let slot = this.#free.pop()
    if (slot === undefined) {
      slot = this.#used++
      if (slot === this.#hlc.length) this.#grow()
    }
    this.#flags[slot] = kind
    this.#since[slot] = 0
    this.#writer[slot] = this.#writers.hold(writer)
    this.#setState(slot, hlc, vv, ttl)
    return slot
  }

  /** Gives `slot` back: its writer and vector are let go, and the next `add` may reuse it. */
  free (slot: Slot): void {
    const flags = this.#flags[slot] as number
    if ((flags & MULTI) !== 0) this.#vectors.delete(slot)
    if ((flags & FOLDED) !== 0) this.#foldedSlots--
    this.#ttl.free(slot)
    this.#writers.release(this.#writer[slot] as number)
    this.#flags[slot] = 0
    this.#free.push(slot)
  }

  /**
   * A local write's new state over `slot`, as a fresh state would be: no
   * value yet (the store revives it when it stores one), except that a key
   * in the GC queue stays there under its death time (Store.writeState).
   */
  rewrite (slot: Slot, kind: RecordKindValue, hlc: number, writer: string, vv: VersionVector, ttl: number): void {
    const flags = this.#flags[slot] as number
    if ((flags & FOLDED) !== 0) this.#foldedSlots--
    const kept = flags & (DEAD_QUEUED | MULTI)
    this.#flags[slot] = kind | kept
    if ((kept & DEAD_QUEUED) === 0) this.#since[slot] = 0
    this.#write(slot, hlc, writer, vv, ttl)
  }

  /** Takes over a record's state in place (kind, hlc, writer, ttl, vector); the value and queue flags stay. */
  assign (slot: Slot, r: WireRecord, ttl: number): void {
    this.#flags[slot] = ((this.#flags[slot] as number) & ~KIND_MASK) | r.kind
    this.#write(slot, r.hlc, r.writer, r.vv, ttl)
  }

  #write (slot: Slot, hlc: number, writer: string, vv: VersionVector, ttl: number): void {
    const old = this.#writer[slot] as number
    // Held before the old one is let go, so that a writer overwriting its own key keeps its id.
    this.#writer[slot] = this.#writers.hold(writer)
    this.#writers.release(old)
    this.#setState(slot, hlc, vv, ttl)
  }

  #setState (slot: Slot, hlc: number, vv: VersionVector, ttl: number): void {
    this.#hlc[slot] = hlc
    this.#ttl.set(slot, ttl)
    this.setVv(slot, vv)
  }

  /** Room for twice the slots: copied while small, in place once on a shared reservation (columns.ts). */
  #grow (): void {
    const n = this.#hlc.length * 2
    this.#hlc = grownTo(this.#hlc, n)
    this.#ttl.grow(n)
    this.#since = grownTo(this.#since, n)
    this.#flags = grownTo(this.#flags, n)
    this.#writer = grownTo(this.#writer, n)
    this.#counter = grownTo(this.#counter, n)
  }

  hlc (slot: Slot): number {
    return this.#hlc[slot] as number
  }

  kind (slot: Slot): RecordKindValue {
    return ((this.#flags[slot] as number) & KIND_MASK) as RecordKindValue
  }

  writer (slot: Slot): string {
    return this.#writers.name(this.#writer[slot] as number)
  }

  ttl (slot: Slot): number {
    return this.#ttl.get(slot)
  }

  /** Whether the LRU holds a value for this state. */
  hasValue (slot: Slot): boolean {
    return ((this.#flags[slot] as number) & HAS_VALUE) !== 0
  }

  /** Losing the value loses its being loaded too. */
  setHasValue (slot: Slot, has: boolean): void {
    const f = this.#flags[slot] as number
    this.#flags[slot] = has ? f | HAS_VALUE : f & ~(HAS_VALUE | LOADED)
  }

  /**
   * Whether the value held is a loaded one hanging on this state (Store.setLoaded), not one its write stored:
   * it expires at its own deadline, which is `queuedAt` itself, and an answer never sends it.
   */
  loaded (slot: Slot): boolean {
    return ((this.#flags[slot] as number) & LOADED) !== 0
  }

  setLoaded (slot: Slot, loaded: boolean): void {
    const f = this.#flags[slot] as number
    this.#flags[slot] = loaded ? f | LOADED : f & ~LOADED
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
   * (records-beyond.ts), flagged FLAG_FOLDED so that a receiver holding a
   * value does not take it for a duplicate. Cleared by a local write, whose
   * own entry travels, or by an unfolded record that dominates the state.
   */
  folded (slot: Slot): boolean {
    return ((this.#flags[slot] as number) & FOLDED) !== 0
  }

  setFolded (slot: Slot): void {
    const flags = this.#flags[slot] as number
    if ((flags & FOLDED) !== 0) return
    this.#foldedSlots++
    this.#flags[slot] = flags | FOLDED
  }

  /** Keys whose state is marked folded now (`stats().foldedKeys`). */
  get foldedCount (): number {
    return this.#foldedSlots
  }

  clearFolded (slot: Slot): void {
    const flags = this.#flags[slot] as number
    if ((flags & FOLDED) === 0) return
    this.#foldedSlots--
    this.#flags[slot] = flags & ~FOLDED
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
    return physicalMs(this.#hlc[slot] as number) + this.ttl(slot)
  }

  /** The version vector (a fresh array for the one-origin case). */
  vv (slot: Slot): VersionVector {
    if (((this.#flags[slot] as number) & MULTI) !== 0) return this.#vectors.get(slot) as VersionVector
    const counter = this.#counter[slot] as number
    return counter === 0 ? [] : [this.writer(slot), counter]
  }

  /** Sets the vector; the slot's writer must already be set. */
  setVv (slot: Slot, vv: VersionVector): void {
    const flags = this.#flags[slot] as number
    for (let i = 0; i < vv.length; i += 2) this.#highest.raise(vv[i] as string, vv[i + 1] as number)
    if (vv.length === 0 || (vv.length === 2 && vv[0] === this.writer(slot))) {
      this.#counter[slot] = vv.length === 0 ? 0 : vv[1] as number
      if ((flags & MULTI) === 0) return
      this.#vectors.delete(slot)
      this.#flags[slot] = flags & ~MULTI
    } else {
      this.#vectors.set(slot, vv)
      this.#flags[slot] = flags | MULTI
    }
  }

  /**
   * Recounts the highest counters from the slots `forEachSlot` visits (every
   * slot in use), in one synchronous pass: origins no vector names any more
   * (forgotten, SPEC §7, or their keys collected) leave, and answers to
   * requesters that never knew them can skip their walk again.
   */
  recountHighest (forEachSlot: (visit: (slot: Slot) => void) => void): void {
    const highest = this.#highest
    highest.clear()
    forEachSlot((slot) => {
      if (((this.#flags[slot] as number) & MULTI) === 0) {
        const counter = this.#counter[slot] as number
        if (counter !== 0) highest.raise(this.writer(slot), counter)
        return
      }
      const vv = this.#vectors.get(slot) as VersionVector
      for (let i = 0; i < vv.length; i += 2) highest.raise(vv[i] as string, vv[i + 1] as number)
    })
  }

  /** A loaded value's stand-in: an empty vector that every record dominates, never sent. */
  isPlaceholder (slot: Slot): boolean {
    return ((this.#flags[slot] as number) & MULTI) === 0 && this.#counter[slot] === 0
  }

  /** Origins in the vector. */
  vectorSize (slot: Slot): number {
    if (((this.#flags[slot] as number) & MULTI) === 0) return this.#counter[slot] === 0 ? 0 : 1
    return (this.#vectors.get(slot) as VersionVector).length / 2
  }

  /** The order of `vv` relative to the slot's vector (as `compareVectors(vv, this.vv(slot))`), without allocating. */
  compare (slot: Slot, vv: VersionVector): OrderValue {
    if (((this.#flags[slot] as number) & MULTI) !== 0) return compareVectors(vv, this.#vectors.get(slot) as VersionVector)
    const counter = this.#counter[slot] as number
    const writer = this.writer(slot)
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
    if (((this.#flags[slot] as number) & MULTI) === 0 && this.writer(slot) === origin) return [origin, Math.max(counter, this.#counter[slot] as number)]
    return vectorWith(this.vv(slot), origin, counter)
  }

  /**
   * Drops the vector entries of forgotten origins up to their forgotten
   * counter (SPEC §7), except the writer's own; returns whether any went. Only a
   * vector of several origins can hold another origin's entry.
   */
  forget (slot: Slot, forgotten: ReadonlyMap<string, number>): boolean {
    if (((this.#flags[slot] as number) & MULTI) === 0) return false
    const vector = this.#vectors.get(slot) as VersionVector
    if (vector.length === 0) return false
    const kept = vectorWithout(vector, forgotten, this.writer(slot))
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
    if (((this.#flags[slot] as number) & MULTI) !== 0) return vectorExceeds(this.#vectors.get(slot) as VersionVector, sv)
    const counter = this.#counter[slot] as number
    if (memo === undefined) return counter > (sv.get(this.writer(slot)) ?? 0)
    // By name, not id: a memo may outlive a chunk of a walk, and an id be given to another writer in between.
    const writer = this.writer(slot)
    if (writer !== memo.writer) {
      memo.writer = writer
      memo.seen = sv.get(writer) ?? 0
    }
    return counter > memo.seen
  }

  /**
   * True when no slot's vector has an entry above `sv` and no slot is
   * folded: then `exceeds` is false for every slot, and an anti-entropy
   * answer to `sv` holds nothing (records-beyond.ts). O(origins), not
   * O(slots). False says only that a walk is needed.
   */
  nothingBeyond (sv: ReadonlyMap<string, number>): boolean {
    return this.#foldedSlots === 0 && this.#highest.within(sv)
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

/** The last writer `EntryTable.exceeds` looked up in a walk's `sv`, and what `sv` says of it. */
export class SeenMemo {
  writer: string | undefined = undefined
  seen = 0
}
