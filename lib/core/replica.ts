/**
 * The replicated state of one namespace on this instance: the store, the
 * sequence numbers it issued and received, and the clock. It applies
 * records (by the rule in merge.ts), makes local writes, answers "what do
 * you have beyond this state vector" and retires departed origins. It does
 * no I/O: frames, timers, membership and events belong to the wiring
 * (lib/wiring.ts), which hears of every change through `ReplicaHost`.
 */
import { RecordKind, type RecordKindValue } from '../../protocol/constants.ts'
import type { WireRecord } from '../../protocol/record.ts'
import type { StateVector } from '../../protocol/sync.ts'
import type { UpdatesMessage } from '../../protocol/updates.ts'
import { ErrorCode, MeshCacheError } from '../errors.ts'
import type { ResolvedOptions } from '../options.ts'
import { encodeValue, resolveCodec, type ValueCodec } from '../value-codec.ts'
import type { Counters } from '../observe/stats.ts'
import { LagHistogram } from '../observe/lag-histogram.ts'
import { HybridClock, physicalMs } from './clock.ts'
import { ClearHorizon, CLEAR_KEY, valuesBefore } from './clear.ts'
import { collectGarbage } from './collect.ts'
import { forgedError, forgedRecords } from './forged.ts'
import { decodeIncomingValues } from './incoming-values.ts'
import type { Slot } from './entry.ts'
import { mergedVector, mergeOutcome, Outcome, recordWins, valueFate, ValueFate } from './merge.ts'
import { recordsBeyondInChunks, type AnswerSource } from './records-beyond.ts'
import { SequenceTracker } from './sequence-tracker.ts'
import { Store, type EvictReason } from './store.ts'
import { VectorBound } from './vector-bound.ts'
import { EMPTY_VECTOR, vectorWithout, type VersionVector } from './version-vector.ts'

/** What the replica tells its owner. Every call is synchronous, in the middle of the change. */
export interface ReplicaHost {
  /** `key`'s state changed: loads of it must not be cached, its dependents go (Derived.changed, lib/loading/derived.ts). */
  changed (key: string, reason: EvictReason): void
  /** `key`'s state changed but its value stays (our write won a conflict): only loads in flight are kept out. */
  changedKeepingValue (key: string): void
  /**
   * `key`'s replicated state changed beside a local-only value, which stays
   * (SPEC §4 rule 2): as a base it still changed, so its dependents go and
   * loads based on it are kept out.
   */
  changedBeside (key: string, reason: EvictReason): void
  /** A change was applied and stored: the `change` event. */
  applied (key: string, kind: RecordKindValue, source: 'local' | 'remote' | 'repair'): void
  /** A local write, numbered `seq`, to send to peers. */
  queue (seq: number, record: WireRecord): void
  /** A value left the store (any reason). */
  evicted (key: string, reason: EvictReason): void
  /** Records of a frame refused on their own (forged), reported as a protocol error from `from`. */
  refused (from: string, error: MeshCacheError): void
  /** Origins of the live members of the namespace, this instance's not included. */
  members (): ReadonlySet<string>
  /** A namespace clear raised the horizon: every load in flight must not be cached (Derived). */
  clearing (reason: EvictReason): void
  /** A record's HLC time was `aheadMs` past our clock, beyond maxClockSkew: not followed, reported (lib/observe/clock-skew.ts). */
  clockAhead (origin: string, aheadMs: number): void
}

/** Slots an anti-entropy answer looks at per event-loop turn: ~0.5-1 ms of CPU here. */
const ANSWER_CHUNK = 8192

export class Replica<V extends {}> {
  readonly origin: string
  readonly store: Store<V>
  readonly clock: HybridClock
  readonly tracker = new SequenceTracker()
  readonly lag = new LagHistogram()
  /** Incoming origin ids become the tracker's copies: entries share one string per origin (SequenceTracker.canonical). */
  readonly canonicalOrigin = (id: string): string => this.tracker.canonical(id)
  readonly #o: ResolvedOptions<V>
  readonly #counters: Counters
  readonly #host: ReplicaHost
  readonly #codec: ValueCodec<V>
  readonly #replicate: boolean
  /** The namespace clear horizon (clear.ts, SPEC §4.1). */
  readonly clears = new ClearHorizon()
  /** The vector bound and the folded mark (SPEC §4). */
  readonly #bound: VectorBound
  /** What an anti-entropy answer reads (records-beyond.ts). */
  readonly #answerSource: AnswerSource<V>
  #seq = 0

