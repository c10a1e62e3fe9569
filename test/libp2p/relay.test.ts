/**
 * The gossipsub relay tier (lib/net/libp2p/relay.ts) over real transports in one
 * process: which frames it carries, which stay direct, and message ids.
 * 12 processes relaying: test/mesh/fanout.test.ts.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMeshCache } from '../../lib/index.ts'
import { createLibp2pTransport } from '../../lib/net/libp2p/index.ts'
import { GossipRelay, MAX_JOINED_REGIONS, namespaceOfRegionTopic, regionTopicOf, relayMessageId, topicOf } from '../../lib/net/libp2p/relay.ts'
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

/**
 * What GossipRelay uses of gossipsub, recorded; `hear` plays a message arriving on `topic`, `tell` a peer's
 * subscription (a 'subscription-change'), `known` the subscribers gossipsub already holds by topic.
 */
function fakePubsub (known: Record<string, string[]> = {}): { pubsub: never, subscribed: Set<string>, published: string[], hear (topic: string, data: Uint8Array): void, tell (peer: string, topic: string, subscribe: boolean): void } {
  const listeners = new Map<string, Array<(evt: { detail: unknown }) => void>>()
  const subscribed = new Set<string>()
  const published: string[] = []
  const pubsub = {
    protocols: [],
    addEventListener: (type: string, listener: (evt: { detail: unknown }) => void) => { listeners.set(type, [...listeners.get(type) ?? [], listener]) },
    subscribe: (topic: string) => { subscribed.add(topic) },
    unsubscribe: (topic: string) => { subscribed.delete(topic) },
    publish: async (topic: string) => { published.push(topic) },
    getSubscribers: (topic: string) => (known[topic] ?? []).map((id) => ({ toString: () => id })),
  }
  const emit = (type: string, detail: unknown): void => { for (const l of listeners.get(type) ?? []) l({ detail }) }
  const hear = (topic: string, data: Uint8Array): void => { emit('gossipsub:message', { msg: { topic, data }, propagationSource: { toString: () => 'peer-x' } }) }
  const tell = (peer: string, topic: string, subscribe: boolean): void => { emit('subscription-change', { peerId: { toString: () => peer }, subscriptions: [{ topic, subscribe }] }) }
  return { pubsub: pubsub as never, subscribed, published, hear, tell }
}

const quiet = Object.assign(() => {}, { enabled: false, trace: () => {}, error: () => {}, newScope: () => quiet }) as never

