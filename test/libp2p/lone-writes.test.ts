/**
 * Lone writes on the libp2p transport (SPEC §11, "Lone writes"; lone-envelope.ts, lone-writes.ts): a lone write
 * travels as LONE after one WRITER a stream, reaches a handler as its fields or, for a handler that takes frames
 * only, as the frame it stands for; a peer that speaks only /meshcache/1.0.0 gets that frame in DATA; a LONE
 * or WRITER that breaks a rule is dropped and counted, and the stream goes on.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { multiaddr } from '@multiformats/multiaddr'
import type { Stream } from '@libp2p/interface'
import { createLibp2pTransport } from '../../lib/net/libp2p/index.ts'
import { buildNode } from '../../lib/net/libp2p/node.ts'
import { FaultSwitch } from '../../lib/net/libp2p/fault.ts'
import { EnvelopeSplitter, LONE_PROTOCOL, MSG_DATA, MSG_LONE, MSG_WRITER, PROTOCOL, encodeHello, encodeJoin } from '../../lib/net/libp2p/envelope.ts'
import { encodeLoneWrite, encodeWriter } from '../../lib/net/libp2p/lone-envelope.ts'
import { encodeLone } from '../../protocol/lone.ts'
import { RecordKind } from '../../protocol/constants.ts'
import { HLC_LOGICAL_RANGE } from '../../lib/core/clock.ts'
import { createMeshCache } from '../../lib/index.ts'
import type { FrameHandler } from '../../lib/net/transport.ts'
import { joinedPair, until } from './helpers.ts'

interface Lone { from: string, origin: string, seq: number, key: string, kind: number, hlc: number }

/** A handler that takes lone writes as their fields, and frames. */
function loneHandler (): { handler: FrameHandler, lone: Lone[], frames: Uint8Array[] } {
  const lone: Lone[] = []
  const frames: Uint8Array[] = []
  return {
    lone,
    frames,
    handler: {
      onFrame (_from, frame) { frames.push(frame) },
      onLone (from, origin, seq, key, kind, hlc) { lone.push({ from, origin, seq, key, kind, hlc }) },
      onPeerUp () {},
      onPeerDown () {}
    }
  }
}

const HLC = 1_796_000_000_000 * HLC_LOGICAL_RANGE + 7
const frameOf = (origin: string, seq: number, key: string): Uint8Array =>
  encodeLone(origin, seq, { key, kind: RecordKind.INVALIDATE, hlc: HLC, writer: origin, vv: [origin, seq] })

test('a lone write reaches onLone as its fields, in fewer than half its frame\'s bytes, the origin named once a stream', async () => {
  const a = await createLibp2pTransport({})
  const b = await createLibp2pTransport({ peers: a.multiaddrs() })
  const rb = loneHandler()
  try {
    const ca = await a.join('ns', loneHandler().handler)
    await b.join('ns', rb.handler)
    await until(() => ca.peers().length === 1, 'b up in a\'s namespace')
    const origin = 'a1b2c3d4~0123456789ab' // as long as a cache's
    const before = b.stats().bytesReceived
    for (let seq = 1; seq <= 100; seq++) assert.ok(ca.broadcastLone?.(origin, seq, `user:${10_000 + seq}`, RecordKind.INVALIDATE, HLC + seq))
    await until(() => rb.lone.length === 100, '100 lone writes')
    const loneBytes = b.stats().bytesReceived - before
    assert.equal(rb.lone[0], { from: a.peerId, origin, seq: 1, key: 'user:10001', kind: RecordKind.INVALIDATE, hlc: HLC + 1 })
    assert.equal(rb.lone.map(w => w.seq), Array.from({ length: 100 }, (_, i) => i + 1), 'every write, in order')
    assert.is(rb.frames.length, 0, 'no frame')
    // The same writes as frames, for the comparison.
    const mid = b.stats().bytesReceived
    for (let seq = 101; seq <= 200; seq++) ca.broadcast(frameOf(origin, seq, `user:${10_000 + seq}`))
    await until(() => rb.frames.length === 100, '100 frames')
    const frameBytes = b.stats().bytesReceived - mid
    assert.ok(loneBytes < frameBytes / 2, `100 lone writes ${loneBytes} bytes, as frames ${frameBytes}`)
    assert.ok(loneBytes < 100 * 26 + 40, `${loneBytes} bytes: a WRITER once, then ~25 bytes a write`)
  } finally {
    await Promise.all([a.close(), b.close()])
  }
})

