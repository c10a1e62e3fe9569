/**
 * Crossed dials (lib/net/libp2p/crossed-dials.ts): two nodes that dial each
 * other at once keep one connection, the one the smaller peer id dialled.
 * The rule alone, over connections that only record their close; then real
 * transports over loopback started together, as a deployment's instances are,
 * where every pair dials both ways (90 connections for 45 pairs before).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Connection, Logger } from '@libp2p/interface'
import { CROSSED_SETTLE_MS, CrossedDials } from '../../lib/net/libp2p/crossed-dials.ts'
import { emptyStats } from '../../lib/net/libp2p/stats.ts'
import { createMeshCache, type MeshCache } from '../../lib/index.ts'
import { createLibp2pTransport, generatePsk, type Libp2pTransport } from '../../lib/net/libp2p/index.ts'
import { freePort } from '../helpers/ports.ts'
import { until } from './helpers.ts'

interface FakeConnection { direction: 'inbound' | 'outbound', closed: boolean, readonly status: string, close (): Promise<void>, abort (): void }
const connection = (direction: FakeConnection['direction']): FakeConnection =>
  ({ direction, closed: false, get status () { return this.closed ? 'closed' : 'open' }, async close () { this.closed = true }, abort () { this.closed = true } })
const silent = Object.assign(() => {}, { enabled: false, error: () => {}, trace: () => {} }) as unknown as Logger
const settle = async (): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, CROSSED_SETTLE_MS + 100)) }

/** CrossedDials for node `self` over `conns` (by peer); closed connections drop out of what it sees; streams moved are listed. */
function crossed (self: string, conns: Record<string, FakeConnection[]>): { dials: CrossedDials, stats: ReturnType<typeof emptyStats>, moved: FakeConnection[] } {
  const stats = emptyStats()
  const moved: FakeConnection[] = []
  const connectionsOf = (peer: string): Connection[] => (conns[peer] ?? []).filter((c) => !c.closed) as unknown as Connection[]
  const host = { stats, connectionsOf, moveStream: (_: string, conn: Connection) => { moved.push(conn as unknown as FakeConnection) } }
  return { dials: new CrossedDials(self, host, silent), stats, moved }
}

test('the larger id closes its own connection of a crossed pair a second later; the smaller keeps both for the peer to close', async () => {
  const atB = { a: [connection('outbound'), connection('inbound')] }
  const atA = { b: [connection('outbound'), connection('inbound')] }
  const b = crossed('b', atB)
  const a = crossed('a', atA)
  b.dials.opened('a')
  a.dials.opened('b')
  // both ends move their own stream at once to the connection a (the smaller id) dialled: b's inbound, a's outbound
  assert.ok(b.moved.length === 1 && b.moved[0] === atB.a[1], "b's stream moves to a's connection")
  assert.ok(a.moved.length === 1 && a.moved[0] === atA.b[0], "a's stream moves to its own connection")
  assert.equal(atB.a.map((c) => c.closed), [false, false], 'not at once: the link settles first')
  await settle()
  assert.equal(atB.a.map((c) => c.closed), [true, false], "b closes the connection it dialled, keeping a's")
  assert.equal(b.stats.crossedClosed, 1)
  assert.equal(atA.b.map((c) => c.closed), [false, false], "a closes nothing: its connection is the one kept (b's close ends a's inbound there)")
  assert.equal(a.stats.crossedClosed, 0)
})

test('nothing closes when the peer\'s connection went meanwhile, when both are ours, or after stop()', async () => {
  const gone = { a: [connection('outbound'), connection('inbound')] }
  const first = crossed('b', gone)
  first.dials.opened('a')
  ;(gone.a[1] as FakeConnection).closed = true // the peer's connection dies by itself before the second is up
  const same = { a: [connection('outbound'), connection('outbound')] }
  const second = crossed('b', same)
  second.dials.opened('a')
  const stopped = { a: [connection('outbound'), connection('inbound')] }
  const third = crossed('b', stopped)
  third.dials.opened('a')
  third.dials.stop()
  await settle()
  assert.equal(gone.a.map((c) => c.closed), [false, true], 'our connection is the last one: kept')
  assert.equal(same.a.map((c) => c.closed), [false, false], 'not crossed: both ours')
  assert.equal(stopped.a.map((c) => c.closed), [false, false], 'stopped')
  assert.equal(first.stats.crossedClosed + second.stats.crossedClosed + third.stats.crossedClosed, 0)
})

