/**
 * `libp2p-stream-minimal-store` with meshcache's own frame and codec in place
 * of the bound's: the writer makes an UPDATES frame with protocol/frame.ts's
 * `encodeFrame` (the origin id in full, the record's writer, clock and
 * vector), a receiver reads it with `decodeFrame` (every limit and check of
 * meshcache's decoder) and merges its record into meshcache's Store by the
 * bound's short path. The frame goes in the floor's u16-length framing on the
 * floor's streams: no envelope, mesh, routing or replica layers.
 *
 * Beside `libp2p-stream-minimal-store` in one run: what meshcache's wire
 * format and general codec cost a write; against `meshcache`, what its layers
 * between the stream and the store cost (the envelope, the mesh's and
 * namespaces' routing, the replica, the sequence tracker, the events).
 * `libp2p-stream-minimal-lone.ts` is the same with the codec meshcache uses
 * for a lone write (protocol/lone.ts), and `meshcache-transport-minimal.ts`
 * carries those frames over meshcache's own transport.
 */
import { randomBytes } from 'node:crypto'
import { decodeFrame, encodeFrame } from '../../../protocol/frame.ts'
import { decodeLone, encodeLone } from '../../../protocol/lone.ts'
import { DEFAULT_LIMITS, MessageType, RecordKind } from '../../../protocol/constants.ts'
import type { WireRecord } from '../../../protocol/record.ts'
import type { UpdatesMessage } from '../../../protocol/updates.ts'
import { HLC_LOGICAL_RANGE } from '../../../lib/core/clock.ts'
import { StoreReplica } from './libp2p-stream-minimal-store.ts'
import { checkedKey, heard, lengthFramed, type OriginState } from './libp2p-stream-minimal.ts'
import { floorNode, system as floor } from './libp2p-stream.ts'
import { seqOf, type System } from './types.ts'

/** Which of meshcache's encoders and decoders a bound uses: the general one, or the lone write's (meshcache's own choice). */
export type Codec = 'general' | 'lone'

/** meshcache's clock is ms × HLC_LOGICAL_RANGE + logical, an integer; the bound's is ms + logical / 65536. */
const toWire = (hlc: number): number => Math.floor(hlc) * HLC_LOGICAL_RANGE + Math.round((hlc % 1) * 65536) % HLC_LOGICAL_RANGE
const fromWire = (hlc: number): number => Math.floor(hlc / HLC_LOGICAL_RANGE) + (hlc % HLC_LOGICAL_RANGE) / 65536

/** An origin id as long as meshcache's (21 characters), so a frame is its size: 52 bytes for `user:12345`. */
export function boundOrigin (): string {
  return `${randomBytes(4).toString('hex')}~${randomBytes(6).toString('hex')}`
}

/** The writer's side of one write: `invalidate(keyOf(seq))` on `replica` as origin `self`, its number `counter`; the record to send. */
export function writeRecord (replica: StoreReplica, self: string, counter: number, seq: number): WireRecord {
  const key = checkedKey(seq)
  const hlc = replica.tick()
  replica.buryAs(key, self, counter, hlc, 'local')
  return { key, kind: RecordKind.INVALIDATE, hlc: toWire(hlc), writer: self, vv: [self, counter] }
}

/** The UPDATES frame of `records`, numbered from `firstSeq`: with `lone`, a lone write's as meshcache's outbox sends it. */
export function encodeWith (codec: Codec, self: string, firstSeq: number, records: WireRecord[]): Uint8Array {
  if (codec === 'lone' && records.length === 1) return encodeLone(self, firstSeq, records[0] as WireRecord)
  return encodeFrame({ type: MessageType.UPDATES, origin: self, firstSeq, records })
}

/** Reads an UPDATES frame as meshcache's dispatch does (`lone`: the lone write's decoder first) and merges its records into `replica`. */
export function mergeFrame (codec: Codec, replica: StoreReplica, origins: Map<string, OriginState>, frame: Uint8Array): void {
  const msg = (codec === 'lone' ? decodeLone(frame, DEFAULT_LIMITS) : undefined) ?? decodeFrame(frame, DEFAULT_LIMITS, undefined, true)
  if (msg.type !== MessageType.UPDATES) throw new Error('minimal codec bound: not an UPDATES frame')
  merge(replica, origins, msg)
}

/** Merges an UPDATES message's records into `replica`, its numbers heard, as the bound's short path does. */
export function merge (replica: StoreReplica, origins: Map<string, OriginState>, msg: UpdatesMessage): void {
  heard(origins, msg.origin, msg.firstSeq, msg.records.length)
  for (const r of msg.records) {
    replica.observe(fromWire(r.hlc))
    replica.buryAs(r.key, r.writer, r.vv[1] as number, fromWire(r.hlc), 'remote')
  }
}

/** The writer's side: `invalidate(keyOf(seq))` on `replica` as origin `self`, returning meshcache's frame for it, length-prefixed. */
export function codecWriter (replica: StoreReplica, self: string, codec: Codec = 'general'): (seq: number) => Buffer {
  let counter = 0
  return (seq) => {
    counter++
    const body = encodeWith(codec, self, counter, [writeRecord(replica, self, counter, seq)])
    const frame = Buffer.allocUnsafe(2 + body.byteLength)
    frame.writeUInt16BE(body.byteLength, 0)
    frame.set(body, 2)
    return frame
  }
}

/** Splits the stream into meshcache frames, decodes each and merges its records into the Store. */
export function codecReader (replica: StoreReplica, codec: Codec = 'general'): (chunk: Buffer) => void {
  const origins = new Map<string, OriginState>()
  return lengthFramed((buf, at, len) => { mergeFrame(codec, replica, origins, buf.subarray(at, at + len)) })
}

/** A bound of meshcache's frames with `codec` on the floor's streams. */
export function codecSystem (name: string, codec: Codec): System {
  return {
    name,
    setup: floor.setup,
    async node (ctx) {
      const replica = new StoreReplica()
      if (ctx.role === 'writer') {
        const encode = codecWriter(replica, boundOrigin(), codec)
        return await floorNode(ctx, { encode, reader: () => { throw new Error('the writer reads nothing') } })
      }
      replica.events.on('change', (event: { key: string, source: string }) => {
        if (event.source !== 'local') ctx.received(seqOf(event.key))
      })
      return await floorNode(ctx, { encode: () => { throw new Error('a receiver writes nothing') }, reader: () => codecReader(replica, codec) })
    },
  }
}

export const system: System = codecSystem('libp2p-stream-minimal-codec', 'general')