  constructor (options: ResolvedOptions<V>, origin: string, counters: Counters, host: ReplicaHost) {
    this.#o = options
    this.origin = origin
    this.#counters = counters
    this.#host = host
    this.clock = new HybridClock(options.now, options.maxClockSkew)
    this.#replicate = options.mode === 'replicate'
    this.#codec = resolveCodec(options.codec)
    this.#bound = new VectorBound(Math.min(options.limits.maxVectorEntries, options.limits.maxOrigins), origin, () => host.members())
    this.store = new Store<V>({
      max: options.max,
      now: options.now,
      exactClock: options.injectedClock,
      onEvict: (key, reason) => host.evicted(key, reason),
    })
    this.#answerSource = { origin, store: this.store, tracker: this.tracker, replicate: this.#replicate, codec: this.#codec, options, members: () => host.members() }
  }

  /** The last sequence number this instance issued. */
  get seq (): number {
    return this.#seq
  }

  get replicate (): boolean {
    return this.#replicate
  }

  /**
   * A value's bytes for the wire; throws (before any state changes)
   * E_VALUE_CODEC when the codec refuses it, and E_VALUE_TOO_LARGE when no
   * peer with our limits would take it (SPEC §3.4).
   */
  encode (key: string, value: V): Uint8Array {
    const bytes = encodeValue(this.#codec, key, value)
    const limit = this.#o.limits.maxValueBytes
    if (bytes.byteLength > limit) {
      throw new MeshCacheError(ErrorCode.VALUE_TOO_LARGE, `value of key ${JSON.stringify(key)} is ${bytes.byteLength} bytes encoded, over maxValueBytes ${limit}: no peer would accept it`)
    }
    return bytes
  }

  // ---- local writes ----

  /**
   * Numbers a local write, records its state and queues it for peers; the
   * caller stores or drops the value, then emits. Returns the key's slot
   * (valid until the key is forgotten: use it before anything can forget it).
   * `previous`: the key's slot before the write, when the caller looked it up.
   */
  write (key: string, kind: RecordKindValue, ttl: number, value: Uint8Array | undefined, previous = this.store.meta.get(key)): Slot {
    const seq = ++this.#seq
    const hlc = this.clock.tick()
    const store = this.store
    const vv: VersionVector = previous === undefined ? [this.origin, seq] : this.#bound.fold(store.table.vectorWith(previous, this.origin, seq), this.origin)
    const slot = store.writeState(key, kind, hlc, this.origin, vv, ttl, previous)
    this.tracker.advance(this.origin, seq, physicalMs(hlc)) // the clock was just read: no second read
    this.#counters.localUpdates++
    const record: WireRecord = { key, kind, hlc, writer: this.origin, vv }
    if (value !== undefined) {
      record.ttl = ttl
      record.value = value
    }
    this.#host.queue(seq, record)
    this.#host.changed(key, 'local')
    return slot
  }

  /**
   * A local DELETE or INVALIDATE. Returns whether a value was held here. It
   * is about the data, not about where the value was held: a local-only
   * value goes too, and the write is sent like any other (SPEC §10).
   */
  remove (key: string, kind: RecordKindValue): boolean {
    const store = this.store
    const previous = store.meta.get(key)
    const slot = this.write(key, kind, this.#o.ttl, undefined, previous)
    // The LRU holds a key only under a state (written or loaded) or as a local-only value, so a key
    // that had no state and is not local holds nothing: skip the LRU (a lookup there costs ~0.2 µs).
    const held = store.bury(key, slot, 'local', previous !== undefined || store.isLocal(key))
    this.#host.applied(key, kind, 'local')
    return held
  }

  /** A local namespace clear: one replicated write of CLEAR_KEY, then the sweep (SPEC §4.1). */
  clear (): void {
    const slot = this.write(CLEAR_KEY, RecordKind.INVALIDATE, this.#o.maxTtl, undefined)
    const hlc = this.store.table.hlc(slot)
    this.store.bury(CLEAR_KEY, slot, 'local') // a tombstone like any other: collected after the horizon
    this.#sweep(hlc, 'local')
  }

  /**
   * Raises the clear horizon to `hlc` and drops every value written before
   * it, and every loaded one (no replicated write stands for it). Local-only
   * values stay: no remote message touches them (SPEC §4 rule 2).
   */
  #sweep (hlc: number, reason: EvictReason): void {
    if (!this.clears.raise(hlc)) return
    this.#host.clearing(reason)
    const dropped = valuesBefore(this.store, hlc, (key) => {
      this.#host.changed(key, reason)
      this.forgetPlaceholder(key)
      this.store.dropValue(key, reason)
    })
    // A clear drops a whole namespace's copies: an operator wants to see it in the service's log.
    this.#o.logger.info({ hlc, source: reason, dropped }, 'namespace cleared')
  }

  /**
   * Stores a loaded value without writing: no sequence number, no frame.
   * It hangs on the key's current state, so any newer record evicts it; a
   * key with no state gets a placeholder with an empty vector, which every
   * record dominates and which is never sent.
   */
  storeLoaded (key: string, value: V, lifeMs: number): void {
    const slot = this.store.meta.get(key) ?? this.store.addState(key, RecordKind.SET, 0, '', EMPTY_VECTOR, lifeMs)
    this.store.setLoaded(key, value, this.#o.now() + lifeMs, slot)
  }

  /** Drops `key`'s replicated state (a local-only write over it, or a loaded value's placeholder). */
  forgetReplicated (key: string): void {
    this.store.forget(key)
  }

  /** Drops `key`'s state if it is only a loaded value's placeholder. */
  forgetPlaceholder (key: string): void {
    const slot = this.store.meta.get(key)
    if (slot !== undefined && this.store.table.isPlaceholder(slot)) this.forgetReplicated(key)
  }

  // ---- incoming records ----

  /** Merges an UPDATES frame. Returns whether its origin now shows a gap (the caller starts a repair). */
  applyUpdates (from: string, msg: UpdatesMessage): boolean {
    const { origin, firstSeq, records } = msg
    if (origin === this.origin) {
      // Our own frame echoed back; claiming numbers we never issued is an impostor.
      if (firstSeq + records.length - 1 > this.#seq) throw new MeshCacheError(ErrorCode.FRAME_MALFORMED, `frame claims our origin ${origin} with numbers we never issued`)
      this.#counters.duplicates += records.length
      return false
    }
    const values = this.#replicate ? this.#decodeValues(records, from) : undefined // invalidate mode carries no values
    const issued = this.#seq // before any listener can write
    // decided before any record is applied: a listener may write and raise #seq
    const forged = forgedRecords(records, this.origin, issued)
    const tracker = this.tracker
    const gapBefore = tracker.hasGap(origin)
    const now = this.#o.now() // one clock read per frame
    for (let i = 0; i < records.length; i++) {
      // Merged even when the number was seen: the merge is idempotent (a true
      // duplicate is dominated and dropped there), and numbers alone must not
      // decide, or one bad frame reusing a number would hide the real write.
      const r = records[i] as WireRecord
      if (forged !== undefined && forged.has(i)) this.#dropCopy(r, 'remote')
      else if (this.#apply(r, values?.[i], 'remote', now)) this.lag.record(physicalMs(r.hlc), now)
      tracker.mark(origin, firstSeq + i, now)
    }
    if (forged !== undefined) this.#host.refused(from, forgedError(records, forged, this.origin, issued))
    if (!tracker.hasGap(origin)) return false
    if (!gapBefore) {
      this.#counters.gapsDetected++
      this.#o.logger.info({ origin, peer: from, seq: firstSeq }, 'gap in an origin\'s updates: repair started')
    }
    return true
  }

  /**
   * Merges an anti-entropy answer's records (`reason` 'repair') or a relayed
   * repair's ('remote', repair-relay.ts). Returns the records that changed
   * state here: for 'repair', what the repair relay passes on.
   */
  applyRecords (records: WireRecord[], reason: EvictReason, from: string): WireRecord[] {
    const values = this.#replicate ? this.#decodeValues(records, from) : undefined // invalidate mode carries no values
    const issued = this.#seq // before any listener can write
    // decided before any record is applied: a listener may write and raise #seq
    const forged = forgedRecords(records, this.origin, issued)
    const now = this.#o.now()
    const changed: WireRecord[] = []
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as WireRecord
      if (forged !== undefined && forged.has(i)) this.#dropCopy(r, reason)
      else if (this.#apply(r, values?.[i], reason, now)) changed.push(r)
    }
    if (reason === 'repair') {
      this.#counters.repairs += changed.length
      if (changed.length !== 0) this.#o.logger.info({ peer: from, records: changed.length }, 'anti-entropy repaired state the update path had not delivered')
    }
    if (forged !== undefined) this.#host.refused(from, forgedError(records, forged, this.origin, issued))
    return changed
  }

  /** Decodes every value of a frame first (replicate mode); one this instance cannot take is dropped and reported (incoming-values.ts). */
  #decodeValues (records: WireRecord[], from: string): Array<V | undefined> | undefined {
    const { values, error } = decodeIncomingValues(records, this.#codec, this.#o.limits)
    if (error !== undefined) this.#host.refused(from, error)
    return values
  }

  /**
   * Drops the key's copy here, its state left as it is: for a forged record
   * (skipped: the state is unknown now) and for a folded one the state covers
   * (it may stand for a write the state lacks, vector-bound.ts). The copy is
   * the value, and what the loads keep of the key (a remembered "not found",
   * a load in flight, dependents): `changed`. A miss is always correct.
   */
  #dropCopy (r: WireRecord, reason: EvictReason): void {
    if (this.store.isLocal(r.key)) return
    this.#host.changed(r.key, reason)
    this.store.dropValue(r.key, reason)
  }

  /** Carries out the merge rule's outcome (merge.ts) on the store, counters and host. Returns whether state changed. */
  #apply (r: WireRecord, value: V | undefined, reason: EvictReason, now: number): boolean {
    // A retired origin's entries are forgotten here (SPEC §7); a peer that
    // has not retired it yet still sends them, and they must not count as news.
    const forgotten = this.tracker.forgotten
    if (forgotten.size !== 0 && r.vv.length > 2 && physicalMs(r.hlc) + this.#o.horizon >= now) r.vv = vectorWithout(r.vv, forgotten, r.writer)
    const store = this.store
    const table = store.table
    let slot = store.meta.get(r.key)
    // table.at: a view for the rule's pure functions, valid until the next at().
    const outcome = mergeOutcome(slot === undefined ? undefined : table.at(slot), r, now, this.#o.horizon)
    if (outcome === Outcome.EXPIRED) {
      this.#counters.expiredDropped++
      return false
    }
    if (!this.clock.observe(r.hlc, now)) this.#host.clockAhead(r.writer, physicalMs(r.hlc) - now)
    if (outcome === Outcome.DUPLICATE) {
      this.#counters.duplicates++
      if (r.folded === true) {
        this.#bound.covered(table, slot as Slot, r)
        // Whatever this instance holds for the key: a value, a remembered "not found", a load in flight.
        if (!this.#replicate) this.#dropCopy(r, reason)
      }
      return false
    }
    const ttl = Math.min(r.ttl ?? this.#o.ttl, this.#o.maxTtl)
    const hadValue = slot !== undefined && table.hasValue(slot)
    // The same write as here, with a longer vector (a conflict it won elsewhere): its value is unchanged.
    // Only replicate mode keeps a value on it, and only a dominating record can be one.
    const sameWrite = this.#replicate && outcome === Outcome.DOMINATES && slot !== undefined && table.hlc(slot) === r.hlc && table.writer(slot) === r.writer
    if (slot === undefined) {
      slot = store.addState(r.key, r.kind, r.hlc, r.writer, r.vv, ttl)
    } else if (outcome === Outcome.DOMINATES) {
      table.assign(slot, r, ttl) // in place: the key keeps its slot and its places in the store's queues
    } else {
      this.#counters.conflicts++
      const merged = mergedVector(outcome, table.at(slot), r)
      if (outcome === Outcome.CONFLICT_WON) table.assign(slot, r, ttl)
      table.setVv(slot, merged)
    }
    this.#bound.merged(table, slot, r, outcome)
    // Read before any listener runs: one may write the key, in this slot.
    const kind = table.kind(slot)
    const hlc = table.hlc(slot)
    // The numbers other origins' entries name, for their retirement (SPEC §7).
    // Only news: a dropped duplicate names nothing the state here did not.
    if (r.vv.length > 2) for (let i = 0; i < r.vv.length; i += 2) this.tracker.noteNamed(r.vv[i] as string, r.vv[i + 1] as number, now)
    this.#counters.remoteUpdates++
    let fate = valueFate(outcome, this.#replicate, store.isLocal(r.key), table.at(slot), value !== undefined, now, sameWrite)
    // A write older than the latest clear keeps its state (its vector still orders later writes) but not its value (SPEC §4.1).
    if (fate === ValueFate.REPLACE && this.clears.covers(hlc)) fate = ValueFate.DROP
    if (fate === ValueFate.UNTOUCHED) {
      // A local-only value: the record merges into the key's replicated
      // state, kept beside the value without touching it (no event for it),
      // so this instance can answer for every number it counts. The key's
      // data changed all the same: what was derived from it goes (rule 2).
      store.markDead(slot)
      this.#host.changedBeside(r.key, reason)
      return true
    }
    if (fate === ValueFate.KEEP) {
      // Our state won a conflict (here, or elsewhere: the same write) and keeps its value: nothing derived from it
      // changed, so its dependents and its own edges stay; a load in flight
      // for the key is still kept out (the key's state did change).
      this.#host.changedKeepingValue(r.key)
    } else {
      this.#host.changed(r.key, reason)
      if (fate === ValueFate.REPLACE) store.setWritten(r.key, value as V, slot)
      else store.bury(r.key, slot, reason, hadValue)
    }
    if (r.key === CLEAR_KEY && recordWins(outcome)) this.#sweep(hlc, reason)
    // After the store reflects the record: a listener reads the new state.
    this.#host.applied(r.key, kind, reason === 'repair' ? 'repair' : 'remote')
    return true
  }

  // ---- anti-entropy: what we have, what a peer lacks ----

  stateVector (): StateVector {
    return this.tracker.stateVector()
  }

  /** Our state vector as reported to peers: origins retired here left out, `live` ones always in. */
  reportedStateVector (live: ReadonlySet<string>): StateVector {
    return this.tracker.reportedStateVector(live)
  }

  /**
   * Every key's state some entry of which is beyond `requested`, with the value its write stored, handed to
   * `done`: at once, or a chunk of slots per event-loop turn once the store is larger than that (records-beyond.ts).
   */
  recordsBeyondInChunks (requested: StateVector, done: (records: WireRecord[]) => void): void {
    recordsBeyondInChunks(this.#answerSource, requested, ANSWER_CHUNK, done)
  }

  /** A peer's answer covered `sv`: count its numbers as received, except origins it `skipped`. */
  advance (sv: StateVector, skipped: ReadonlySet<string> | undefined): void {
    const now = this.#o.now()
    // A retired origin's old numbers are ignored by the tracker, so a peer
    // that still reports one does not bring it back (SPEC §7). An origin the
    // request left out was not answered for: its frames in flight to us must
    // not be counted as received.
    for (const [origin, seq] of sv) {
      if (origin !== this.origin && skipped?.has(origin) !== true) this.tracker.advance(origin, seq, now)
    }
  }

  // ---- retirement (SPEC §7) ----

  /**
   * Drops expired values, tombstones older than the horizon, and origins gone silent that are not in `live` (collect.ts).
   * `chunk`: the tombstones looked at per event-loop turn (Store.collect); all at once by default.
   */
  collect (live: ReadonlySet<string>, chunk = Infinity): void {
    collectGarbage(this.store, this.tracker, this.#o, live, chunk)
  }
}