test('a stream opened afresh names the origin again before its first LONE', async () => {
  const a = await createLibp2pTransport({})
  const b = await createLibp2pTransport({ peers: a.multiaddrs() })
  const rb = loneHandler()
  let ups = 0
  try {
    const ca = await a.join('ns', loneHandler().handler)
    await b.join('ns', { ...rb.handler, onPeerUp () { ups++ } })
    await until(() => ca.peers().length === 1 && ups === 1, 'b up in a\'s namespace')
    ca.broadcastLone?.('a~1', 1, 'k', RecordKind.INVALIDATE, 5)
    await until(() => rb.lone.length === 1, 'the first write')
    // a's stream to b is reset: a opens another, and b sees a come up again on it.
    for (const c of b.libp2p.getConnections()) for (const s of c.streams) if (s.direction === 'inbound' && s.protocol === LONE_PROTOCOL) s.abort(new Error('test: reset'))
    await until(() => ups === 2, 'a up again on its new stream')
    ca.broadcastLone?.('a~1', 2, 'k', RecordKind.INVALIDATE, 6)
    await until(() => rb.lone.length === 2, 'the write on the new stream')
    assert.is(rb.lone[1]?.origin, 'a~1')
    assert.is(b.stats().badEnvelopes, 0)
  } finally {
    await Promise.all([a.close(), b.close()])
  }
})

test('a handler that takes frames only gets a lone write as the frame it stands for', async () => {
  const { ca, rb, close } = await joinedPair()
  try {
    assert.ok(ca.broadcastLone?.('a~1', 7, 'k', RecordKind.DELETE, 42))
    const got = await rb.waitFrame()
    assert.equal(got.frame, encodeLone('a~1', 7, { key: 'k', kind: RecordKind.DELETE, hlc: 42, writer: 'a~1', vv: ['a~1', 7] }))
  } finally {
    await close()
  }
})

/** Reads every envelope body of `stream` into `bodies`. */
function readBodies (stream: Stream, bodies: Uint8Array[]): void {
  const splitter = new EnvelopeSplitter(body => { bodies.push(body.slice()) }, reason => { throw new Error(reason) })
  stream.addEventListener('message', evt => {
    const data = evt.data
    if (data instanceof Uint8Array) splitter.push(data)
    else for (const buf of data) splitter.push(buf)
  })
}

test('a peer that speaks only /meshcache/1.0.0 gets a lone write as its frame in DATA, never WRITER or LONE', async () => {
  const a = await createLibp2pTransport({})
  const old = await buildNode({ listen: ['/ip4/127.0.0.1/tcp/0'], psk: undefined, gater: new FaultSwitch().gater(), logger: undefined })
  const bodies: Uint8Array[] = []
  let fromA: Stream | undefined
  await old.handle(PROTOCOL, (stream) => { fromA = stream; readBodies(stream, bodies) })
  await old.start()
  try {
    const ca = await a.join('ns', loneHandler().handler)
    const stream = await old.dialProtocol(multiaddr(a.multiaddrs()[0] as string), PROTOCOL)
    stream.send(encodeHello([]))
    stream.send(encodeJoin(1, 'ns'))
    await until(() => ca.peers().length === 1, 'the older peer up in a\'s namespace')
    assert.is(fromA?.protocol, PROTOCOL, 'a offered 1.1.0 and took 1.0.0')
    assert.ok(ca.broadcastLone?.('a~1', 1, 'user:1', RecordKind.INVALIDATE, HLC))
    await until(() => bodies.some(b => b[0] === MSG_DATA), 'the frame')
    const data = bodies.filter(b => b[0] === MSG_DATA)
    assert.is(data.length, 1)
    const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
    assert.is(hex((data[0] as Uint8Array).subarray(2)), hex(frameOf('a~1', 1, 'user:1')), 'the lone write\'s frame')
    assert.not.ok(bodies.some(b => b[0] === MSG_WRITER || b[0] === MSG_LONE), 'no WRITER or LONE')
  } finally {
    await Promise.all([a.close(), old.stop()])
  }
})

test('a LONE or WRITER that breaks a rule is dropped and counted, and the stream goes on', async () => {
  const a = await createLibp2pTransport({})
  const peer = await buildNode({ listen: ['/ip4/127.0.0.1/tcp/0'], psk: undefined, gater: new FaultSwitch().gater(), logger: undefined })
  await peer.handle(PROTOCOLS_OF_PEER, () => {})
  await peer.start()
  const ra = loneHandler()
  try {
    await a.join('ns', ra.handler)
    const stream = await peer.dialProtocol(multiaddr(a.multiaddrs()[0] as string), LONE_PROTOCOL)
    assert.is(stream.protocol, LONE_PROTOCOL)
    stream.send(encodeHello([]))
    stream.send(encodeJoin(1, 'ns'))
    let bad = 0
    const refused = async (envelope: Uint8Array, what: string): Promise<void> => {
      stream.send(envelope)
      bad++
      await until(() => a.stats().badEnvelopes === bad, what)
    }
    await refused(encodeLoneWrite(1, 1, 'k', RecordKind.INVALIDATE, 5), 'a LONE before any WRITER')
    await refused(encodeWriter(2, 'p~1'), 'a WRITER for an unannounced namespace id')
    await refused(encodeWriterBytes(1, 'pé~1'), 'a WRITER whose origin id is not ASCII')
    await refused(encodeLoneWrite(2, 1, 'k', RecordKind.INVALIDATE, 5), 'a LONE for an unannounced namespace id')
    stream.send(encodeWriter(1, 'p~1'))
    const lone = encodeLoneWrite(1, 1, 'ké', RecordKind.INVALIDATE, 5)
    await refused(lone, 'a key not ASCII')
    const ascii = encodeLoneWrite(1, 1, 'k', RecordKind.INVALIDATE, 5)
    const cut = Uint8Array.from(ascii.subarray(0, ascii.length - 1))
    cut[0] = (cut[0] as number) - 1 // its length prefix, one byte shorter: the clock cut off
    await refused(cut, 'a truncated LONE')
    const longer = Uint8Array.from([...ascii, 0])
    longer[0] = (longer[0] as number) + 1
    await refused(longer, 'trailing bytes after LONE')
    assert.is(ra.lone.length, 0, 'nothing delivered')
    stream.send(ascii)
    await until(() => ra.lone.length === 1, 'the good LONE after them')
    assert.equal(ra.lone[0], { from: peer.peerId.toString(), origin: 'p~1', seq: 1, key: 'k', kind: RecordKind.INVALIDATE, hlc: 5 })
    // A JOIN of the namespace id again forgets its WRITER.
    stream.send(encodeJoin(1, 'ns'))
    await refused(encodeLoneWrite(1, 2, 'k', RecordKind.INVALIDATE, 6), 'a LONE after the id was joined again')
    assert.is(ra.lone.length, 1)
  } finally {
    await Promise.all([a.close(), peer.stop()])
  }
})

