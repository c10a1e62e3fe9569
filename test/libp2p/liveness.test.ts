/**
 * Liveness (lib/libp2p/liveness.ts): peers are judged by the bytes that
 * arrive, not by a round trip. Unit tests of the rule on fake links, then
 * real libp2p nodes: idle peers stay connected on PINGs alone, a frozen
 * process (SIGSTOP: TCP stays open, nothing arrives) is given up and found
 * again once it thaws, and a stall of our own event loop gives nobody up.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createLibp2pTransport } from '../../lib/libp2p/index.ts'
import { Liveness, type LivenessHost } from '../../lib/libp2p/liveness.ts'
import { MSG_PING } from '../../lib/libp2p/envelope.ts'
import { PeerLink } from '../../lib/libp2p/stream-link.ts'
import { recorder } from './helpers.ts'
import { spawnNode } from './procs.ts'

/** A link whose outbound stream records what is written to it. */
function fakeLink (peer: string, at: number): { link: PeerLink, sent: Uint8Array[] } {
  const sent: Uint8Array[] = []
  const link = new PeerLink(peer)
  link.out = { writeStatus: 'writable', writableNeedsDrain: false, writeBufferLength: 0, send (e: Uint8Array) { sent.push(e); return true } } as never
  link.lastHeard = link.lastSent = at
  return { link, sent }
}

function fakeHost (links: PeerLink[]): LivenessHost & { gaveUp: Array<[string, number]> } {
  const gaveUp: Array<[string, number]> = []
  return { gaveUp, connectedLinks: () => links, giveUp (link, silent) { gaveUp.push([link.peer, silent]) } }
}

test('an idle stream carries a PING once keepaliveInterval passed, not before', () => {
  const { link, sent } = fakeLink('p', 1000)
  const host = fakeHost([link])
  const liveness = new Liveness(host, 100, 300)
  liveness.tick(1000)
  liveness.tick(1050)
  assert.is(sent.length, 0, 'written 50 ms ago')
  liveness.tick(1100)
  assert.equal(sent.map(e => [...e]), [[1, MSG_PING]], 'one PING envelope: length 1, type PING')
  liveness.tick(1150)
  assert.is(sent.length, 1, 'the PING counts as sending')
  link.lastHeard = 1150
  assert.equal(host.gaveUp, [])
})

test('a peer silent past peerTimeout is given up once per silence; bytes arriving reset it', () => {
  const { link } = fakeLink('p', 0)
  const { link: talking } = fakeLink('q', 0)
  const host = fakeHost([link, talking])
  const liveness = new Liveness(host, 100, 300)
  for (let t = 0; t <= 300; t += 50) { talking.lastHeard = t; liveness.tick(t) }
  assert.equal(host.gaveUp, [], 'exactly peerTimeout of silence is not past it')
  talking.lastHeard = 350
  liveness.tick(350)
  assert.equal(host.gaveUp, [['p', 350]], 'only the silent one')
  liveness.tick(400)
  assert.is(host.gaveUp.length, 1, 'not again while its connections close')
  for (let t = 450; t <= 650; t += 50) { link.lastHeard = t; talking.lastHeard = t; liveness.tick(t) }
  assert.is(host.gaveUp.length, 1, 'a peer we hear from is never given up')
})

test('a late tick (our own event loop was blocked) forgives every silence', () => {
  const { link } = fakeLink('p', 0)
  const host = fakeHost([link])
  const liveness = new Liveness(host, 100, 300)
  liveness.tick(0)
  liveness.tick(5_000) // blocked for 5 s: what the peer sent is unread in our socket
  assert.equal(host.gaveUp, [])
  for (let t = 5_050; t <= 5_300; t += 50) liveness.tick(t)
  assert.equal(host.gaveUp, [], 'the silence counts from the stall')
  liveness.tick(5_350)
  assert.equal(host.gaveUp, [['p', 350]], 'then a real silence is seen')
})

const quick = { keepaliveInterval: 100, peerTimeout: 400, redialInterval: 100, maxRedialInterval: 200 }

/** A and B up in 'ns' with quick liveness timers, then idle: no frame either way. */
async function idlePair () {
  const a = await createLibp2pTransport(quick)
  const b = await createLibp2pTransport({ ...quick, peers: a.multiaddrs() })
  const ra = recorder()
  await a.join('ns', ra.handler)
  await b.join('ns', recorder().handler)
  await ra.waitUp(b.peerId)
  const nobodyGivenUp = (): void => {
    assert.is(a.stats().peersTimedOut, 0)
    assert.is(b.stats().peersTimedOut, 0)
    assert.equal(ra.downs, [], 'never went down')
  }
  return { a, nobodyGivenUp, close: async () => { await Promise.all([a.close(), b.close()]) } }
}

test('idle peers stay connected on PINGs alone (real nodes)', async () => {
  const { a, nobodyGivenUp, close } = await idlePair()
  try {
    const bytesBefore = a.stats().bytesReceived
    await new Promise(resolve => setTimeout(resolve, 2_000)) // 5 × peerTimeout with no frame either way
    nobodyGivenUp()
    assert.ok(a.stats().bytesReceived - bytesBefore > 0, 'PINGs arrived')
  } finally {
    await close()
  }
})

test('a frozen peer (SIGSTOP: TCP open, nothing arrives) is given up, and found again once it thaws', async () => {
  const a = await createLibp2pTransport(quick)
  const ra = recorder()
  await a.join('ns', ra.handler)
  const frozen = await spawnNode({ options: { ...quick, peers: a.multiaddrs() } })
  try {
    await ra.waitUp(frozen.peerId)
    frozen.child.kill('SIGSTOP')
    await ra.waitDown(frozen.peerId, 1, 5_000)
    assert.is(a.stats().peersTimedOut, 1)
    frozen.child.kill('SIGCONT')
    // Its own late tick forgives the stall; it sees the connection gone and redials A (a bootstrap peer).
    await ra.waitUp(frozen.peerId, 2, 10_000)
    assert.is(a.stats().peersTimedOut, 1, 'no second give-up')
  } finally {
    frozen.child.kill('SIGCONT')
    await Promise.all([a.close(), frozen.stop()])
  }
})

test('a stall of our own event loop longer than peerTimeout gives no peer up', async () => {
  const { nobodyGivenUp, close } = await idlePair()
  try {
    const end = performance.now() + 1_500 // both nodes live in this process: both stall
    while (performance.now() < end) { /* blocked */ }
    await new Promise(resolve => setTimeout(resolve, 600)) // the late tick, then more than peerTimeout of normal ticks
    nobodyGivenUp()
  } finally {
    await close()
  }
})

test.run()
