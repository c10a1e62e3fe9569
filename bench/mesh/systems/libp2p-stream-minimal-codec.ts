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
 * format and codec cost a write; against `meshcache`, what its layers between
 * the stream and the store cost (the envelope, the mesh's and namespaces'
 * routing, the replica, the sequence tracker, the events).
 */
import { randomBytes } from 'node:crypto'
import { decodeFrame, encodeFrame } from '../../../protocol/frame.ts'
import { DEFAULT_LIMITS, MessageType, RecordKind } from '../../../protocol/constants.ts'
import { HLC_LOGICAL_RANGE } from '../../../lib/core/clock.ts'
import { StoreReplica } from './libp2p-stream-minimal-store.ts'
import { checkedKey, heard, lengthFramed, type OriginState } from './libp2p-stream-minimal.ts'
import { floorNode, system as floor } from './libp2p-stream.ts'
import { seqOf, type System } from './types.ts'

/** meshcache's clock is ms × HLC_LOGICAL_RANGE + logical, an integer; the bound's is ms + logical / 65536. */
const toWire = (hlc: number): number => Math.floor(hlc) * HLC_LOGICAL_RANGE + Math.round((hlc % 1) * 65536) % HLC_LOGICAL_RANGE
const fromWire = (hlc: number): number => Math.floor(hlc / HLC_LOGICAL_RANGE) + (hlc % HLC_LOGICAL_RANGE) / 65536

/** The writer's side: `invalidate(keyOf(seq))` on `replica` as origin `self`, returning meshcache's frame for it, length-prefixed. */
export function codecWriter (replica: StoreReplica, self: string): (seq: number) => Buffer {
  let counter = 0
  return (seq) => {
    const key = checkedKey(seq)
    const hlc = replica.tick()
    replica.buryAs(key, self, ++counter, hlc, 'local')
    const body = encodeFrame({ type: MessageType.UPDATES, origin: self, firstSeq: counter, records: [{ key, kind: RecordKind.INVALIDATE, hlc: toWire(hlc), writer: self, vv: [self, counter] }] })
    const frame = Buffer.allocUnsafe(2 + body.byteLength)
    frame.writeUInt16BE(body.byteLength, 0)
    frame.set(body, 2)
    return frame
  }
}

/** Splits the stream into meshcache frames, decodes each and merges its records into the Store. */
export function codecReader (replica: StoreReplica): (chunk: Buffer) => void {
  const origins = new Map<string, OriginState>()
  return lengthFramed((buf, at, len) => {
    const msg = decodeFrame(buf.subarray(at, at + len), DEFAULT_LIMITS, undefined, true)
    if (msg.type !== MessageType.UPDATES) throw new Error('libp2p-stream-minimal-codec: not an UPDATES frame')
    heard(origins, msg.origin, msg.firstSeq, msg.records.length)
    for (const r of msg.records) {
      replica.observe(fromWire(r.hlc))
      replica.buryAs(r.key, r.writer, r.vv[1] as number, fromWire(r.hlc), 'remote')
    }
  })
}

export const system: System = {
  name: 'libp2p-stream-minimal-codec',
  setup: floor.setup,
  async node (ctx) {
    const replica = new StoreReplica()
    if (ctx.role === 'writer') {
      // An origin id as long as meshcache's (21 characters), so the frame is its size: 52 bytes for `user:12345`.
      const encode = codecWriter(replica, `${randomBytes(4).toString('hex')}~${randomBytes(6).toString('hex')}`)
      return await floorNode(ctx, { encode, reader: () => { throw new Error('the writer reads nothing') } })
    }
    replica.events.on('change', (event: { key: string, source: string }) => {
      if (event.source !== 'local') ctx.received(seqOf(event.key))
    })
    return await floorNode(ctx, { encode: () => { throw new Error('a receiver writes nothing') }, reader: () => codecReader(replica) })
  },
}
