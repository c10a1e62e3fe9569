/**
 * The gossipsub relay tier (lib/net/libp2p/relay.ts) over real transports in one
 * process: which frames it carries, which stay direct, and message ids.
 * 12 processes relaying: test/mesh/fanout.test.ts.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMeshCache } from '../../lib/index.ts'
import { createLibp2pTransport } from '../../lib/net/libp2p/index.ts'
import { GossipRelay, regionTopicOf, relayMessageId, topicOf } from '../../lib/net/libp2p/relay.ts'
import { encodeFrame, MessageType, RecordKind, updatesFrameId } from '../../protocol/index.ts'
import { GUARD_MS, joinedPair, type JoinedPair } from './helpers.ts'

const updates = (origin: string, firstSeq: number, key: string): Uint8Array => encodeFrame({
  type: MessageType.UPDATES,
  origin,
  firstSeq,
  records: [{ key, kind: RecordKind.INVALIDATE, hlc: 1_700_000_000_000_000, writer: origin, vv: [origin, firstSeq] }],
})

/** Broadcasts distinct frames from a every 100 ms until b receives one (gossipsub grafts its mesh at heartbeats). */
async function firstRelayed (p: JoinedPair): Promise<{ sent: Uint8Array[], got: Uint8Array, from: string }> {
  const sent: Uint8Array[] = []
  const deadline = Date.now() + GUARD_MS
  for (let seq = 1; Date.now() < deadline; seq++) {
    const frame = updates('w~1', seq, `k${seq}`)
    sent.push(frame)
    p.ca.broadcast(frame)
    try {
      const r = await p.rb.waitFrame(100)
      return { sent, got: r.frame, from: r.from }
    } catch { /* not yet: the next one */ }
  }
  throw new Error('no relayed frame arrived')
}

test('with the relay on, broadcasts go over gossipsub and arrive from the neighbour that forwarded them', async () => {
  const p = await joinedPair({ gossipsub: { minPeers: 0 } })
  try {
    const { sent, got, from } = await firstRelayed(p)
    assert.ok(sent.some((f) => Buffer.from(f).equals(got)), 'a frame as sent')
    assert.is(from, p.a.peerId)
    assert.is(p.a.stats().framesRelayed, sent.length)
    assert.ok(p.b.stats().relayedReceived >= 1)
  } finally {
    await p.close()
  }
})

test('point-to-point frames, frames over 1 MiB and namespaces below minPeers stay on direct streams', async () => {
  const p = await joinedPair({ gossipsub: { minPeers: 0 } })
  try {
    p.ca.send(p.b.peerId, Uint8Array.of(1, 2, 3))
    assert.equal([...(await p.rb.waitFrame()).frame], [1, 2, 3])
    const big = new Uint8Array(2 * 1024 * 1024).fill(7)
    p.ca.broadcast(big)
    assert.is((await p.rb.waitFrame()).frame.length, big.length)
    assert.is(p.a.stats().framesRelayed, 0)
  } finally {
    await p.close()
  }
  const q = await joinedPair({ gossipsub: { minPeers: 2 } }) // one peer: below the threshold
  try {
    q.ca.broadcast(Uint8Array.of(9))
    assert.equal([...(await q.rb.waitFrame()).frame], [9])
    assert.is(q.a.stats().framesRelayed, 0)
  } finally {
    await q.close()
  }
})

