/**
 * The values of an incoming frame's records, decoded before any record is
 * applied. A value this instance cannot take (the decoder dropped it as too
 * large, or the codec cannot decode it) leaves its record without a value:
 * the record still merges, as an invalidation of its key (SPEC §3.4), and the
 * frame is reported once. Refusing the frame instead kept the old value
 * served until its TTL, and anti-entropy re-sent the record in every answer.
 */
import type { DecodeLimits } from '../../protocol/constants.ts'
import type { WireRecord } from '../../protocol/record.ts'
import { ErrorCode, MeshCacheError } from '../errors.ts'
import { decodeValue, type ValueCodec } from '../value-codec.ts'

export interface IncomingValues<V> {
  /** One per record: its decoded value, or undefined (none, or one this instance cannot take). */
  values: Array<V | undefined>
  /** What to report for the frame, if a value was dropped. */
  error: MeshCacheError | undefined
}

export function decodeIncomingValues<V> (records: WireRecord[], codec: ValueCodec<V>, limits: DecodeLimits): IncomingValues<V> {
  let tooLarge: WireRecord | undefined
  let tooLargeCount = 0
  let undecodable: MeshCacheError | undefined
  let undecodableCount = 0
  const values = records.map((r) => {
    if (r.droppedValueBytes !== undefined) {
      tooLarge ??= r
      tooLargeCount++
      return undefined
    }
    if (r.value === undefined) return undefined
    try {
      return decodeValue(codec, r.key, r.value)
    } catch (error) {
      undecodable ??= error as MeshCacheError
      undecodableCount++
      return undefined
    }
  })
  // Reported once per frame, as too large if any value was.
  let error: MeshCacheError | undefined
  if (tooLarge !== undefined) {
    const size = tooLarge.droppedValueBytes as number
    const why = size > limits.maxValueBytes ? `over maxValueBytes ${limits.maxValueBytes}` : `in a frame over maxFrameBytes ${limits.maxFrameBytes}`
    const also = undecodable === undefined ? '' : `; ${undecodableCount} more undecodable: ${undecodable.message}`
    error = new MeshCacheError(ErrorCode.FRAME_TOO_LARGE,
      `${tooLargeCount} value(s) dropped and merged as invalidations, first of key ${JSON.stringify(tooLarge.key)}: ${size} bytes ${why}${also}`)
  } else if (undecodable !== undefined) {
    error = new MeshCacheError(ErrorCode.VALUE_CODEC,
      `${undecodableCount} value(s) dropped and merged as invalidations: ${undecodable.message}`, { cause: undecodable })
  }
  return { values, error }
}
