/**
 * bench/mesh/systems/libp2p-stream-minimal.ts is a lower bound for meshcache's p50 only if it does the work it
 * claims: its receiver reads every write from its frames (split anywhere, padded or not), merges it by version
 * vector (a replayed frame changes nothing, a concurrent write is decided by clock then writer), drops the value
 * and queues the tombstone. The bounds built on it (over meshcache's Store, its frames and codecs, its transport)
 * are checked the same way: each sends what it claims and merges every write it is sent.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MinimalReplica, reader, writerEncoder } from '../bench/mesh/systems/libp2p-stream-minimal.ts'
import { StoreReplica } from '../bench/mesh/systems/libp2p-stream-minimal-store.ts'
import { codecReader, codecWriter, encodeWith, mergeFrame, writeRecord } from '../bench/mesh/systems/libp2p-stream-minimal-codec.ts'
import { envelopeReader, envelopeWriter } from '../bench/mesh/systems/libp2p-stream-minimal-envelope.ts'
import { system as transportBound } from '../bench/mesh/systems/meshcache-transport-minimal.ts'
import type { OriginState } from '../bench/mesh/systems/libp2p-stream-minimal.ts'
import { keyOf, type NodeContext, type NodeHandle } from '../bench/mesh/systems/types.ts'
import { encodeLone } from '../protocol/lone.ts'
import { readLoneWrite, type LoneFields } from '../lib/net/libp2p/lone-envelope.ts'
import { decodeFrame } from '../protocol/frame.ts'
import { DEFAULT_LIMITS, MessageType } from '../protocol/constants.ts'
import type { WireRecord } from '../protocol/record.ts'

function receiving (): { replica: MinimalReplica, read: (chunk: Buffer) => void, changes: string[] } {
  const replica = new MinimalReplica()
  const changes: string[] = []
  replica.events.on('change', (event: { key: string, source: string }) => { changes.push(`${event.source} ${event.key}`) })
  return { replica, read: reader(replica), changes }
}

/** A receiver over meshcache's Store: its replica, and the keys its change events named, in order. */
function storeReceiving (): { replica: StoreReplica, changes: string[] } {
  const replica = new StoreReplica()
  const changes: string[] = []
  replica.events.on('change', (event: { key: string }) => { changes.push(event.key) })
  return { replica, changes }
}

/** Hands `bytes` to `read` `step` bytes at a time: frames split anywhere, as a stream may cut them. */
function readInPieces (read: (chunk: Buffer) => void, bytes: Buffer, step: number): void {
  for (let at = 0; at < bytes.length; at += step) read(bytes.subarray(at, Math.min(at + step, bytes.length)))
}

for (const pad of [0, 25]) {
  test(`pad ${pad}: every write read and applied, from frames split anywhere`, () => {
    const writer = new MinimalReplica()
    const encode = writerEncoder(writer, 7, pad)
    const frames = [0, 1, 2].map(encode)
    assert.is(frames[0]?.byteLength, 19 + (pad === 0 ? 0 : pad + 1) + keyOf(0).length)
    const { replica, read, changes } = receiving()
    replica.values.set(keyOf(1), 'cached')
    const bytes = Buffer.concat(frames)
    readInPieces(read, bytes, 5)
    assert.equal(changes, [0, 1, 2].map((seq) => `remote ${keyOf(seq)}`))
    assert.is(replica.values.get(keyOf(1)), undefined, 'the cached value is dropped')
    assert.equal(replica.dead, [0, 1, 2].map(keyOf))
    assert.equal(replica.table.get(keyOf(2))?.vv, [7, 3])
    read(frames[1] as Buffer)
    assert.is(changes.length, 3, 'a replayed frame is dominated: no change')
  })
}

test('a concurrent write is decided by clock, then writer; the vector keeps both', () => {
  const { replica } = receiving()
  assert.ok(replica.bury('k', 1, 1, 100, 'remote'))
  assert.ok(replica.bury('k', 2, 1, 50, 'remote'), 'the vector changed')
  assert.equal(replica.table.get('k'), { vv: [1, 1, 2, 1], hlc: 100, writer: 1, dead: true, since: replica.table.get('k')?.since })
  assert.ok(replica.bury('k', 3, 1, 200, 'remote'))
  assert.is(replica.table.get('k')?.writer, 3)
  assert.not.ok(replica.bury('k', 3, 1, 200, 'remote'), 'seen: dominated')
})