test('a write made right after joining, before gossipsub has a mesh, still reaches the peer (relayed or repaired)', async () => {
  const ta = await createLibp2pTransport({ gossipsub: { minPeers: 0 } })
  const tb = await createLibp2pTransport({ gossipsub: { minPeers: 0 }, peers: ta.multiaddrs() })
  const a = await createMeshCache<string>({ namespace: 'early', transport: ta })
  const b = await createMeshCache<string>({ namespace: 'early', transport: tb })
  try {
    a.invalidate('early') // no peer up yet, no gossipsub mesh: this frame reaches nobody
    const deadline = Date.now() + GUARD_MS
    while (b.inspect('early')?.kind !== 'invalidate') {
      assert.ok(Date.now() < deadline, 'the write never arrived')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  } finally {
    await Promise.all([a.close(), b.close()])
    await Promise.all([ta.close(), tb.close()])
  }
})

test('message ids: an UPDATES frame is its (origin, first sequence number); anything else a hash of its bytes', () => {
  const a = updates('node-a~1', 7, 'x')
  assert.is(updatesFrameId(a), 'node-a~1/7')
  assert.is(new TextDecoder().decode(relayMessageId(a)), 'node-a~1/7')
  assert.is(updatesFrameId(updates('node-a~1', 8, 'x')), 'node-a~1/8', 'the next write of the same key is another message')
  const awareness = encodeFrame({ type: MessageType.AWARENESS, update: Uint8Array.of(1, 2, 3) })
  assert.is(updatesFrameId(awareness), undefined)
  assert.is(relayMessageId(awareness).length, 32, 'SHA-256 of the bytes')
  assert.not.equal(relayMessageId(awareness), relayMessageId(encodeFrame({ type: MessageType.AWARENESS, update: Uint8Array.of(1, 2, 4) })))
  assert.is(updatesFrameId(a.subarray(0, 4)), undefined, 'a truncated header has no id')
  assert.is(updatesFrameId(Uint8Array.of(99, 1)), undefined, 'nor an unknown version')
})

/** What GossipRelay uses of gossipsub, recorded; `hear` plays a message arriving on `topic`. */
function fakePubsub (): { pubsub: never, subscribed: Set<string>, published: string[], hear (topic: string, data: Uint8Array): void } {
  const listeners: Array<(evt: { detail: unknown }) => void> = []
  const subscribed = new Set<string>()
  const published: string[] = []
  const pubsub = {
    protocols: [],
    addEventListener: (_type: string, listener: (evt: { detail: unknown }) => void) => { listeners.push(listener) },
    subscribe: (topic: string) => { subscribed.add(topic) },
    unsubscribe: (topic: string) => { subscribed.delete(topic) },
    publish: async (topic: string) => { published.push(topic) },
  }
  const hear = (topic: string, data: Uint8Array): void => {
    for (const l of listeners) l({ detail: { msg: { topic, data }, propagationSource: { toString: () => 'peer-x' } } })
  }
  return { pubsub: pubsub as never, subscribed, published, hear }
}

const quiet = Object.assign(() => {}, { enabled: false, trace: () => {}, error: () => {}, newScope: () => quiet }) as never

test('with a region, a namespace also has its region\'s topic: writes the lane carries go there, everything else on the namespace\'s', async () => {
  const { pubsub, subscribed, published, hear } = fakePubsub()
  const delivered: string[] = []
  const relay = new GossipRelay(pubsub, 0, { deliver: (topic) => { delivered.push(topic) } }, () => [], quiet, 'eu')
  relay.join('ns')
  assert.equal([...subscribed].sort(), [topicOf('ns'), regionTopicOf('ns', 'eu')].sort())
  relay.publish('ns', Uint8Array.of(1), Infinity, true)
  relay.publish('ns', Uint8Array.of(2), Infinity)
  assert.equal(published, [regionTopicOf('ns', 'eu'), topicOf('ns')])
  hear(regionTopicOf('ns', 'eu'), Uint8Array.of(3))
  hear(topicOf('ns'), Uint8Array.of(4))
  await new Promise((resolve) => setTimeout(resolve, 0)) // delivered after the listener's run (relay.ts)
  assert.equal(delivered, [topicOf('ns'), topicOf('ns')], 'both delivered as the namespace\'s')
  relay.leave('ns')
  assert.equal([...subscribed], [])
})

test('without a region there is no region topic: every publish goes on the namespace\'s topic', () => {
  const { pubsub, subscribed, published } = fakePubsub()
  const relay = new GossipRelay(pubsub, 0, { deliver: () => {} }, () => [], quiet)
  relay.join('ns')
  relay.publish('ns', Uint8Array.of(1), Infinity, true)
  assert.equal([...subscribed], [topicOf('ns')])
  assert.equal(published, [topicOf('ns')])
})

test('region topics never equal a namespace\'s topic, nor each other for different (namespace, region) pairs', () => {
  const pairs: Array<[string, string]> = [['ns', 'eu'], ['x/ns', 'eu'], ['ns', 'eu/x'], ['1-region/2:eu/ns', ''], ['ns', 'us']]
  const topics = pairs.map(([ns, region]) => regionTopicOf(ns, region))
  assert.is(new Set(topics).size, topics.length)
  for (const [ns] of pairs) for (const t of topics) assert.is.not(t, topicOf(ns))
  assert.is.not(regionTopicOf('eu/x', 'ns'), regionTopicOf('x', 'ns/eu'))
})

test.run()
