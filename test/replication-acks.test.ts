/**
 * The receiver side of whenReplicated (lib/sync/replication-acks.ts), unit:
 * a request for numbers not yet applied is parked and answered once they
 * are; parked state is bounded; a peer that leaves takes its requests along.
 * In a partial mesh (SPEC §5.1): a relayed request is passed on once and
 * answered back the way it came; answers of other writers retrace it.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { decodeFrame, MessageType } from '../protocol/index.ts'
import { ReplicationAcks, farMembers } from '../lib/sync/replication-acks.ts'
import { ASK_AGAIN_MAX_MS, ASK_AGAIN_MS, GROUP_MS } from '../lib/sync/replication-waits.ts'
import { readFileSync } from 'node:fs'
import { AckRoutes, MAX_ANSWERS_PER_ROUTE, MAX_ROUTE_MS, MAX_ROUTES, MIN_ROUTE_MS } from '../lib/sync/ack-routes.ts'
import type { PeerInfo } from '../lib/sync/membership.ts'

function receiver () {
  const contiguous = new Map<string, number>()
  const sent: Array<{ peer: string, ackId: number, seq: number }> = []
  const acks = new ReplicationAcks({
    origin: 'me~1',
    issued: () => 0,
    flush: () => {},
    peers: () => [],
    far: () => [],
    self: () => 'me',
    send: (peer, frame) => {
      const msg = decodeFrame(frame)
      if (msg.type === MessageType.ACK) sent.push({ peer, ackId: msg.ackId, seq: msg.seq })
    },
    contiguous: (origin) => contiguous.get(origin) ?? 0,
  })
  return { acks, contiguous, sent }
}

test('applied already: answered at once; not yet: parked, then answered when the numbers arrive', () => {
  const { acks, contiguous, sent } = receiver()
  contiguous.set('w~1', 5)
  acks.onRequest('p', { type: MessageType.ACK_REQUEST, ackId: 1, origin: 'w~1', seq: 5 })
  assert.equal(sent, [{ peer: 'p', ackId: 1, seq: 5 }])
  acks.onRequest('p', { type: MessageType.ACK_REQUEST, ackId: 2, origin: 'w~1', seq: 8 })
  acks.onRequest('p', { type: MessageType.ACK_REQUEST, ackId: 3, origin: 'w~1', seq: 7 })
  acks.recheck()
  assert.is(sent.length, 1, 'nothing more until 8 is applied')
  contiguous.set('w~1', 8) // a repair filled the gap
  acks.recheck()
  assert.equal(sent.slice(1), [{ peer: 'p', ackId: 2, seq: 8 }, { peer: 'p', ackId: 3, seq: 8 }])
  acks.recheck()
  assert.is(sent.length, 3, 'answered once')
})

test('a peer that leaves takes its parked requests along; parked state is bounded', () => {
  const { acks, contiguous, sent } = receiver()
  acks.onRequest('gone', { type: MessageType.ACK_REQUEST, ackId: 1, origin: 'w~1', seq: 3 })
  acks.peerGone('gone')
  contiguous.set('w~1', 3)
  acks.recheck()
  assert.is(sent.length, 0)
  // 100 ids for one (peer, origin): only the latest 64 are kept
  for (let id = 1; id <= 100; id++) acks.onRequest('p', { type: MessageType.ACK_REQUEST, ackId: id, origin: 'w~2', seq: 9 })
  contiguous.set('w~2', 9)
  acks.recheck()
  assert.is(sent.length, 64)
  assert.is(sent[0]?.ackId, 37)
})

test('the writer side: an ACK below the target does not count; close rejects pending calls', async () => {
  const frames: Array<{ peer: string, frame: Uint8Array }> = []
  const acks = new ReplicationAcks({
    origin: 'me~1',
    issued: () => 4,
    flush: () => {},
    peers: () => ['p', 'q'],
    far: () => [],
    self: () => 'me',
    send: (peer, frame) => { frames.push({ peer, frame }) },
    contiguous: () => 0,
  })
  const waiting = acks.whenReplicated(10_000)
  const req = decodeFrame(frames[0]!.frame)
  assert.is(req.type, MessageType.ACK_REQUEST)
  const ackId = (req as { ackId: number }).ackId
  acks.onAck('p', { type: MessageType.ACK, ackId, seq: 4 })
  acks.onAck('q', { type: MessageType.ACK, ackId, seq: 3 })
  acks.close()
  try {
    await waiting
    assert.unreachable()
  } catch (e) {
    assert.is((e as { code?: string }).code, 'E_CLOSED')
  }
})

/** A node of a partial mesh: neighbours `peers`, and every frame it sends, decoded. */
function relayNode (peers: string[], far: string[] = []) {
  const contiguous = new Map<string, number>()
  const sent: Array<{ peer: string, msg: ReturnType<typeof decodeFrame> }> = []
  const acks = new ReplicationAcks({
    origin: 'me~1',
    issued: () => 4,
    flush: () => {},
    peers: () => peers,
    far: () => far,
    self: () => 'me',
    send: (peer, frame) => { sent.push({ peer, msg: decodeFrame(frame) }) },
    contiguous: (origin) => contiguous.get(origin) ?? 0,
  })
  return { acks, contiguous, sent }
}