test('over meshcache\'s Store (libp2p-stream-minimal-store): the same writes applied to its table, a replay dominated', () => {
  const encode = writerEncoder(new StoreReplica(), 7, 0)
  const { replica, changes } = storeReceiving()
  const read = reader(replica)
  replica.store.lru.set(keyOf(1), 'cached')
  const frames = [0, 1, 2].map(encode)
  for (const frame of frames) read(frame)
  assert.equal(changes, [0, 1, 2].map(keyOf))
  assert.is(replica.store.lru.get(keyOf(1)), undefined, 'the cached value is dropped')
  assert.is(replica.store.tombstones, 3)
  const slot = replica.store.meta.get(keyOf(2)) as number
  assert.equal(replica.store.table.vv(slot), ['o7', 3])
  read(frames[2] as Buffer)
  assert.is(changes.length, 3, 'a replayed frame is dominated: no change')
  assert.ok(replica.bury(keyOf(2), 9, 1, 1, 'remote'), 'a concurrent write that loses still merges its vector')
  const vv = replica.store.table.vv(slot)
  const entries = [0, 2].map((i) => `${vv[i] as string}:${vv[i + 1] as number}`).sort()
  assert.equal(entries, ['o7:3', 'o9:1'], 'both origins in the vector')
  assert.is(replica.store.table.writer(slot), 'o7', 'the older clock lost')
  assert.is(changes.length, 3)
})

test('meshcache\'s frames (libp2p-stream-minimal-codec): its size, decoded with its codec, merged into the Store', () => {
  const encode = codecWriter(new StoreReplica(), '0123abcd~0123456789ab')
  const frames = [12345, 12346].map(encode)
  assert.is((frames[0] as Buffer).byteLength, 2 + 52, 'meshcache\'s 52 bytes for user:12345, in the floor\'s framing')
  const { replica, changes } = storeReceiving()
  const read = codecReader(replica)
  const bytes = Buffer.concat(frames)
  readInPieces(read, bytes, 7)
  assert.equal(changes, [keyOf(12345), keyOf(12346)])
  assert.equal(replica.store.table.vv(replica.store.meta.get(keyOf(12346)) as number), ['0123abcd~0123456789ab', 2])
  read(frames[0] as Buffer)
  assert.is(changes.length, 2, 'a replayed frame is dominated: no change')
  const bad = Buffer.from(frames[0] as Buffer)
  bad[3] = 0x7f // the frame's message type
  assert.throws(() => codecReader(new StoreReplica())(bad))
})

test('meshcache\'s lone frames (libp2p-stream-minimal-lone): the bytes its outbox sends, read by its lone decoder, merged into the Store', () => {
  const origin = '0123abcd~0123456789ab'
  const encode = codecWriter(new StoreReplica(), origin, 'lone')
  const frames = [12345, 12346].map(encode)
  assert.is((frames[0] as Buffer).byteLength, 2 + 52, 'the same 52 bytes as the general encoder')
  const msg = decodeFrame((frames[1] as Buffer).subarray(2), DEFAULT_LIMITS, undefined, true)
  assert.is(msg.type, MessageType.UPDATES, 'a frame the general decoder reads too')
  if (msg.type !== MessageType.UPDATES) return
  assert.equal(msg.records[0]?.vv, [origin, 2])
  assert.equal([...(frames[1] as Buffer).subarray(2)], [...encodeLone(origin, 2, msg.records[0] as WireRecord)], 'encodeLone\'s bytes, as lib/sync/outbox.ts sends a lone write')
  const { replica, changes } = storeReceiving()
  const read = codecReader(replica, 'lone')
  const bytes = Buffer.concat(frames)
  readInPieces(read, bytes, 7)
  assert.equal(changes, [keyOf(12345), keyOf(12346)])
  read(frames[0] as Buffer)
  assert.is(changes.length, 2, 'a replayed frame is dominated: no change')
  // A run of two writes is one general frame, as the outbox sends it; the lone decoder declines it and the general one reads it.
  const writer = new StoreReplica()
  const batch = encodeWith('lone', origin, 3, [writeRecord(writer, origin, 3, 1), writeRecord(writer, origin, 4, 2)])
  const origins = new Map<string, OriginState>()
  mergeFrame('lone', replica, origins, batch)
  assert.equal(changes.slice(2), [keyOf(1), keyOf(2)])
  assert.equal(origins.get(origin), { next: 5, gaps: 0 }, 'the frame\'s numbers, 3 and 4, heard')
})

