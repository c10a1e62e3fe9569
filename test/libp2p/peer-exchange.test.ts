/**
 * Peer exchange tells the peers known alive, with their ages
 * (lib/net/libp2p/peer-exchange.ts): the PEERS ages on the wire and beside
 * older readers and senders, the redialer's record of when each peer was
 * last known alive, and what a greeting tells. The end-to-end case (a node
 * whose every neighbour died reaches the rest) is
 * test/mesh/peer-exchange.test.ts.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Libp2p } from 'libp2p'
import type { Logger } from '@libp2p/interface'
import { BodyReader, MAX_PEERS_PER_MESSAGE, MSG_PEERS, decodePeers, encodePeers } from '../../lib/net/libp2p/envelope.ts'
import { Redialer } from '../../lib/net/libp2p/redial.ts'
import { readFileSync } from 'node:fs'
import { EXCHANGE_EVERY_MS, PeerExchange, SHARE_HORIZON_MS, type PeerExchangeHost } from '../../lib/net/libp2p/peer-exchange.ts'
import { MeshCacheError } from '../../lib/errors.ts'

const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false }) as unknown as Logger

/** The body of an envelope (its length prefix stripped) as decodePeers reads it, past the type byte. */
function bodyOf (envelope: Uint8Array): BodyReader {
  let pos = 0
  while ((envelope[pos] as number) & 0x80) pos++
  assert.is(envelope[pos + 1], MSG_PEERS)
  return new BodyReader(envelope.subarray(pos + 1), 1)
}

test('PEERS carries ages after the regions, and reads what older senders wrote (no ages: 0, a link)', () => {
  const peers = [{ peer: 'QmA', addrs: ['/ip4/127.0.0.1/tcp/1'], region: 'eu', age: 0 }, { peer: 'QmB', addrs: ['/ip4/127.0.0.1/tcp/2'], region: '', age: 45_000 }]
  assert.equal(decodePeers(bodyOf(encodePeers(peers))), peers)
  // links only and no region, as older senders write: nothing after the entries
  const links = [{ peer: 'QmA', addrs: ['/ip4/127.0.0.1/tcp/1'] }]
  const old = encodePeers(links)
  assert.equal(decodePeers(bodyOf(old)), links)
  assert.is(decodePeers(bodyOf(old))[0]?.age, undefined)
  // an older reader stops after the regions: the entries and regions it reads are the same
  const body = bodyOf(encodePeers(peers))
  const n = body.count(MAX_PEERS_PER_MESSAGE)
  for (let i = 0; i < n; i++) { body.string(1000); const m = body.count(16); for (let j = 0; j < m; j++) body.string(1000) }
  assert.equal([body.string(256), body.string(256)], ['eu', ''])
  assert.is(body.end(), false) // the ages, which it ignores
})

test('PEERS cut inside its ages is a typed error, not a partial list', () => {
  const envelope = encodePeers([{ peer: 'QmA', addrs: ['/a'], age: 300_000 }, { peer: 'QmB', addrs: ['/b'], age: 300_000 }])
  const cut = bodyOf(envelope.subarray(0, envelope.length - 2))
  assert.throws(() => decodePeers(cut), (e: unknown) => e instanceof MeshCacheError && e.code === 'E_FRAME_TRUNCATED')
})

/** A redialer over a node that never connects, with its clock in the test's hands. */
function redialer (clock: { now: number }, connected = new Set<string>()): Redialer {
  const node = { peerId: { toString: () => 'QmSelf' }, getMultiaddrs: () => [], dial: async () => { throw new Error('connect ECONNREFUSED') } } as unknown as Libp2p
  return new Redialer({ node, log, isConnected: p => connected.has(p), interval: 10, maxInterval: 10, dialTimeout: 1_000, forgetAfter: 600_000, now: () => clock.now, bound: { peers: 3, connections: () => connected.size } })
}

