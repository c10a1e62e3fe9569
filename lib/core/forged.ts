/**
 * Forged records (SPEC §3.4): a record whose vector credits our origin with
 * a number we never issued would poison the key: our next write of it would
 * carry the forged counter and every peer would refuse that frame. Such a
 * record is refused on its own, not with its frame: an honest peer may be
 * relaying it in anti-entropy, and refusing its whole answer would stall
 * repair between honest nodes until the record ages out.
 */
import type { WireRecord } from '../../protocol/record.ts'
import { ErrorCode, MeshCacheError } from '../errors.ts'
import { vectorGet } from './version-vector.ts'

/**
 * The indices of the records crediting `origin` with more than the `issued`
 * numbers; undefined when there are none, the usual case, without
 * allocating. Decided once before any record is applied: a listener may
 * write meanwhile and raise our count.
 */
export function forgedRecords (records: WireRecord[], origin: string, issued: number): Set<number> | undefined {
  let forged: Set<number> | undefined
  for (let i = 0; i < records.length; i++) {
    if (vectorGet((records[i] as WireRecord).vv, origin) > issued) (forged ??= new Set()).add(i)
  }
  return forged
}

/** The one error a frame's forged records are reported with, naming the first. */
export function forgedError (records: WireRecord[], forged: Set<number>, origin: string, issued: number): MeshCacheError {
  const first = records[forged.values().next().value as number] as WireRecord
  return new MeshCacheError(ErrorCode.FRAME_MALFORMED,
    `${forged.size} record(s) refused, first for key ${JSON.stringify(first.key)}: its vector credits our origin ${origin} with ${vectorGet(first.vv, origin)}, above the ${issued} we issued`)
}
