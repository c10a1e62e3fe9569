/**
 * Liveness (lib/net/libp2p/liveness.ts): peers are judged by the bytes that
 * arrive, not by a round trip. Unit tests of the rule on fake links, then
 * real libp2p nodes: idle peers stay connected on PINGs alone, a frozen
 * process (SIGSTOP: TCP stays open, nothing arrives) is given up and found
 * again once it thaws, and a stall of our own event loop gives nobody up.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createLibp2pTransport } from '../../lib/net/libp2p/index.ts'
import { Liveness, type LivenessHost } from '../../lib/net/libp2p/liveness.ts'
import { MSG_PING, PROTOCOL, encodeHello } from '../../lib/net/libp2p/envelope.ts'
import { buildNode } from '../../lib/net/libp2p/node.ts'
import { FaultSwitch } from '../../lib/net/libp2p/fault.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { PeerLink } from '../../lib/net/libp2p/stream-link.ts'
import { recorder } from './helpers.ts'
import { spawnNode } from './procs.ts'

/** A link whose outbound stream records what is written to it. */
function fakeLink (peer: string, at: number, pings = true): { link: PeerLink, sent: Uint8Array[] } {
  const sent: Uint8Array[] = []
  const link = new PeerLink(peer)
  link.out = { writeStatus: 'writable', writableNeedsDrain: false, writeBufferLength: 0, send (e: Uint8Array) { sent.push(e); return true } } as never
  link.lastHeard = at
  link.pings = pings
  return { link, sent }
}

function fakeHost (links: PeerLink[]): LivenessHost & { gaveUp: Array<[string, number]>, stalls: number[], suspects: Array<[string, number]>, recoveries: string[] } {
  const gaveUp: Array<[string, number]> = []
  const stalls: number[] = []
  const suspects: Array<[string, number]> = []
  const recoveries: string[] = []
  return {
    gaveUp, stalls, suspects, recoveries,
    connectedLinks: () => links,
    giveUp (link, silent) { gaveUp.push([link.peer, silent]) },
    stalled (ms) { stalls.push(ms) },
    suspect (link, silent) { suspects.push([link.peer, silent]) },
    recovered (link) { recoveries.push(link.peer) }
  }
}

/** Ticks every 50 ms (keepalive 100) from `from` to `to`, each followed by the silence check, as the timer does. */
function run (liveness: Liveness, from: number, to: number, each?: (t: number) => void): void {
  for (let t = from; t <= to; t += 50) { each?.(t); liveness.tick(t); liveness.check(t) }
}

test('every stream carries a PING each keepaliveInterval, busy or idle', () => {
  const { link, sent } = fakeLink('p', 1000)
  const liveness = new Liveness(fakeHost([link]), 100, 300)
  liveness.tick(1000)
  assert.equal(sent.map(e => [...e]), [[1, MSG_PING]], 'one PING envelope at once: length 1, type PING')
  liveness.tick(1050)
  assert.is(sent.length, 1, 'not again half a keepalive later')
  link.write([Uint8Array.of(9)], Infinity) // a frame: a busy stream pings all the same
  liveness.tick(1100)
  assert.is(sent.filter(e => e[1] === MSG_PING).length, 2)
})

test('a pinging peer silent past peerTimeout is given up once per silence; bytes arriving reset it; a peer that never pings is never judged', () => {
  const { link } = fakeLink('p', 0)
  const { link: talking } = fakeLink('q', 0)
  const { link: old } = fakeLink('old', 0, false)
  const host = fakeHost([link, talking, old])
  const liveness = new Liveness(host, 100, 300)
  run(liveness, 0, 300, (t) => { talking.lastHeard = t })
  assert.equal(host.gaveUp, [], 'exactly peerTimeout of silence is not past it')
  run(liveness, 350, 350, (t) => { talking.lastHeard = t })
  assert.equal(host.gaveUp, [['p', 350]], 'only the silent one that pings')
  run(liveness, 400, 650, (t) => { link.lastHeard = t; talking.lastHeard = t })
  assert.is(host.gaveUp.length, 1, 'not again, and never while we hear from it')
  run(liveness, 700, 2000)
  assert.ok(host.gaveUp.every(([peer]) => peer !== 'old'), 'the silent peer without PINGs stays')
})

