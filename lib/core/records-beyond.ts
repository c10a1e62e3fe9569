/**
 * The core of an anti-entropy answer (SPEC §6): every key's state some
 * entry of which is beyond the requester's state vector, with the value its
 * write stored. Read-only: it walks the store and builds records, and
 * changes nothing (lib/sync/anti-entropy.ts splits them into frames).
 */
import { RecordKind } from '../../protocol/constants.ts'
import type { WireRecord } from '../../protocol/record.ts'
import type { StateVector } from '../../protocol/sync.ts'
import type { ResolvedOptions } from '../options.ts'
import { encodeValue, type ValueCodec } from '../value-codec.ts'
import { physicalMs } from './clock.ts'
import { SeenMemo } from './entry.ts'
import type { SequenceTracker } from './sequence-tracker.ts'
import type { Store } from './store.ts'
import type { VersionVector } from './version-vector.ts'

/** What an answer reads: the replica's parts, fixed at its construction. */
export interface AnswerSource<V extends {}> {
  /** This instance's origin. */
  readonly origin: string
  readonly store: Store<V>
  readonly tracker: SequenceTracker
  /** Replicate mode: a record carries the value its write stored. */
  readonly replicate: boolean
  readonly codec: ValueCodec<V>
  readonly options: Pick<ResolvedOptions<V>, 'now' | 'horizon' | 'logger'>
  /** Origins of the live members of the namespace, this instance's not included. */
  members (): ReadonlySet<string>
}

/**
 * Every key's state some entry of which is beyond `requested`, with the value
 * its write stored (replicate mode), built a chunk of slots at a time: `done` gets the records
 * once every slot was looked at, synchronously when the store holds at most
 * `chunk` slots, else over event-loop turns (`setImmediate`). A walk over
 * 250,000 keys is one synchronous run of ~20 ms, and under bench:mesh's
 * 20,000 writes/s every periodic round's answers were such runs: every
 * frame behind them waited (the receivers' largest busy stalls after GC).
 * What changes between chunks is harmless: each record is the key's state
 * when its slot is looked at, at or after the answer began, and the state
 * vector the answer reports is read before the walk (anti-entropy.ts), so
 * it claims nothing a record sent was not written under. A store closed
 * meanwhile ends the walk without an answer (the requester's session times
 * out, as for a lost frame).
 */
export function recordsBeyondInChunks<V extends {}> (source: AnswerSource<V>, requested: StateVector, chunk: number, done: (records: WireRecord[]) => void): void {
  const sv = seenBy(source, requested)
  // The common answer, to a requester that has seen every number any vector
  // here holds, is empty: known without a walk (EntryTable.nothingBeyond).
  // The walk costs 1.8-3.1 ms of CPU per 250,000 keys (bench/core/answer-walk.ts), in every round with every
  // neighbour, and it grows with the store.
  if (source.store.table.nothingBeyond(sv)) {
    done([])
    return
  }
  const walk = new BeyondWalk(source, sv)
  const run = (): void => {
    if (source.store.closed) return
    walk.step(chunk)
    if (walk.done) done(walk.out)
    else setImmediate(run)
  }
  if (source.store.meta.slots <= chunk) {
    walk.step(Infinity)
    done(walk.out)
  } else {
    run()
  }
}

/**
 * What the requester has seen, as the walk reads it: entries of origins
 * retired here count as seen by a requester that no longer tracks them
 * either (SequenceTracker.retired); one that still does gets what it lacks.
 */
function seenBy<V extends {}> (source: AnswerSource<V>, requested: StateVector): StateVector {
  const retired = source.tracker.retired
  if (retired.size === 0) return requested
  const sv = new Map(requested)
  for (const [origin, last] of retired) if (!sv.has(origin)) sv.set(origin, last)
  return sv
}

/** A walk over the store's slots, in slot order, collecting what `requested` lacks into `out`. */
class BeyondWalk<V extends {}> {
  readonly out: WireRecord[] = []
  readonly #source: AnswerSource<V>
  readonly #sv: StateVector
  readonly #oldBefore: number
  readonly #memo = new SeenMemo()
  #live: ReadonlySet<string> | undefined
  #next = 0

  /** `sv`: what the requester has seen (`seenBy`). */
  constructor (source: AnswerSource<V>, sv: StateVector) {
    this.#source = source
    this.#sv = sv
    // Only records the requester would refuse anyway (older than the horizon,
    // §4 rule 1) may be held back for naming unknown origins: in a partial
    // mesh a live origin some hops away may be a member nobody here has
    // heard of yet, and its recent writes must pass (SPEC §11).
    this.#oldBefore = source.options.now() - source.options.horizon
  }

  get done (): boolean {
    return this.#next >= this.#source.store.meta.slots
  }

  /** Looks at the next `slots` slots. By slot: a key's string is built only for a record sent. */
  step (slots: number): void {
    const meta = this.#source.store.meta
    const end = Math.min(meta.slots, this.#next + slots)
    meta.forEachSlot(this.#visit, this.#next, end)
    this.#next = end
  }

  readonly #visit = (e: number): void => {
    const source = this.#source
    const { store, options } = source
    const table = store.table
    const sv = this.#sv
    const oldBefore = this.#oldBefore
    // A state whose vector a merge folded is sent even when its entries look seen: the folded
    // entry may have been the requester's only news of it (entry.ts `folded`, SPEC §4).
    if (!table.exceeds(e, sv, this.#memo) && !(table.folded(e) && physicalMs(table.hlc(e)) >= oldBefore)) return
    const vv = table.vv(e) // built once: an inline vector is a new array each time
    const hlc = table.hlc(e)
    if (physicalMs(hlc) < oldBefore && onlyUnknownAhead(source, vv, sv, this.#live ??= source.members())) return
    const kind = table.kind(e)
    const key = store.meta.keyOf(e)
    const record: WireRecord = { key, kind, hlc, writer: table.writer(e), vv }
    if (table.folded(e)) record.folded = true // its receiver must not take it for a duplicate of what it holds (SPEC §4)
    // Only the value this write stored travels with it: a loaded or
    // local-only value in its place is this instance's own, and the
    // record goes without a value (a miss at the receiver, always correct).
    const value = source.replicate && kind === RecordKind.SET ? store.writtenValue(key, e) : undefined
    if (value !== undefined) {
      try {
        record.value = encodeValue(source.codec, key, value)
        record.ttl = table.ttl(e)
      } catch (error) {
        // The value was changed in place since its set(): send the state
        // without it rather than fail the whole answer.
        options.logger.debug({ key }, `sent without its value: ${(error as Error).message}`)
      }
    }
    this.out.push(record)
  }
}

/**
 * Whether every entry of `vv` ahead of `sv` names an origin that neither
 * side tracks nor this side retired, and that is not a live member: one
 * retired everywhere before this instance joined (it holds its entries
 * only through others' repairs). Such entries count as seen, as retired
 * ones do (SPEC §7); otherwise an instance that joined late would re-send
 * every key naming a departed incarnation in every answer.
 */
function onlyUnknownAhead<V extends {}> (source: AnswerSource<V>, vv: VersionVector, sv: StateVector, live: ReadonlySet<string>): boolean {
  for (let i = 0; i < vv.length; i += 2) {
    const origin = vv[i] as string
    if ((vv[i + 1] as number) <= (sv.get(origin) ?? 0)) continue
    if (sv.has(origin) || source.tracker.tracks(origin) || live.has(origin) || origin === source.origin) return false
  }
  return true
}
