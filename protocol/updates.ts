/**
 * UPDATES: one origin's writes, numbered by its sequence.
 *
 *   updates := origins • origin:varuint • firstSeq:varuint • count:varuint • record*count
 *
 * Record i is the origin's write number `firstSeq + i`: its writer is the
 * origin and its vector entry for the origin is exactly that number. A
 * receiver uses the numbers to drop duplicates and to see gaps at once.
 */
import * as encoding from 'lib0/encoding'
import { MessageType, type DecodeLimits } from './constants.ts'
import { OriginTable, readOrigins, readRecord, writeOrigins, writeRecord, type InternOrigin, type WireRecord } from './record.ts'
import { malformed, readCount, readUint, type Decoder } from './reader.ts'
import { writeUint } from './writer.ts'
import { vectorGet } from '../lib/core/version-vector.ts'

export interface UpdatesMessage {
  type: typeof MessageType.UPDATES
  origin: string
  firstSeq: number
  records: WireRecord[]
}

export function writeUpdates (encoder: encoding.Encoder, msg: UpdatesMessage): void {
  const table = new OriginTable()
  table.ref(msg.origin)
  for (const r of msg.records) table.addRecord(r)
  writeOrigins(encoder, table)
  writeUint(encoder, table.ref(msg.origin))
  writeUint(encoder, msg.firstSeq)
  writeUint(encoder, msg.records.length)
  for (const r of msg.records) writeRecord(encoder, table, r)
}

export function readUpdates (decoder: Decoder, limits: DecodeLimits, intern?: InternOrigin, dropValues?: number): UpdatesMessage {
  const origins = readOrigins(decoder, limits, intern)
  const originIndex = readUint(decoder, 'origin')
  const origin = origins[originIndex]
  if (origin === undefined) throw malformed(`updates origin ${originIndex} is not in the origin table`)
  const firstSeq = readUint(decoder, 'first sequence number')
  if (firstSeq === 0) throw malformed('sequence numbers start at 1')
  const count = readCount(decoder, 'record count', limits.maxRecords)
  if (count === 0) throw malformed('an updates frame carries at least one record')
  const records = new Array<WireRecord>(count) // its exact size (count is bounded by maxRecords)
  for (let i = 0; i < count; i++) {
    const r = readRecord(decoder, origins, limits, dropValues)
    if (r.writer !== origin) throw malformed(`record ${i} was written by ${r.writer}, not by the frame's origin ${origin}`)
    if (vectorGet(r.vv, origin) !== firstSeq + i) {
      throw malformed(`record ${i} has counter ${vectorGet(r.vv, origin)} for its origin, expected ${firstSeq + i}`)
    }
    records[i] = r
  }
  return { type: MessageType.UPDATES, origin, firstSeq, records }
}
