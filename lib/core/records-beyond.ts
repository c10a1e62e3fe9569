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

/** Every key's state some entry of which is beyond `requested`, with the value its write stored (replicate mode). */
export function recordsBeyond<V extends {}> (source: AnswerSource<V>, requested: StateVector): WireRecord[] {
  const out: WireRecord[] = []
  const { store, tracker, options } = source
  // Entries of origins retired here count as seen by a requester that no
  // longer tracks them either (SequenceTracker.retired); one that still
  // does gets what it lacks.
  let sv = requested
  const retired = tracker.retired
  if (retired.size !== 0) {
    sv = new Map(requested)
    for (const [origin, last] of retired) if (!sv.has(origin)) sv.set(origin, last)
  }
  let live: ReadonlySet<string> | undefined
  // Only records the requester would refuse anyway (older than the horizon,
  // §4 rule 1) may be held back for naming unknown origins: in a partial
  // mesh a live origin some hops away may be a member nobody here has
  // heard of yet, and its recent writes must pass (SPEC §11).
  const oldBefore = options.now() - options.horizon
  const table = store.table
  // By slot, and a key's string is built only for a record sent: this walks every key
  // (250,000 under bench:mesh's 20,000 writes/s), and what it allocates per key goes to the young-generation GC.
  const memo = new SeenMemo()
  store.meta.forEachSlot((e) => {
    // A state whose vector a merge folded is sent even when its entries look seen: the folded
    // entry may have been the requester's only news of it (entry.ts `folded`, SPEC §4).
    if (!table.exceeds(e, sv, memo) && !(table.folded(e) && physicalMs(table.hlc(e)) >= oldBefore)) return
    const vv = table.vv(e) // built once: an inline vector is a new array each time
    const hlc = table.hlc(e)
    if (physicalMs(hlc) < oldBefore && onlyUnknownAhead(source, vv, sv, live ??= source.members())) return
    const kind = table.kind(e)
    const key = store.meta.keyOf(e)
    const record: WireRecord = { key, kind, hlc, writer: table.writer(e), vv }
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
    out.push(record)
  })
  return out
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