const PROTOCOLS_OF_PEER = [LONE_PROTOCOL, PROTOCOL]

/** A WRITER with any origin id, in UTF-8 (encodeWriter writes ASCII ids only). */
function encodeWriterBytes (nsId: number, origin: string): Uint8Array {
  const id = new TextEncoder().encode(origin)
  const body = [MSG_WRITER, nsId, id.length, ...id]
  return Uint8Array.from([body.length, ...body])
}

test('a cache refuses a lone write its limits refuse, counted by code, and keeps no state of it', async () => {
  const transport = await createLibp2pTransport({})
  const cache = await createMeshCache<string>({ namespace: 'ns', transport, limits: { maxKeyBytes: 8 } })
  const peer = await buildNode({ listen: ['/ip4/127.0.0.1/tcp/0'], psk: undefined, gater: new FaultSwitch().gater(), logger: undefined })
  await peer.handle(PROTOCOLS_OF_PEER, () => {})
  await peer.start()
  try {
    const stream = await peer.dialProtocol(multiaddr(transport.multiaddrs()[0] as string), LONE_PROTOCOL)
    stream.send(encodeHello([]))
    stream.send(encodeJoin(1, 'ns'))
    stream.send(encodeWriter(1, 'p~1'))
    const now = Date.now() * HLC_LOGICAL_RANGE // a write older than the horizon is dropped as expired
    stream.send(encodeLoneWrite(1, 1, 'k', 7, now)) // no such kind
    stream.send(encodeLoneWrite(1, 2, 'a-long-key', RecordKind.INVALIDATE, now)) // over maxKeyBytes
    stream.send(encodeLoneWrite(1, 3, 'ok', RecordKind.INVALIDATE, now))
    await until(() => cache.stats().remoteUpdates === 1, 'the good write')
    const stats = cache.stats()
    assert.equal(stats.protocolErrorsByCode, { E_FRAME_MALFORMED: 1, E_FRAME_TOO_LARGE: 1 })
    assert.is(stats.tombstones, 1, 'only the good write\'s state')
  } finally {
    await cache.close()
    await transport.close()
    await peer.stop()
  }
})

test('two caches: a lone write travels as LONE and takes effect, a burst as its frame', async () => {
  const ta = await createLibp2pTransport({})
  const tb = await createLibp2pTransport({ peers: ta.multiaddrs() })
  const a = await createMeshCache<string>({ namespace: 'ns', transport: ta })
  const b = await createMeshCache<string>({ namespace: 'ns', transport: tb })
  try {
    await Promise.all([a.ready(), b.ready()])
    a.invalidate('user:1')
    await until(() => b.stats().remoteUpdates === 1, 'the invalidation on b')
    // 100 more, each its own synchronous run: a LONE each (~25 bytes), where each frame is 55 bytes in DATA.
    const before = tb.stats().bytesReceived
    for (let i = 2; i <= 101; i++) {
      a.invalidate(`user:${i}`)
      await new Promise(resolve => setImmediate(resolve))
    }
    await until(() => b.stats().remoteUpdates === 101, '100 lone writes')
    const perWrite = (tb.stats().bytesReceived - before) / 100
    assert.ok(perWrite < 40, `${perWrite} bytes a lone write`)
    for (let i = 0; i < 3; i++) a.invalidate(`user:${100 + i}`) // one synchronous run: one frame
    await until(() => b.stats().remoteUpdates === 104, 'the burst')
    assert.is(b.stats().gapsDetected, 0)
  } finally {
    await Promise.all([a.close(), b.close()])
    await Promise.all([ta.close(), tb.close()])
  }
})

test.run()
