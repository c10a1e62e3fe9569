/**
 * `libp2p-stream-minimal-lone` in meshcache's present wire form for a lone
 * write (lib/net/libp2p/lone-envelope.ts; SPEC.md §11, "Lone writes"): the
 * writer names its origin once (WRITER) and sends each write as a LONE
 * envelope, its number, key, kind and clock (25 bytes for `user:12345`, where
 * the lone frame in the floor's framing takes 54); a receiver splits its
 * stream into envelopes as meshcache's stream link does (EnvelopeSplitter),
 * reads each LONE into one reused object (`readLoneWrite`), makes it the
 * message it stands for as meshcache's dispatch does (`loneMessage`, every
 * check of its limits) and merges it into meshcache's Store by the bound's
 * short path. No envelope routing, namespaces, mesh, replica or events
 * between: the least a design with meshcache's present wire form, codec and
 * Store does for a write, on the floor's streams (bench/README.md).
 */
import { DEFAULT_LIMITS } from '../../../protocol/constants.ts'
import { loneMessage } from '../../../protocol/lone.ts'
import { BodyReader, EnvelopeSplitter, MSG_LONE, MSG_WRITER } from '../../../lib/net/libp2p/envelope.ts'
import { decodeWriter, encodeLoneWrite, encodeWriter, readLoneWrite, type LoneFields } from '../../../lib/net/libp2p/lone-envelope.ts'
import { StoreReplica } from './libp2p-stream-minimal-store.ts'
import type { OriginState } from './libp2p-stream-minimal.ts'
import { boundOrigin, merge, writeRecord } from './libp2p-stream-minimal-codec.ts'
import { floorNode, system as floor } from './libp2p-stream.ts'
import { seqOf, type System } from './types.ts'

/** The namespace id the bound's one stream names its writes in (meshcache's first namespace on a stream). */
const NS_ID = 0

/** The writer's side: `invalidate(keyOf(seq))` on `replica` as origin `self`; its LONE, the first after the WRITER naming `self`. */
export function envelopeWriter (replica: StoreReplica, self: string): (seq: number) => Buffer {
  let counter = 0
  return (seq) => {
    counter++
    const r = writeRecord(replica, self, counter, seq)
    const lone = encodeLoneWrite(NS_ID, counter, r.key, r.kind, r.hlc)
    // A view of the slab the envelope was cut from, as meshcache's outbox hands its bytes to every stream (no copy).
    const bytes = Buffer.from(lone.buffer, lone.byteOffset, lone.byteLength)
    return counter === 1 ? Buffer.concat([encodeWriter(NS_ID, self), bytes]) : bytes
  }
}

/** A receiver's side: splits the stream into envelopes, names the writer from its WRITER, merges each LONE into `replica`. */
export function envelopeReader (replica: StoreReplica): (chunk: Buffer) => void {
  const origins = new Map<string, OriginState>()
  const fields: LoneFields = { nsId: 0, seq: 0, key: '', kind: 0, hlc: 0 }
  let origin: string | undefined
  const splitter = new EnvelopeSplitter((body) => {
    const type = body[0]
    if (type === MSG_LONE) {
      readLoneWrite(body, fields)
      if (origin === undefined || fields.nsId !== NS_ID) throw new Error('minimal envelope bound: LONE before its WRITER')
      merge(replica, origins, loneMessage(origin, fields.seq, fields.key, fields.kind, fields.hlc, DEFAULT_LIMITS))
    } else if (type === MSG_WRITER) {
      origin = decodeWriter(new BodyReader(body, 1)).origin
    } else {
      throw new Error(`minimal envelope bound: envelope type ${String(type)}, not WRITER or LONE`)
    }
  }, (reason) => { throw new Error(`minimal envelope bound: ${reason}`) })
  return (chunk) => { splitter.push(chunk) }
}

export const system: System = {
  name: 'libp2p-stream-minimal-envelope',
  setup: floor.setup,
  async node (ctx) {
    const replica = new StoreReplica()
    if (ctx.role === 'writer') {
      return await floorNode(ctx, { encode: envelopeWriter(replica, boundOrigin()), reader: () => { throw new Error('the writer reads nothing') } })
    }
    replica.events.on('change', (event: { key: string, source: string }) => {
      if (event.source !== 'local') ctx.received(seqOf(event.key))
    })
    return await floorNode(ctx, { encode: () => { throw new Error('a receiver writes nothing') }, reader: () => envelopeReader(replica) })
  },
}
