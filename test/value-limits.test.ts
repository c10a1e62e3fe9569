/**
 * Finding 1 of issue 16, the receiver's half: a record whose metadata is
 * valid but whose value this receiver cannot take (too large, undecodable,
 * or inside a frame over maxFrameBytes whose records are still readable) is
 * merged as an invalidation of its key: only its value is dropped. Peers may
 * run other versions or limits, and refusing such a frame kept the old value
 * served until its TTL while every later frame restarted a refused sync.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMeshCache, ErrorCode, type MeshCacheError } from '../lib/index.ts'
import { MessageType, RecordKind, encodeFrame, type WireRecord } from '../protocol/index.ts'
import { captureTransport } from './helpers/capture-transport.ts'
import { cluster } from './helpers/cluster.ts'

const X = 'x~1'
const text = (s: string): Uint8Array => new TextEncoder().encode(s)

function record (key: string, seq: number, value: Uint8Array): WireRecord {
  return { key, kind: RecordKind.SET, hlc: Date.now() * 1000 + seq, writer: X, vv: [X, seq], ttl: 60_000, value }
}

async function receiver (limits: Record<string, number>): Promise<{ cache: Awaited<ReturnType<typeof createMeshCache<any>>>, cap: ReturnType<typeof captureTransport>, errors: MeshCacheError[] }> {
  const cap = captureTransport()
  // codec 'json': the frames below carry JSON-encoded values
  const cache = await createMeshCache<any>({ namespace: 'n', mode: 'replicate', codec: 'json', transport: cap.transport, syncInterval: 0, limits })
  const errors: MeshCacheError[] = []
  cache.on('frameError', (e: { error: MeshCacheError }) => errors.push(e.error))
  // x~1 wrote k = "old" and other = 1 first.
  cap.deliver('peer', encodeFrame({ type: MessageType.UPDATES, origin: X, firstSeq: 1, records: [record('k', 1, text('"old"')), record('other', 2, text('1'))] }))
  assert.is(cache.get('k'), 'old')
  return { cache, cap, errors }
}

test('a value over maxValueBytes: the record merges as an invalidation, the frame\'s other records apply', async () => {
  const { cache, cap, errors } = await receiver({ maxValueBytes: 100 })
  const sentBefore = cap.sent.length
  cap.deliver('peer', encodeFrame({ type: MessageType.UPDATES, origin: X, firstSeq: 3, records: [record('k', 3, text(`"${'x'.repeat(200)}"`)), record('other', 4, text('2'))] }))
  assert.is(cache.get('k'), undefined, 'the old value is not served')
  assert.equal(cache.inspect('k')?.vv, [X, 3], 'the write is merged')
  assert.is(cache.inspect('k')?.hasValue, false)
  assert.is(cache.get('other'), 2, 'the other record applied')
  assert.equal(errors.map((e) => e.code), [ErrorCode.FRAME_TOO_LARGE], 'reported once, not refused')
  assert.ok(errors[0]?.message.includes('"k"'), errors[0]?.message)
  assert.is(cap.sent.slice(sentBefore).filter((s) => s.to !== '*').length, 0, 'no gap, so no sync was started')
  await cache.close()
})

test('an undecodable value: the record merges as an invalidation', async () => {
  const { cache, cap, errors } = await receiver({})
  cap.deliver('peer', encodeFrame({ type: MessageType.UPDATES, origin: X, firstSeq: 3, records: [record('k', 3, text('{not json')), record('other', 4, text('null')), record('third', 5, text('3'))] }))
  assert.is(cache.get('k'), undefined)
  assert.equal(cache.inspect('k')?.vv, [X, 3])
  assert.is(cache.get('other'), undefined, 'a value decoding to null is no value either')
  assert.equal(cache.inspect('other')?.vv, [X, 4])
  assert.is(cache.get('third'), 3)
  assert.equal(errors.map((e) => e.code), [ErrorCode.VALUE_CODEC])
  await cache.close()
})

test('a frame over maxFrameBytes whose records are readable: every record merges without its value', async () => {
  const { cache, cap, errors } = await receiver({ maxFrameBytes: 4_096 })
  const big = text(`"${'y'.repeat(3_000)}"`)
  cap.deliver('peer', encodeFrame({ type: MessageType.UPDATES, origin: X, firstSeq: 3, records: [record('k', 3, big), record('other', 4, text('2')), record('new', 5, big)] }))
  assert.is(cache.get('k'), undefined)
  assert.is(cache.get('other'), undefined, 'even a small value goes: the frame was over the limit')
  assert.equal(cache.inspect('other')?.vv, [X, 4])
  assert.equal(cache.inspect('new')?.vv, [X, 5])
  assert.equal(errors.map((e) => e.code), [ErrorCode.FRAME_TOO_LARGE])
  await cache.close()
})

test('a frame over maxFrameBytes whose metadata breaks a limit is still refused whole', async () => {
  const { cache, cap, errors } = await receiver({ maxFrameBytes: 4_096, maxKeyBytes: 64 })
  const big = text(`"${'y'.repeat(5_000)}"`)
  cap.deliver('peer', encodeFrame({ type: MessageType.UPDATES, origin: X, firstSeq: 3, records: [record('k'.repeat(100), 3, big)] }))
  assert.equal(errors.map((e) => e.code), [ErrorCode.FRAME_TOO_LARGE])
  assert.is(cache.inspect('k'.repeat(100)), undefined, 'nothing merged')
  assert.is(cache.get('k'), 'old')
  await cache.close()
})

test('between caches with different limits: the receiver drops its old copy, and anti-entropy does not loop', async () => {
  const net = (await import('../lib/testing/index.ts')).createMemoryNetwork({ seed: 3 })
  const make = (name: string, limits?: Record<string, number>) => createMeshCache<string>({ namespace: 'n', nodeId: name, mode: 'replicate', codec: 'json', transport: net.transport(name), syncInterval: 0, ...(limits ? { limits } : {}) })
  const a = await make('a', { maxValueBytes: 2_000_000, maxFrameBytes: 4_000_000 }) // a peer with other limits
  const b = await make('b') // the defaults: 512 KiB values, 1 MiB frames
  const errors: MeshCacheError[] = []
  b.on('frameError', (e: { error: MeshCacheError }) => errors.push(e.error))
  await net.flush()
  a.set('k', 'old')
  await net.flush()
  assert.is(b.get('k'), 'old')
  a.set('k', 'z'.repeat(600_000))
  a.set('j', 'z'.repeat(1_500_000)) // a frame over b's maxFrameBytes
  await net.flush()
  assert.is(b.get('k'), undefined, 'b no longer serves the old value')
  assert.equal(b.inspect('k')?.vv, a.inspect('k')?.vv, 'and holds the write\'s state')
  assert.equal(b.inspect('j')?.vv, a.inspect('j')?.vv)
  const refused = errors.length
  assert.ok(refused >= 1)
  for (let i = 0; i < 3; i++) {
    b.sync()
    a.sync()
    await net.flush()
  }
  assert.is(errors.length, refused, 'anti-entropy does not send it again')
  assert.equal(b.metadata().map(([k, v]) => [k, v.vv]), a.metadata().map(([k, v]) => [k, v.vv]), 'converged')
  await a.close()
  await b.close()
})

test.run()