const relayReq = (ackId: number, seq = 5, origin = 'w~1', wait = 5_000) => ({ type: MessageType.RELAY_ACK_REQUEST, ackId, origin, seq, wait }) as const

test('a relayed request: passed on once to every other neighbour, confirmed back to where it came from once applied', () => {
  const { acks, contiguous, sent } = relayNode(['a', 'b', 'c'])
  acks.onRelayRequest('a', relayReq(1))
  assert.equal(sent.map((s) => [s.peer, s.msg.type]), [['b', MessageType.RELAY_ACK_REQUEST], ['c', MessageType.RELAY_ACK_REQUEST]])
  assert.equal(sent[0]?.msg, relayReq(1), 'passed on unchanged')
  acks.onRelayRequest('b', relayReq(1)) // the same request over another path
  assert.is(sent.length, 2, 'a duplicate is neither passed on nor answered')
  acks.recheck()
  assert.is(sent.length, 2, 'not applied yet: parked')
  contiguous.set('w~1', 5)
  acks.recheck()
  assert.equal(sent[2], { peer: 'a', msg: { type: MessageType.RELAY_ACK, ackId: 1, origin: 'w~1', members: ['me'] } })
  acks.recheck()
  assert.is(sent.length, 3, 'answered once')
  acks.onRelayRequest('c', relayReq(2))
  assert.equal(sent.slice(3).map((s) => [s.peer, s.msg.type]), [['a', MessageType.RELAY_ACK_REQUEST], ['b', MessageType.RELAY_ACK_REQUEST], ['c', MessageType.RELAY_ACK]],
    'applied already: passed on, and answered at once')
})

test('answers of another writer retrace its request; ours count; our own request coming back is dropped', async () => {
  const { acks, sent } = relayNode(['a', 'b'])
  acks.onRelayRequest('a', relayReq(7))
  sent.length = 0
  const answer = { type: MessageType.RELAY_ACK as typeof MessageType.RELAY_ACK, ackId: 7, origin: 'w~1', members: ['x', 'y'] }
  acks.onRelayAck('b', answer)
  assert.equal(sent, [{ peer: 'a', msg: answer }], 'towards the writer, unchanged')
  acks.onRelayAck('b', { ...answer, ackId: 8 })
  assert.is(sent.length, 1, 'an answer to a request never seen here is dropped')
  acks.onRelayRequest('a', relayReq(3, 1, 'me~1'))
  assert.is(sent.length, 1, 'our own request is not passed on')
})

test('the writer in a partial mesh: a relayed request to its neighbours; resolved once every neighbour and far member confirmed', async () => {
  const { acks, sent } = relayNode(['a', 'b'], ['c', 'd'])
  let done = false
  const waiting = acks.whenReplicated(10_000).then(() => { done = true })
  assert.equal(sent.map((s) => [s.peer, { ...s.msg, wait: 0 }]), [['a', relayReq(1, 4, 'me~1', 0)], ['b', relayReq(1, 4, 'me~1', 0)]])
  const wait = (sent[0]?.msg as { wait: number }).wait
  assert.ok(wait > 9_900 && wait <= 10_000, `wait ${wait}: the call's timeout`)
  acks.onRelayAck('a', { type: MessageType.RELAY_ACK, ackId: 1, origin: 'me~1', members: ['a', 'c'] })
  acks.onRelayAck('b', { type: MessageType.RELAY_ACK, ackId: 1, origin: 'me~1', members: ['b'] })
  await Promise.resolve()
  assert.is(done, false, 'd has not confirmed')
  acks.onRelayAck('b', { type: MessageType.RELAY_ACK, ackId: 1, origin: 'me~1', members: ['d'] })
  await waiting
  assert.ok(done)
})

