/**
 * Partitions and healing in one process, with the transport's fault switch
 * (libp2p's connection gater): onPeerUp fires on every reconnection, and the
 * redialer reconnects after a block longer than libp2p's own retries.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createLibp2pTransport, generatePsk } from '../../lib/net/libp2p/index.ts'
import type { Libp2pTransport } from '../../lib/net/libp2p/index.ts'
import type { Channel } from '../../lib/net/transport.ts'
import { joinedPair, recorder, until } from './helpers.ts'
import type { Recorder } from './helpers.ts'

const psk = generatePsk()
const fast = { psk, redialInterval: 50, maxRedialInterval: 200, dialTimeout: 1000 }

interface Node { t: Libp2pTransport, r: Recorder, c: Channel }

async function pair (): Promise<[Node, Node]> {
  const ta = await createLibp2pTransport(fast)
  const tb = await createLibp2pTransport({ ...fast, peers: ta.multiaddrs() })
  const ra = recorder()
  const rb = recorder()
  const a = { t: ta, r: ra, c: await ta.join('ns', ra.handler) }
  const b = { t: tb, r: rb, c: await tb.join('ns', rb.handler) }
  await ra.waitUp(tb.peerId)
  await rb.waitUp(ta.peerId)
  return [a, b]
}

test('a cut connection comes back by itself, with onPeerDown then onPeerUp on both sides', async () => {
  const [a, b] = await pair()
  try {
    for (let round = 1; round <= 3; round++) {
      // alternate the side that cuts
      const [cutter, other] = round % 2 === 1 ? [a, b] : [b, a]
      cutter.t.faults.cut(other.t.peerId)
      await a.r.waitDown(b.t.peerId, round)
      await b.r.waitDown(a.t.peerId, round)
      await a.r.waitUp(b.t.peerId, round + 1)
      await b.r.waitUp(a.t.peerId, round + 1)
    }
    b.c.broadcast(Uint8Array.of(5))
    assert.equal([...(await a.r.waitFrame()).frame], [5])
  } finally {
    await Promise.all([a.t.close(), b.t.close()])
  }
})

test('after a partition longer than libp2p\'s own reconnect tries, the redialer heals it', async () => {
  const [a, b] = await pair()
  try {
    // a partition: each side's gater refuses the other
    a.t.faults.block([b.t.peerId])
    b.t.faults.block([a.t.peerId])
    await a.r.waitDown(b.t.peerId)
    await b.r.waitDown(a.t.peerId)
    // both sides keep trying past the 5 tries libp2p would make
    const failsA = a.t.stats().redialFailures
    const failsB = b.t.stats().redialFailures
    await until(() => a.t.stats().redialFailures >= failsA + 6 && b.t.stats().redialFailures >= failsB + 6, '6 more failed redials on each side')
    // writes during the partition go nowhere (the core repairs them on onPeerUp)
    a.c.broadcast(Uint8Array.of(1))
    assert.equal(a.c.peers(), [])
    a.t.faults.heal()
    b.t.faults.heal()
    await a.r.waitUp(b.t.peerId, 2)
    await b.r.waitUp(a.t.peerId, 2)
    a.c.broadcast(Uint8Array.of(2))
    assert.equal([...(await b.r.waitFrame()).frame], [2])
    assert.equal(b.r.frames.length, 1)
  } finally {
    await Promise.all([a.t.close(), b.t.close()])
  }
})

test('a restarted peer on the same bootstrap address is found again', async () => {
  const ta = await createLibp2pTransport(fast)
  const addr = ta.multiaddrs()[0] as string
  const plain = addr.slice(0, addr.indexOf('/p2p/'))
  const tb = await createLibp2pTransport({ ...fast, peers: [plain] })
  const rb = recorder()
  await tb.join('ns', rb.handler)
  let ta2: Libp2pTransport | undefined
  try {
    await ta.join('ns', recorder().handler)
    await rb.waitUp(ta.peerId)
    await ta.close()
    await rb.waitDown(ta.peerId)
    // same address, new identity (a process restart)
    ta2 = await createLibp2pTransport({ ...fast, listen: [plain] })
    await ta2.join('ns', recorder().handler)
    await rb.waitUp(ta2.peerId)
  } finally {
    await Promise.all([tb.close(), ta2?.close()])
  }
})

test('frames of 3 MiB and 6 MiB arrive whole; one over maxFrameBytes is refused and counted', async () => {
  const ta = await createLibp2pTransport({ ...fast, maxFrameBytes: 8 * 1024 * 1024 })
  const tb = await createLibp2pTransport({ ...fast, peers: ta.multiaddrs() })
  const ra = recorder()
  const rb = recorder()
  const ca = await ta.join('ns', ra.handler)
  await tb.join('ns', rb.handler)
  try {
    await rb.waitUp(ta.peerId)
    await ra.waitUp(tb.peerId)
    const pattern = (n: number, seed: number): Uint8Array => new Uint8Array(n).map((_, i) => (i * 31 + seed) % 251)
    const f3 = pattern(3 * 1024 * 1024, 1)
    const f6 = pattern(6 * 1024 * 1024 + 7, 2)
    ca.broadcast(f3)
    ca.broadcast(pattern(9 * 1024 * 1024, 3)) // over maxFrameBytes: refused by the sender
    assert.equal((await rb.waitFrame(20_000)).frame, f3)
    ca.broadcast(f6)
    assert.equal((await rb.waitFrame(20_000)).frame, f6)
    ca.send(tb.peerId, Uint8Array.of(1))
    assert.equal([...(await rb.waitFrame()).frame], [1])
    assert.is(ta.stats().droppedOversize, 1)
    assert.is(tb.stats().badEnvelopes, 0)
  } finally {
    await Promise.all([ta.close(), tb.close()])
  }
})

test('a receiver with a lower maxFrameBytes drops the big frame and keeps the stream', async () => {
  const { b: tb, rb, ca, close } = await joinedPair(fast, { ...fast, maxFrameBytes: 2 * 1024 * 1024 })
  try {
    ca.broadcast(new Uint8Array(3 * 1024 * 1024 + 1))
    ca.broadcast(Uint8Array.of(2))
    assert.equal([...(await rb.waitFrame()).frame], [2])
    assert.is(tb.stats().badEnvelopes, 1)
    assert.equal(rb.downs, [])
  } finally {
    await close()
  }
})

test('a saturated peer stream drops whole frames (counted) instead of queueing them', async () => {
  const { a: ta, rb, ca, close } = await joinedPair({ ...fast, maxBufferedBytes: 1024 * 1024 }, fast)
  try {
    // the first 3 MiB fill yamux's 256 KiB window: the rest waits in the
    // stream's buffer, over maxBufferedBytes, so the next frame is dropped
    ca.broadcast(new Uint8Array(3 * 1024 * 1024).fill(1))
    ca.broadcast(new Uint8Array(10).fill(2))
    assert.is(ta.stats().droppedBackpressure, 1)
    assert.is((await rb.waitFrame(20_000)).frame.length, 3 * 1024 * 1024)
    ca.broadcast(new Uint8Array(10).fill(3))
    assert.equal([...(await rb.waitFrame()).frame], new Array(10).fill(3))
    assert.is(rb.frames.length, 2)
  } finally {
    await close()
  }
})

test.run()
