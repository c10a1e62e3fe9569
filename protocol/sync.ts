/**
 * Anti-entropy, modelled on y-protocols' two-step sync.
 *
 *   stateVector := count:varuint • (originId:varstring • seq:varuint)*count
 *   syncStep1   := syncId:varuint • stateVector
 *   syncStep2   := syncId:varuint • part:varuint • parts:varuint • stateVector
 *                  • origins • count:varuint • record*count
 *
 * Step 1 says "this is how far I have seen each origin". Step 2 answers with
 * every record that has a vector entry beyond that, split in `parts` frames
 * (part = 0 … parts-1) that all repeat the responder's own state vector. The
 * requester may raise its state vector to the responder's only after every
 * part of the same syncId arrived. Sessions number from 1: a step 2 with
 * syncId 0 is a relayed repair (SPEC §6.1), merged as ordinary updates.
 */
import * as encoding from 'lib0/encoding'
import { MessageType, type DecodeLimits } from './constants.ts'
import { OriginTable, readOrigins, readRecord, writeOrigins, writeRecord, type InternOrigin, type WireRecord } from './record.ts'
import { malformed, readCount, readString, readUint, type Decoder } from './reader.ts'
import { writeString } from './writer.ts'

/** Origin id → the highest sequence number seen without a gap. */
export type StateVector = Map<string, number>

export interface SyncStep1Message {
  type: typeof MessageType.SYNC_STEP1
  syncId: number
  sv: StateVector
}

export interface SyncStep2Message {
  type: typeof MessageType.SYNC_STEP2
  syncId: number
  part: number
  parts: number
  sv: StateVector
  records: WireRecord[]
}

export function writeStateVector (encoder: encoding.Encoder, sv: StateVector): void {
  encoding.writeVarUint(encoder, sv.size)
  for (const [origin, seq] of sv) {
    writeString(encoder, origin)
    encoding.writeVarUint(encoder, seq)
  }
}

export function readStateVector (decoder: Decoder, limits: DecodeLimits): StateVector {
  const n = readCount(decoder, 'state vector size', limits.maxOrigins)
  const sv: StateVector = new Map()
  for (let i = 0; i < n; i++) {
    const origin = readString(decoder, 'origin id', limits.maxOriginBytes)
    if (origin.length === 0) throw malformed('empty origin id in state vector')
    if (sv.has(origin)) throw malformed(`origin ${JSON.stringify(origin)} appears twice in a state vector`)
    sv.set(origin, readUint(decoder, 'state vector sequence'))
  }
  return sv
}

export function writeSyncStep1 (encoder: encoding.Encoder, msg: SyncStep1Message): void {
  encoding.writeVarUint(encoder, msg.syncId)
  writeStateVector(encoder, msg.sv)
}

export function readSyncStep1 (decoder: Decoder, limits: DecodeLimits): SyncStep1Message {
  const syncId = readUint(decoder, 'sync id')
  return { type: MessageType.SYNC_STEP1, syncId, sv: readStateVector(decoder, limits) }
}

export function writeSyncStep2 (encoder: encoding.Encoder, msg: SyncStep2Message): void {
  encoding.writeVarUint(encoder, msg.syncId)
  encoding.writeVarUint(encoder, msg.part)
  encoding.writeVarUint(encoder, msg.parts)
  writeStateVector(encoder, msg.sv)
  const table = new OriginTable()
  for (const r of msg.records) table.addRecord(r)
  writeOrigins(encoder, table)
  encoding.writeVarUint(encoder, msg.records.length)
  for (const r of msg.records) writeRecord(encoder, table, r)
}

export function readSyncStep2 (decoder: Decoder, limits: DecodeLimits, intern?: InternOrigin, dropValues?: number): SyncStep2Message {
  const syncId = readUint(decoder, 'sync id')
  const part = readUint(decoder, 'part')
  const parts = readUint(decoder, 'parts')
  if (parts === 0 || part >= parts) throw malformed(`part ${part} of ${parts} is out of range`)
  if (parts > limits.maxRecords) throw malformed(`${parts} parts exceed the record limit ${limits.maxRecords}`)
  const sv = readStateVector(decoder, limits)
  const origins = readOrigins(decoder, limits, intern)
  const count = readCount(decoder, 'record count', limits.maxRecords)
  const records = new Array<WireRecord>(count) // its exact size (count is bounded by maxRecords)
  for (let i = 0; i < count; i++) records[i] = readRecord(decoder, origins, limits, dropValues)
  return { type: MessageType.SYNC_STEP2, syncId, part, parts, sv, records }
}