test('the writer in a partial mesh: the timeout names the far member that did not confirm', async () => {
  const { acks } = relayNode(['a'], ['c'])
  const waiting = acks.whenReplicated(50)
  acks.onRelayAck('a', { type: MessageType.RELAY_ACK, ackId: 1, origin: 'me~1', members: ['a'] })
  try {
    await waiting
    assert.unreachable()
  } catch (e) {
    assert.is((e as { code?: string }).code, 'E_REPLICATION_TIMEOUT')
    assert.match((e as Error).message, /1 of 2 peer\(s\) did not confirm writes up to #4 within 50 ms: c$/)
  }
})

test('the timeout names a far member by its transport id and the node id it announces', async () => {
  const acks = new ReplicationAcks({
    origin: 'me~1', issued: () => 4, flush: () => {}, peers: () => ['a'], far: () => ['12D3KooWfar', 'same'], self: () => 'me',
    nodeIdOf: (id) => id === '12D3KooWfar' ? 'billing-7' : id === 'same' ? 'same' : undefined,
    send: () => {}, contiguous: () => 0,
  })
  try {
    await acks.whenReplicated(50)
    assert.unreachable()
  } catch (e) {
    assert.match((e as Error).message, /3 of 3 peer\(s\) did not confirm writes up to #4 within 50 ms: 12D3KooWfar \(node billing-7\), a, same$/)
  }
})

test('farMembers: members that are neither neighbours nor this instance and announce a transport id; every live one where the mesh relays', () => {
  const m = (transportId: string | undefined, connected: boolean) => ({ connected, ...(transportId === undefined ? {} : { transportId }) }) as PeerInfo
  const members = [m('a', true), m('c', true), m('c', true), m('d', false), m(undefined, true), m('me', true)]
  assert.equal(farMembers(members, new Set(['a', 'b']), 'me', false), ['c'], 'reachable through a neighbour')
  assert.equal(farMembers(members, new Set(['a', 'b']), 'me', true), ['c', 'd'], 'd heard through a neighbour since let go')
})

test('ways back expire with the wait, never before MIN_ROUTE_MS, and are bounded', () => {
  let now = 0
  const routes = new AckRoutes(() => now)
  assert.ok(routes.add('w', 1, 'a', MIN_ROUTE_MS + 100))
  assert.not.ok(routes.add('w', 1, 'b', MIN_ROUTE_MS + 100), 'a duplicate')
  assert.is(routes.back('w', 1), 'a')
  now = MIN_ROUTE_MS + 100
  assert.is(routes.back('w', 1), undefined, 'expired with the wait')
  assert.ok(routes.add('w', 1, 'b', 100), 'and may be set again')
  // A call near its deadline names a few ms; a copy of its request coming later over a slower path is still a
  // duplicate, not a request to pass on to every neighbour again.
  assert.ok(routes.add('w', 2, 'a', 1))
  now += MIN_ROUTE_MS - 1
  assert.not.ok(routes.add('w', 2, 'c', 1), 'a late copy of a 1 ms request: still a duplicate')
  assert.is(routes.back('w', 2), 'a')
  now += 1
  assert.is(routes.back('w', 2), undefined, 'gone after MIN_ROUTE_MS')
  for (let id = 2; id <= MAX_ROUTES + 10; id++) routes.add('w', id, 'a', 1_000)
  assert.is(routes.size, MAX_ROUTES)
  assert.is(routes.back('w', MAX_ROUTES + 10), 'a', 'the newest kept')
  // At the bound, the oldest go first: the expired ones at the front, then one to make room.
  const full = new AckRoutes(() => now)
  now = 0
  for (let id = 1; id <= 10; id++) full.add('v', id, 'a', 1)
  for (let id = 11; id <= MAX_ROUTES; id++) full.add('v', id, 'a', MAX_ROUTE_MS)
  now = MIN_ROUTE_MS
  assert.ok(full.add('v', MAX_ROUTES + 1, 'b', 1))
  assert.is(full.size, MAX_ROUTES - 9, 'the ten expired dropped, the live kept')
  assert.is(full.back('v', 11), 'a')
  for (let id = MAX_ROUTES + 2; id <= MAX_ROUTES + 20; id++) full.add('v', id, 'b', 1)
  assert.is(full.size, MAX_ROUTES)
  assert.is(full.back('v', 11), undefined, 'then the oldest live one, to make room')
  assert.is(full.back('v', MAX_ROUTES + 20), 'b')
})

test('an answer is passed back once a node: a cycle of ways back (a writer restarted under its peer id) does not pass it round for ever', () => {
  // Three nodes whose ways back for one request form a cycle: a took it from b, b from c, c from a. The writer
  // restarted under the same peer id makes such a cycle (its predecessor's requests come back to it as another
  // writer's; seed 1820796 of check:seeds), and so does a way forgotten before a late copy.
  const nodes = new Map(['a', 'b', 'c'].map((name) => {
    const others = ['a', 'b', 'c'].filter((p) => p !== name)
    const node = relayNode(others)
    return [name, node] as const
  }))
  const node = (name: string) => nodes.get(name) as ReturnType<typeof relayNode>
  node('a').acks.onRelayRequest('b', relayReq(9))
  node('b').acks.onRelayRequest('c', relayReq(9))
  node('c').acks.onRelayRequest('a', relayReq(9))
  for (const n of nodes.values()) n.sent.length = 0
  const answer = { type: MessageType.RELAY_ACK as typeof MessageType.RELAY_ACK, ackId: 9, origin: 'w~1', members: ['m'] }
  const queue: Array<{ from: string, to: string }> = [{ from: 'x', to: 'a' }]
  let delivered = 0
  while (queue.length > 0 && delivered < 100) {
    const { from, to } = queue.shift() as { from: string, to: string }
    delivered++
    const before = node(to).sent.length
    node(to).acks.onRelayAck(from, answer)
    for (const out of node(to).sent.slice(before)) if (nodes.has(out.peer)) queue.push({ from: to, to: out.peer })
  }
  assert.is(queue.length, 0, `the answer still circling after ${delivered} deliveries`)
  assert.equal([...nodes].map(([name, n]) => [name, n.sent.map((s) => s.peer)]), [['a', ['b']], ['b', ['c']], ['c', ['a']]], 'each node passed it back once')
  // Another member's answer to the same request is passed back too; a copy of one passed already is not.
  node('a').acks.onRelayAck('x', { ...answer, members: ['n'] })
  node('a').acks.onRelayAck('x', { ...answer, members: ['n'] })
  assert.equal(node('a').sent.map((s) => s.peer), ['b', 'b'])
})

test('answers passed back along one way are bounded', () => {
  const routes = new AckRoutes(() => 0)
  routes.add('w', 1, 'a', 1_000)
  for (let i = 0; i < MAX_ANSWERS_PER_ROUTE; i++) assert.is(routes.passBack('w', 1, [`m${i}`]), 'a')
  assert.is(routes.passBack('w', 1, ['one more']), undefined, 'past the bound: dropped, the writer times out')
  assert.is(routes.passBack('w', 2, ['m0']), undefined, 'no way back: dropped')
})

test('SPEC.md §5.1 names the bounds of the ways back the code keeps', () => {
  const spec = readFileSync(new URL('../SPEC.md', import.meta.url), 'utf8')
  const section = spec.slice(spec.indexOf('### 5.1'), spec.indexOf('## 6. Anti-entropy'))
  for (const text of [`at least ${MIN_ROUTE_MS / 1000} s`, `at most ${MAX_ROUTE_MS / 60_000} minutes`,
    `at most ${MAX_ROUTES.toLocaleString('en')} such ways`, `at most ${MAX_ANSWERS_PER_ROUTE.toLocaleString('en')} a way`]) {
    assert.ok(section.replace(/\s+/g, ' ').includes(text), `SPEC.md §5.1 says "${text}"`)
  }
})

test('a call still waiting asks again under a new id after ASK_AGAIN_MS, then every ASK_AGAIN_MAX_MS, only those that have not confirmed', async () => {
  const { acks, sent } = relayNode(['p', 'q'])
  const waiting = acks.whenReplicated(8 * ASK_AGAIN_MS)
  const asked = () => sent.map((s) => [s.peer, s.msg.type, (s.msg as { ackId: number }).ackId])
  assert.equal(asked(), [['p', MessageType.ACK_REQUEST, 1], ['q', MessageType.ACK_REQUEST, 1]])
  acks.onAck('p', { type: MessageType.ACK, ackId: 1, seq: 4 })
  await new Promise((resolve) => setTimeout(resolve, ASK_AGAIN_MS + 100))
  assert.equal(asked().slice(2), [['q', MessageType.ACK_REQUEST, 2]], 'q alone, asked again after 1 s')
  await new Promise((resolve) => setTimeout(resolve, ASK_AGAIN_MS))
  assert.is(sent.length, 3, 'not again 1 s later: the next is ASK_AGAIN_MAX_MS (2 s) after the last')
  await new Promise((resolve) => setTimeout(resolve, ASK_AGAIN_MS))
  assert.equal(asked().slice(3), [['q', MessageType.ACK_REQUEST, 3]], '3 s in')
  await new Promise((resolve) => setTimeout(resolve, ASK_AGAIN_MAX_MS))
  assert.equal(asked().slice(4), [['q', MessageType.ACK_REQUEST, 4]], '5 s in: every ASK_AGAIN_MAX_MS, not doubling on (7 s)')
  acks.onAck('q', { type: MessageType.ACK, ackId: 1, seq: 4 }) // the first request's answer, late
  await waiting
  await new Promise((resolve) => setTimeout(resolve, ASK_AGAIN_MS + 100))
  assert.is(sent.length, 5, 'a settled call asks no more')
})

/** A writer whose last number is `issued.n`, its neighbours `peers`, every frame it sends decoded. */
function writer (peers: string[], far: string[] = []) {
  const issued = { n: 0 }
  const sent: Array<{ peer: string, msg: ReturnType<typeof decodeFrame> }> = []
  const acks = new ReplicationAcks({
    origin: 'me~1', issued: () => issued.n, flush: () => {}, peers: () => peers, far: () => far, self: () => 'me',
    send: (peer, frame) => { sent.push({ peer, msg: decodeFrame(frame) }) },
    contiguous: () => 0,
  })
  const requests = () => sent.map((s) => [s.peer, (s.msg as { ackId: number }).ackId, (s.msg as { seq: number }).seq])
  return { acks, issued, sent, requests }
}

test('calls made while a wave is young share the next one: a request a member for all of them, for the newest number', async () => {
  const { acks, issued, requests } = writer(['p', 'q'])
  const done: string[] = []
  issued.n = 1
  const a = acks.whenReplicated(10_000).then(() => done.push('a'))
  assert.equal(requests(), [['p', 1, 1], ['q', 1, 1]], 'the first call asks at once')
  issued.n = 2
  const b = acks.whenReplicated(10_000).then(() => done.push('b'))
  issued.n = 3
  const c = acks.whenReplicated(10_000).then(() => done.push('c'))
  assert.is(requests().length, 2, 'b and c wait for the young wave')
  acks.onAck('p', { type: MessageType.ACK, ackId: 1, seq: 1 })
  assert.is(requests().length, 2, 'q has not answered: the wave is still young')
  acks.onAck('q', { type: MessageType.ACK, ackId: 1, seq: 1 })
  await a
  assert.equal(requests().slice(2), [['p', 2, 3], ['q', 2, 3]], 'answered: one wave for b and c, asking for #3')
  acks.onAck('p', { type: MessageType.ACK, ackId: 2, seq: 3 })
  acks.onAck('q', { type: MessageType.ACK, ackId: 2, seq: 3 })
  await Promise.all([b, c])
  assert.equal(done, ['a', 'b', 'c'])
})

test('an answer for a newer number confirms the calls made before it; one below a call\'s number does not', async () => {
  const { acks, issued, requests } = writer(['p'])
  let aDone = false
  let bDone = false
  issued.n = 4
  const a = acks.whenReplicated(10_000).then(() => { aDone = true })
  await new Promise((resolve) => setTimeout(resolve, GROUP_MS + 5)) // the first wave ages unanswered (its request lost)
  issued.n = 9
  const b = acks.whenReplicated(10_000).then(() => { bDone = true })
  assert.equal(requests(), [['p', 1, 4], ['p', 2, 9]], 'an aged wave does not hold the next back')
  acks.onAck('p', { type: MessageType.ACK, ackId: 2, seq: 6 })
  await Promise.resolve()
  assert.ok(aDone, 'p applied up to #6: the call for #4 is confirmed by the answer to the other request')
  assert.not.ok(bDone, 'the call for #9 is not')
  acks.onAck('p', { type: MessageType.ACK, ackId: 2, seq: 9 })
  await Promise.all([a, b])
  assert.ok(bDone)
})

test('a wave nobody answers holds the next back for GROUP_MS at most; relayed answers count for every call', async () => {
  const { acks, issued, sent } = writer(['a'], ['c'])
  issued.n = 1
  const first = acks.whenReplicated(10_000)
  issued.n = 2
  const second = acks.whenReplicated(10_000)
  assert.is(sent.length, 1, 'one relayed request to the one neighbour')
  await new Promise((resolve) => setTimeout(resolve, GROUP_MS + 20))
  assert.equal(sent.map((s) => [s.peer, s.msg.type, (s.msg as { seq: number }).seq]), [['a', MessageType.RELAY_ACK_REQUEST, 1], ['a', MessageType.RELAY_ACK_REQUEST, 2]])
  acks.onRelayAck('a', { type: MessageType.RELAY_ACK, ackId: 2, origin: 'me~1', members: ['a', 'c'] })
  await Promise.all([first, second])
  acks.onRelayAck('a', { type: MessageType.RELAY_ACK, ackId: 1, origin: 'me~1', members: ['a'] }) // late, nothing waits: ignored
  await new Promise((resolve) => setTimeout(resolve, ASK_AGAIN_MS + 50))
  assert.is(sent.length, 2, 'nothing waits: nothing is asked again')
})

test('a call that times out waiting for a silent member leaves the others to resolve, and nothing behind once all settle', async () => {
  const { acks, issued, requests } = writer(['p', 'dead'])
  issued.n = 1
  const short = acks.whenReplicated(30)
  issued.n = 2
  const long = acks.whenReplicated(10_000)
  acks.onAck('p', { type: MessageType.ACK, ackId: 1, seq: 1 })
  try {
    await short
    assert.unreachable()
  } catch (e) {
    assert.match((e as Error).message, /1 of 2 peer\(s\) did not confirm writes up to #1 within 30 ms: dead$/)
  }
  // the wave for the long call went once the first had aged; p and then dead answer it
  const second = requests().find(([, id]) => id === 2)
  assert.ok(second !== undefined, 'the waiting call was asked for')
  acks.onAck('p', { type: MessageType.ACK, ackId: 2, seq: 2 })
  acks.onAck('dead', { type: MessageType.ACK, ackId: 2, seq: 2 })
  await long
})

test('a member whose every call timed out is asked no more, though it was a neighbour once', async () => {
  const peers = ['p', 'dead']
  const { acks, issued, requests } = writer(peers)
  issued.n = 1
  const first = acks.whenReplicated(10_000)
  issued.n = 2
  const timesOut = acks.whenReplicated(30).catch((e: Error) => e.message)
  acks.onAck('p', { type: MessageType.ACK, ackId: 1, seq: 2 })
  assert.match(String(await timesOut), /within 30 ms: dead$/)
  acks.onAck('dead', { type: MessageType.ACK, ackId: 1, seq: 1 })
  await first
  peers.pop() // dead's connection is gone
  issued.n = 3
  const after = acks.whenReplicated(10_000)
  const last = requests().at(-1)
  assert.equal(last?.[0], 'p', 'the new call asks p')
  assert.not.ok(requests().some(([peer, id]) => peer === 'dead' && (id as number) > 2), `dead is asked no more: ${JSON.stringify(requests())}`)
  acks.onAck('p', { type: MessageType.ACK, ackId: last?.[1] as number, seq: 3 })
  await after
})

test.run()