test('meshcache\'s LONE envelopes (libp2p-stream-minimal-envelope): WRITER once, then each write in ~25 bytes, merged into the Store', () => {
  const origin = '0123abcd~0123456789ab'
  const encode = envelopeWriter(new StoreReplica(), origin)
  const envelopes = [12345, 12346, 12347].map(encode)
  const first = envelopes[0] as Buffer
  assert.ok(first.byteLength > 2 + origin.length, 'the first write names its origin (WRITER) before its LONE')
  for (const e of envelopes.slice(1)) assert.ok(e.byteLength <= 26, `a LONE of ${e.byteLength} bytes, not the lone frame's 54`)
  const fields: LoneFields = { nsId: -1, seq: 0, key: '', kind: -1, hlc: 0 }
  readLoneWrite((envelopes[1] as Buffer).subarray(1), fields)
  assert.equal([fields.nsId, fields.seq, fields.key], [0, 2, keyOf(12346)], 'meshcache\'s LONE: the namespace id, the write\'s number, its key')
  const { replica, changes } = storeReceiving()
  const read = envelopeReader(replica)
  const bytes = Buffer.concat(envelopes)
  readInPieces(read, bytes, 5)
  assert.equal(changes, [keyOf(12345), keyOf(12346), keyOf(12347)])
  read(envelopes[1] as Buffer)
  assert.is(changes.length, 3, 'a replayed LONE is dominated: no change')
  assert.throws(() => envelopeReader(new StoreReplica())(envelopes[1] as Buffer), /LONE before its WRITER/, 'a LONE of an origin never named is refused')
})

test('meshcache\'s transport with the bound\'s path (meshcache-transport-minimal): every write reaches every receiver over libp2p', async () => {
  const psk = (await transportBound.setup?.(3))?.config
  const received = new Map<number, number[]>()
  const nodes: NodeHandle[] = []
  const addresses: unknown[] = []
  const context = (index: number): NodeContext => ({
    index, n: 3, role: index === 0 ? 'writer' : 'receiver', scenario: 'fanout', config: psk, peers: [...addresses],
    received (seq) { received.set(index, [...(received.get(index) ?? []), seq]) },
  })
  try {
    for (const index of [1, 2, 0]) {
      const node = await transportBound.node(context(index))
      nodes.push(node)
      addresses.push(node.address)
    }
    const writer = nodes[2] as NodeHandle
    for (const seq of [0, 1, 2]) writer.publish?.(seq) // one synchronous run: one frame of three records
    await new Promise((resolve) => setTimeout(resolve, 1))
    writer.publish?.(3) // a lone write's frame
    const deadline = Date.now() + 5_000
    while ((received.get(1)?.length ?? 0) < 4 || (received.get(2)?.length ?? 0) < 4) {
      assert.ok(Date.now() < deadline, `receivers got ${JSON.stringify([...received])}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    assert.equal(received.get(1), [0, 1, 2, 3])
    assert.equal(received.get(2), [0, 1, 2, 3])
  } finally {
    await Promise.all(nodes.map(async (node) => { await node.close() }))
  }
})

test('a frame of another kind is refused', () => {
  const { read } = receiving()
  const frame = writerEncoder(new MinimalReplica(), 7, 0)(0)
  frame[2] = 9
  assert.throws(() => read(frame), /bad frame/)
})

test.run()