test('a pinging peer silent past 1.25 keepalives is suspect (reported each check while silent) and recovers when heard; one that never pings is never suspect', () => {
  const { link } = fakeLink('p', 0)
  const { link: old } = fakeLink('old', 0, false)
  const host = fakeHost([link, old])
  const liveness = new Liveness(host, 100, 300, 25)
  assert.is(liveness.suspectMs, 125)
  liveness.suspicions(125)
  assert.equal(host.suspects, [], 'exactly 1.25 keepalives is not past it')
  liveness.suspicions(150)
  liveness.suspicions(175)
  assert.equal(host.suspects, [['p', 150], ['p', 175]])
  assert.ok(link.suspect)
  link.lastHeard = 180
  liveness.suspicions(200)
  assert.equal(host.recoveries, ['p'])
  assert.not.ok(link.suspect)
  liveness.suspicions(225)
  assert.equal(host.recoveries, ['p'], 'recovered once')
  assert.is(host.gaveUp.length, 0, 'suspicion gives nobody up')
})

test('time this process did not run is not counted as silence, however short', () => {
  const { link } = fakeLink('p', 0)
  const host = fakeHost([link])
  const liveness = new Liveness(host, 100, 300)
  run(liveness, 0, 200)
  liveness.tick(5_000) // blocked for ~4.8 s: what the peer sent is unread in our socket
  liveness.check(5_000)
  assert.equal(host.gaveUp, [])
  assert.equal(host.stalls, [4_750], 'the stall is reported (logged by the mesh)')
  run(liveness, 5_050, 5_050)
  assert.equal(host.gaveUp, [], 'the stall, less one tick, is excused: 200 + 50 + 50 ms of silence')
  run(liveness, 5_100, 5_100)
  assert.equal(host.gaveUp, [['p', 350]], 'then a real silence is seen')
  const { link: other } = fakeLink('q', 10_000)
  const host2 = fakeHost([other])
  const short = new Liveness(host2, 100, 300)
  run(short, 10_000, 10_200)
  short.tick(10_330) // a stall shorter than a keepalive: 80 ms late
  short.check(10_330)
  run(short, 10_380, 10_380)
  assert.equal(host2.gaveUp, [], '380 ms since the last byte, 80 of them not ours to count')
  assert.equal(host2.stalls, [], 'a short stall is jitter, not reported')
})

test('a stall between a tick and its check (in an I/O callback of the same turn) is not judged before the next tick excuses it', () => {
  const { link } = fakeLink('p', 0)
  const host = fakeHost([link])
  const liveness = new Liveness(host, 100, 300, 25)
  run(liveness, 0, 200, (t) => { link.lastHeard = t }) // heard from until the stall
  liveness.tick(250) // the tick queues its check; then a callback of the same turn blocks for 1.5 s
  liveness.check(1_750)
  liveness.suspicions(1_750)
  assert.equal(host.gaveUp, [], 'the stall is not silence')
  assert.equal(host.suspects, [], 'nor a reason to suspect')
  liveness.tick(1_760) // the late tick excuses it
  liveness.check(1_760)
  liveness.suspicions(1_760)
  assert.equal(host.gaveUp, [])
  assert.equal(host.suspects, [])
  run(liveness, 1_800, 2_200)
  assert.equal(host.gaveUp.length, 1, 'a real silence after it is still seen')
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
    // A few keepalives, so it has pinged: a peer never heard pinging is never judged.
    await new Promise(resolve => setTimeout(resolve, 300))
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

test('a peer that never sends PINGs (an older meshcache) is not given up for its silence', async () => {
  const a = await createLibp2pTransport(quick)
  const old = await buildNode({ listen: ['/ip4/127.0.0.1/tcp/0'], psk: undefined, gater: new FaultSwitch().gater(), logger: undefined })
  await old.handle(PROTOCOL, () => {}) // takes A's stream and ignores it, PINGs included
  await old.start()
  try {
    const stream = await old.dialProtocol(multiaddr(a.multiaddrs()[0] as string), PROTOCOL)
    stream.send(encodeHello([]))
    await new Promise(resolve => setTimeout(resolve, 1_200)) // three times peerTimeout, silent
    assert.is(a.stats().peersTimedOut, 0)
    assert.is(old.getConnections().length, 1, 'still connected')
    assert.is(old.getConnections()[0]?.status, 'open')
  } finally {
    await Promise.all([a.close(), old.stop()])
  }
})

test.run()