test('the redialer knows when each peer was last known alive: linked now, or told with an age', () => {
  const clock = { now: 1_000_000 }
  const connected = new Set(['QmLink'])
  const r = redialer(clock, connected)
  r.learn('QmLink', ['/ip4/10.0.0.1/tcp/1'], false)
  r.learn('QmHeard', ['/ip4/10.0.0.2/tcp/1'], false, 30_000)
  r.learn('QmOld', ['/ip4/10.0.0.3/tcp/1'], false, SHARE_HORIZON_MS + 1)
  r.learn('QmSelf', ['/ip4/10.0.0.9/tcp/1'], false)
  clock.now += 5_000
  assert.equal(r.alivePeers(SHARE_HORIZON_MS).map(p => [p.peer, p.age]), [['QmLink', 0], ['QmHeard', 35_000]])
  // told again with an older age: the fresher record stands (a peer told back what we told it does not refresh the dead)
  r.learn('QmHeard', [], false, 90_000)
  assert.equal(r.alivePeers(SHARE_HORIZON_MS).find(p => p.peer === 'QmHeard')?.age, 35_000)
  // told with a younger one: fresher
  r.learn('QmHeard', [], false, 1_000)
  assert.equal(r.alivePeers(SHARE_HORIZON_MS).find(p => p.peer === 'QmHeard')?.age, 1_000)
  // a link that closed ages from its close
  connected.delete('QmLink')
  r.disconnected('QmLink')
  clock.now += 2_000
  assert.equal(r.alivePeers(SHARE_HORIZON_MS).map(p => [p.peer, p.age]), [['QmLink', 2_000], ['QmHeard', 3_000]])
  clock.now += SHARE_HORIZON_MS
  assert.equal(r.alivePeers(SHARE_HORIZON_MS), [])
})

function host (links: Array<{ peer: string, addrs: string[] }>, alive: Array<{ peer: string, addrs: string[], age: number }>): PeerExchangeHost & { sent: Array<[string, Uint8Array]> } {
  const sent: Array<[string, Uint8Array]> = []
  return {
    sent,
    linkAddrs: () => links,
    alivePeers: (horizon) => alive.filter(p => p.age <= horizon),
    regionOf: (peer) => peer === 'QmFar' ? 'us' : undefined,
    connectedPeers: () => links.map(l => l.peer),
    sendEnvelope: (peer, envelope) => { sent.push([peer, envelope]) }
  }
}

test('a greeting tells links first, then, in a partial mesh, the peers known alive, never the newcomer itself', () => {
  const links = [{ peer: 'QmNew', addrs: ['/n'] }, { peer: 'QmLink', addrs: ['/l'] }, { peer: 'QmQuiet', addrs: [] }]
  const alive = [{ peer: 'QmLink', addrs: ['/l'], age: 0 }, { peer: 'QmFar', addrs: ['/f'], age: 4_000 }, { peer: 'QmNew', addrs: ['/n'], age: 0 }]
  const partial = new PeerExchange(host(links, alive), true)
  assert.equal(partial.toTell('QmNew'), [{ peer: 'QmLink', addrs: ['/l'], region: '', age: 0 }, { peer: 'QmFar', addrs: ['/f'], region: 'us', age: 4_000 }])
  // a full mesh tells its links, as before: they are every live peer
  const full = new PeerExchange(host(links, alive), false)
  assert.equal(full.toTell('QmNew'), [{ peer: 'QmLink', addrs: ['/l'], region: '', age: 0 }])
  const many = Array.from({ length: MAX_PEERS_PER_MESSAGE + 10 }, (_, i) => ({ peer: `Qm${i}`, addrs: ['/x'], age: i }))
  assert.is(new PeerExchange(host([], many), true).toTell('QmNew').length, MAX_PEERS_PER_MESSAGE)
})

test('a partial mesh tells one neighbour at a time what it knows alive', () => {
  const h = host([{ peer: 'QmA', addrs: ['/a'] }, { peer: 'QmB', addrs: ['/b'] }], [{ peer: 'QmC', addrs: ['/c'], age: 7_000 }])
  const x = new PeerExchange(h, true)
  x.tick()
  assert.is(h.sent.length, 1)
  const [to, envelope] = h.sent[0] as [string, Uint8Array]
  const told = decodePeers(bodyOf(envelope))
  assert.ok(!told.some(p => p.peer === to), 'never tells a peer of itself')
  assert.equal(told.map(p => [p.peer, p.age]), [[to === 'QmA' ? 'QmB' : 'QmA', 0], ['QmC', 7_000]])
})

test('SPEC.md §11.1 gives the horizon and the period the code uses', () => {
  const spec = readFileSync(new URL('../../SPEC.md', import.meta.url), 'utf8')
  const bullet = spec.slice(spec.indexOf('**Peer exchange tells the peers known alive'), spec.indexOf('\n- **', spec.indexOf('**Peer exchange tells the peers known alive') + 10))
  assert.match(bullet, `within the last ${SHARE_HORIZON_MS / 1000} s`)
  assert.match(bullet, `About every ${EXCHANGE_EVERY_MS / 1000} s`)
  assert.match(spec, `within the last\n                                                    ${SHARE_HORIZON_MS / 1000} s`)
})

test.run()
