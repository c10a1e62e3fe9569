/**
 * The merge rule (SPEC.md §4), in one place and with no side effects: what
 * an incoming record does to a key's replicated state. Read this file to
 * learn how versions merge; the replica (replica.ts) carries the outcome out
 * on its store, counters and events.
 *
 * The decision returns a small integer, not an object, so the apply path
 * allocates nothing for the usual record (a dominating write or a
 * duplicate); only a conflict builds a merged vector.
 */
import { RecordKind, type RecordKindValue } from '../../protocol/constants.ts'
import { physicalMs } from './clock.ts'
import { mergeVectors, Order, type OrderValue, type VersionVector } from './version-vector.ts'

/** What a record does to a key's state: the result of `mergeOutcome`. */
export const Outcome = {
  /** Older than the horizon: dropped, counted as expired (rule 1). Every copy it could affect has expired. */
  EXPIRED: 0,
  /** Equal to or dominated by the state: dropped, counted as a duplicate (rule 4). */
  DUPLICATE: 1,
  /** The key has no state here: the record becomes it (rule 3). */
  NEW: 2,
  /** The record dominates the state: it replaces it (rule 4). */
  DOMINATES: 3,
  /** Concurrent, and the record wins by (hlc, writer): its kind, hlc, writer and value, with the merged vector. */
  CONFLICT_WON: 4,
  /** Concurrent, and the state wins: it stays, with the merged vector. */
  CONFLICT_LOST: 5,
} as const
export type OutcomeValue = (typeof Outcome)[keyof typeof Outcome]

/** Whether an outcome changes the key's state (a dropped record changes nothing). */
export function changesState (outcome: OutcomeValue): boolean {
  return outcome >= Outcome.NEW
}

/** Whether, after the outcome, the record's write is the key's state (its kind, hlc, writer). */
export function recordWins (outcome: OutcomeValue): boolean {
  return outcome === Outcome.NEW || outcome === Outcome.DOMINATES || outcome === Outcome.CONFLICT_WON
}

/** A key's current state as the rule reads it (a slot of an EntryTable, through `EntryTable.at`, is one). */
export interface MergeState {
  readonly hlc: number
  readonly writer: string
  readonly vv: VersionVector
  /** The order of `vv` relative to this state's vector, as `compareVectors(vv, this.vv)`. */
  compare (vv: VersionVector): OrderValue
}

/** An incoming record as the rule reads it (a WireRecord is one). */
export interface MergeRecord {
  readonly hlc: number
  readonly writer: string
  readonly vv: VersionVector
}

/**
 * The outcome of merging `r` into `s` (undefined: the key has no state).
 * `r.vv` must already have lost the entries of origins forgotten here (§7).
 */
export function mergeOutcome (s: MergeState | undefined, r: MergeRecord, now: number, horizon: number): OutcomeValue {
  if (physicalMs(r.hlc) + horizon < now) return Outcome.EXPIRED
  if (s === undefined) return Outcome.NEW
  const order = s.compare(r.vv)
  if (order === Order.EQUAL || order === Order.BEFORE) return Outcome.DUPLICATE
  if (order === Order.AFTER) return Outcome.DOMINATES
  return wins(r.hlc, r.writer, s.hlc, s.writer) ? Outcome.CONFLICT_WON : Outcome.CONFLICT_LOST
}

/** The key's vector after the outcome: the pointwise maximum on a conflict, else the winner's. */
export function mergedVector (outcome: OutcomeValue, s: MergeState | undefined, r: MergeRecord): VersionVector {
  if (outcome === Outcome.CONFLICT_WON || outcome === Outcome.CONFLICT_LOST) return mergeVectors(r.vv, (s as MergeState).vv)
  if (outcome === Outcome.NEW || outcome === Outcome.DOMINATES || s === undefined) return r.vv
  return s.vv
}

/** What happens to the value held here for the key (rule 5). */
export const ValueFate = {
  /** Nothing: the state did not change, or it merged beside a local-only value (rule 2). */
  UNTOUCHED: 0,
  /** The local value stays (replicate mode, our write won a conflict). */
  KEEP: 1,
  /** The record's value replaces it (replicate mode, a winning SET with a live value). */
  REPLACE: 2,
  /** It is dropped: a miss is always correct. */
  DROP: 3,
} as const
export type ValueFateValue = (typeof ValueFate)[keyof typeof ValueFate]

/** The state a record left, as rule 5 reads it (`EntryTable.at` is one): read only when the outcome needs it. */
export interface MergedState {
  readonly kind: RecordKindValue
  /** When a value written by this state expires (its write's physical time plus its ttl). */
  readonly expiresAt: number
}

/**
 * The fate of the value held for a key after `outcome` (rule 5). `s` is the
 * key's state after the outcome; `hasValue` is whether the record carries a
 * value. `sameWrite`: the record is the write the key's state here already
 * is (same HLC and writer), come back with a longer vector: a concurrent
 * write it won elsewhere. Its value is the one held here, so in replicate
 * mode it stays, as against a losing record, and nothing derived from it
 * changed (the edges of a dependent written here must not go: only this
 * instance knows them, SPEC §10).
 */
export function valueFate (outcome: OutcomeValue, replicate: boolean, localOnly: boolean, s: MergedState, hasValue: boolean, now: number, sameWrite = false): ValueFateValue {
  if (!changesState(outcome) || localOnly) return ValueFate.UNTOUCHED
  if (outcome === Outcome.CONFLICT_LOST || (sameWrite && outcome === Outcome.DOMINATES)) return replicate ? ValueFate.KEEP : ValueFate.DROP
  return replicate && hasValue && s.kind === RecordKind.SET && s.expiresAt > now ? ValueFate.REPLACE : ValueFate.DROP
}

/**
 * Deterministic total order of writes for conflict resolution: higher HLC
 * wins, then the higher writer id. The same write has the same (hlc, writer)
 * everywhere, and HLC timestamps from one origin are strictly increasing.
 */
export function wins (aHlc: number, aWriter: string, bHlc: number, bWriter: string): boolean {
  return aHlc > bHlc || (aHlc === bHlc && aWriter > bWriter)
}