/**
 * 6 transports on loopback, each bootstrapped to all the others, started together (so every pair's dials cross),
 * each with a replicate-mode cache, ready; `body` runs on them, and everything is closed after.
 */
async function startedTogether (options: { gossipsub?: boolean }, body: (transports: Libp2pTransport[], caches: Array<MeshCache<string>>) => Promise<void>): Promise<void> {
  const psk = generatePsk()
  const ports = await Promise.all(Array.from({ length: 6 }, async () => await freePort()))
  const transports: Libp2pTransport[] = []
  try {
    transports.push(...await Promise.all(ports.map(async (port) => await createLibp2pTransport({
      listen: [`/ip4/127.0.0.1/tcp/${port}`], peers: ports.filter((p) => p !== port).map((p) => `/ip4/127.0.0.1/tcp/${p}`), psk, ...options
    }))))
    const caches = await Promise.all(transports.map(async (transport) => await createMeshCache<string>({ namespace: 'crossed', transport, mode: 'replicate' })))
    await Promise.all(caches.map(async (cache) => { await cache.ready({ peers: 5 }) }))
    await body(transports, caches)
    await Promise.all(caches.map(async (cache) => { await cache.close() }))
  } finally {
    await Promise.all(transports.map(async (t) => { await t.close() }))
  }
}

test('6 transports started together, each bootstrapped to all: one connection a pair once settled, no peer down and up, every write everywhere', async () => {
  await startedTogether({}, async (transports, caches) => {
    // Writes from every instance every 50 ms across the second in which the crossed connections close: what was
    // on a closing connection is delivered or repaired, never lost.
    for (let round = 0; round < 40; round++) {
      for (const [i, cache] of caches.entries()) cache.set(`k${i}`, `v${round}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const connections = (): number[] => transports.map((t) => t.libp2p.getConnections().length)
    await until(() => connections().every((n) => n === 5), `one connection a pair (connections ${connections().join(',')})`)
    const closed = transports.reduce((n, t) => n + t.stats().crossedClosed, 0)
    const ups = transports.map((t) => t.stats().peerUps)
    console.log(`  6 instances: ${connections().join(',')} connections each; ${closed} crossed connections closed; peer-ups ${ups.join(',')}`)
    assert.ok(closed > 0, 'no dials crossed: the test did not start the transports together')
    // Each end moved its stream to the kept connection before the other closed: the namespace came up once a peer,
    // never down and up again (7-10 a instance when streams were left to reopen after the close)
    assert.equal(ups, [5, 5, 5, 5, 5, 5], 'peer-ups: a namespace went down and up as a connection closed')
    await until(() => caches.every((cache) => caches.every((_, i) => cache.get(`k${i}`) === 'v39')), 'every write on every instance')
    // Streams that were on a closed connection reopened on the kept one: a write now still reaches everyone.
    caches[0]?.set('k', 'v')
    await until(() => caches.every((cache) => cache.get('k') === 'v'), 'the last write on every instance')
  })
})

test('with gossipsub on, the connection kept carries its streams both ways once the other closed', async () => {
  // Gossipsub opens its stream to a peer on one connection and opens no other when that one closes; of 15 crossed
  // pairs some have it on the connection that goes, and the relay tells gossipsub of the one left (relay.ts).
  await startedTogether({ gossipsub: true }, async (transports) => {
    const missing = (): string[] => transports.flatMap((t, i) => t.libp2p.getConnections()
      .filter((c) => !['i', 'o'].every((d) => c.streams.some((st) => st.protocol?.startsWith('/meshsub/') === true && st.direction[0] === d)))
      .map((c) => `instance ${i} ↔ …${c.remotePeer.toString().slice(-6)}: ${c.streams.map((st) => `${st.protocol ?? '?'}:${st.direction[0] ?? ''}`).join(' ')}`))
    const connections = (): number[] => transports.map((t) => t.libp2p.getConnections().length)
    await until(() => connections().every((n) => n === 5), `one connection a pair (connections ${connections().join(',')})`)
    let left = missing()
    for (const until = Date.now() + 5_000; left.length > 0 && Date.now() < until;) {
      await new Promise((resolve) => setTimeout(resolve, 100)) // gossipsub opens its streams on its own queue: no event
      left = missing()
    }
    console.log(`  6 instances with gossipsub: ${transports.reduce((n, t) => n + t.stats().crossedClosed, 0)} crossed connections closed; connections without gossipsub's streams both ways: ${left.length}`)
    assert.equal(left, [], 'connections without gossipsub streams both ways')
  })
})

test.run()