test('with a region, a namespace also has its region\'s topic: writes the lane carries go there, everything else on the namespace\'s', async () => {
  const { pubsub, subscribed, published, hear } = fakePubsub()
  const delivered: string[] = []
  const relay = new GossipRelay(pubsub, 0, { deliver: (topic, _from, _frame, regional) => { delivered.push(`${topic}${regional ? ' (regional)' : ''}`) } }, () => [], quiet, 'eu')
  relay.join('ns')
  assert.equal([...subscribed].sort(), [topicOf('ns'), regionTopicOf('ns', 'eu')].sort())
  relay.publish('ns', Uint8Array.of(1), Infinity, true)
  relay.publish('ns', Uint8Array.of(2), Infinity)
  assert.equal(published, [regionTopicOf('ns', 'eu'), topicOf('ns')])
  hear(regionTopicOf('ns', 'eu'), Uint8Array.of(3))
  hear(topicOf('ns'), Uint8Array.of(4))
  await new Promise((resolve) => setTimeout(resolve, 0)) // delivered after the listener's run (relay.ts)
  assert.equal(delivered, [`${topicOf('ns')} (regional)`, topicOf('ns')], 'both delivered as the namespace\'s, the first marked as from the region\'s topic')
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

test('a neighbour that does not join our region\'s topic misses its writes (the lane then hands it copies); one that told us it does, not', () => {
  // p1 subscribed before we joined (gossipsub kept it); p2 tells us after; p3 never (no region, or an older release)
  const { pubsub, tell } = fakePubsub({ [regionTopicOf('ns', 'eu')]: ['p1'] })
  const relay = new GossipRelay(pubsub, 0, { deliver: () => {} }, () => [], quiet, 'eu')
  relay.join('ns')
  tell('p2', regionTopicOf('ns', 'eu'), true)
  tell('p3', topicOf('ns'), true)
  tell('p3', regionTopicOf('ns', 'us'), true) // another region's topic is not ours
  assert.equal(['p1', 'p2', 'p3'].map((p) => relay.missesRegionWrites('ns', p)), [false, false, true])
  assert.ok(relay.missesRegionWrites('other', 'p1'), 'a namespace not joined: nobody is known on its topic')
  tell('p2', regionTopicOf('ns', 'eu'), false)
  assert.ok(relay.missesRegionWrites('ns', 'p2'), 'unsubscribed')
  relay.peerGone('p1')
  assert.ok(relay.missesRegionWrites('ns', 'p1'), 'gone: it tells its subscriptions again when back')
  // without a region nobody misses anything: every write goes on the namespace's topic
  const plain = new GossipRelay(fakePubsub().pubsub, 0, { deliver: () => {} }, () => [], quiet)
  plain.join('ns')
  assert.not.ok(plain.missesRegionWrites('ns', 'p3'))
})

test('without a region, an instance joins the region topics its peers join, and passes their writes on as a member', async () => {
  const { pubsub, subscribed, tell, hear } = fakePubsub()
  const delivered: string[] = []
  const relay = new GossipRelay(pubsub, 0, { deliver: (topic, _from, _frame, regional) => { delivered.push(`${topic}${regional ? ' (regional)' : ''}`) } }, () => [], quiet)
  tell('p1', regionTopicOf('ns', 'eu'), true) // told before we join: remembered
  relay.join('ns')
  tell('p2', regionTopicOf('ns', 'us'), true)
  tell('p3', regionTopicOf('other', 'us'), true) // a namespace we did not join: remembered, not joined
  tell('p3', '/meshcache/1-region/9:eu/ns', true) // not a region topic's shape: ignored
  assert.equal([...subscribed].sort(), [topicOf('ns'), regionTopicOf('ns', 'eu'), regionTopicOf('ns', 'us')].sort())
  hear(regionTopicOf('ns', 'us'), Uint8Array.of(1))
  await new Promise((resolve) => setTimeout(resolve, 0))
  assert.equal(delivered, [`${topicOf('ns')} (regional)`])
  relay.join('other')
  assert.ok(subscribed.has(regionTopicOf('other', 'us')))
  // bounded: a peer cannot make us join any number of topics
  for (let i = 0; i < MAX_JOINED_REGIONS + 5; i++) tell('p4', regionTopicOf('ns', `r${i}`), true)
  assert.is([...subscribed].filter((t) => namespaceOfRegionTopic(t) === 'ns').length, MAX_JOINED_REGIONS)
  relay.leave('ns')
  assert.equal([...subscribed].sort(), [topicOf('other'), regionTopicOf('other', 'us')].sort())
})

test('namespaceOfRegionTopic reads back what regionTopicOf wrote, and nothing else', () => {
  for (const [ns, region] of [['ns', 'eu'], ['a/b', 'x/y'], ['ns', ''], ['', 'eu'], ['n:s', '1:2']] as const) {
    assert.is(namespaceOfRegionTopic(regionTopicOf(ns, region)), ns)
  }
  for (const t of [topicOf('ns'), '/meshcache/1-region/', '/meshcache/1-region/x:eu/ns', '/meshcache/1-region/5:eu/ns', '/meshcache/1-region/2:eu']) {
    assert.is(namespaceOfRegionTopic(t), undefined, t)
  }
})

test('region topics never equal a namespace\'s topic, nor each other for different (namespace, region) pairs', () => {
  const pairs: Array<[string, string]> = [['ns', 'eu'], ['x/ns', 'eu'], ['ns', 'eu/x'], ['1-region/2:eu/ns', ''], ['ns', 'us']]
  const topics = pairs.map(([ns, region]) => regionTopicOf(ns, region))
  assert.is(new Set(topics).size, topics.length)
  for (const [ns] of pairs) for (const t of topics) assert.is.not(t, topicOf(ns))
  assert.is.not(regionTopicOf('eu/x', 'ns'), regionTopicOf('x', 'ns/eu'))
})

test.run()
