/**
 * Deletes across hops in a partial mesh (SPEC §7 and §11): on a chain
 * n0 – n1 – n2 – n3 – n4 of the seeded memory network, where a write reaches
 * a node several hops away either hop by hop over the relay (`spread`, as
 * gossipsub does) or only through anti-entropy with neighbours.
 *
 * The horizon argument does not depend on the path a record took: a
 * tombstone goes once its write is `maxTtl + maxClockSkew` old, by then every
 * value it dominated has expired wherever it is, and a record that old is
 * refused on arrival. These tests hold that against the multi-hop cases the
 * argument has to cover.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { MeshCache } from '../lib/index.ts'
import { cluster, type Cluster } from './helpers/cluster.ts'

const CHAIN: Array<[string, string]> = [['n0', 'n1'], ['n1', 'n2'], ['n2', 'n3'], ['n3', 'n4']]
const TTL = 1000
const SKEW = 500
const HORIZON = TTL + SKEW

/** Anti-entropy rounds with every neighbour, as many as the chain is long (each carries a record one hop). */
async function repairRounds (c: Cluster<string>, rounds = CHAIN.length + 1): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    for (const node of c.nodes) node.sync()
    await c.net.flush()
  }
}

const purgeAll = (c: Cluster<string>): void => { for (const node of c.nodes) node.purgeStale() }

for (const spread of [true, false]) {
  const how = spread ? 'relayed hop by hop' : 'carried by anti-entropy with neighbours only'

  test(`a delete reaches a node four hops away (${how}), and no node serves the value after`, async () => {
    const c = await cluster<string>(5, { mode: 'replicate', ttl: TTL, maxClockSkew: SKEW }, { links: CHAIN, spread })
    const nodes = c.nodes as Array<MeshCache<string>>
    try {
      nodes[0]?.set('k', 'v')
      await c.net.flush()
      await repairRounds(c)
      for (const node of nodes) assert.is(node.get('k'), 'v', `${node.origin} got the write`)
      nodes[4]?.delete('k')
      await c.net.flush()
      if (!spread) assert.is(nodes[0]?.get('k'), 'v', 'without the relay the delete has not gone four hops yet')
      await repairRounds(c)
      for (const node of nodes) {
        assert.is(node.get('k'), undefined, `${node.origin} still serves the deleted value`)
        assert.is(node.inspect('k')?.kind, 'delete')
      }
      c.clock.advance(HORIZON + 1)
      purgeAll(c)
      await repairRounds(c)
      for (const node of nodes) assert.is(node.inspect('k'), undefined, `${node.origin} kept or took back the tombstone`)
    } finally {
      await c.close()
    }
  })

  test(`a tombstone dropped at the horizon while a node three hops away never saw it does not resurrect the key (${how})`, async () => {
    const c = await cluster<string>(5, { mode: 'replicate', ttl: TTL, maxClockSkew: SKEW }, { links: CHAIN, spread })
    const nodes = c.nodes as Array<MeshCache<string>>
    try {
      nodes[0]?.set('k', 'v')
      await c.net.flush()
      await repairRounds(c)
      // The link n1 – n2 goes down: the delete reaches n0 and n1 only; n3 is three hops from n0.
      c.net.setLinks(CHAIN.filter(([a, b]) => !(a === 'n1' && b === 'n2')))
      nodes[0]?.delete('k')
      await c.net.flush()
      await repairRounds(c)
      assert.is(nodes[1]?.inspect('k')?.kind, 'delete')
      assert.is(nodes[3]?.inspect('k')?.kind, 'set', 'n3 has not seen the delete')
      // A horizon later n0 and n1 drop the tombstone; the value n3 still holds has expired by then.
      c.clock.advance(HORIZON + 1)
      purgeAll(c)
      assert.is(nodes[0]?.inspect('k'), undefined, 'n0 dropped the tombstone')
      assert.is(nodes[3]?.get('k'), undefined, 'the unseen side\'s copy expired (ttl ≤ maxTtl)')
      // The link comes back: n2..n4 still hold the old set's metadata and offer it in every exchange.
      c.net.setLinks(CHAIN)
      await repairRounds(c)
      for (const node of nodes) {
        assert.is(node.get('k'), undefined, `${node.origin} serves the deleted key again`)
        assert.not.ok(node.inspect('k')?.hasValue, `${node.origin} took the old write back`)
      }
      assert.is(nodes[0]?.inspect('k'), undefined, 'the old write is refused on arrival (older than the horizon)')
      // The valueless metadata goes a horizon after the value was found expired here
      // (death times are kept in whole seconds): two horizons is past it.
      c.clock.advance(2 * HORIZON)
      purgeAll(c)
      await repairRounds(c)
      for (const node of nodes) assert.is(node.inspect('k'), undefined, `${node.origin} still holds metadata of k`)
    } finally {
      await c.close()
    }
  })
}

test('a write no relay carried is repaired hop by hop at announcement ticks, not only by periodic rounds', async () => {
  // Real time: the announcement timer is what carries the repair on (announceInterval 50 ms here;
  // no periodic rounds at all, so without the retry the third hop would never get the write).
  const c = await cluster<string>(4, { mode: 'replicate', announceInterval: 50, syncInterval: 0 }, { links: CHAIN.slice(0, 3), spread: true })
  const nodes = c.nodes as Array<MeshCache<string>>
  try {
    nodes[0]?.set('warm', 'x')
    await c.net.flush()
    assert.ok(nodes.every((n) => n.get('warm') === 'x'))
    c.net.setLinks(CHAIN.slice(1, 3)) // n0 cut off
    nodes[0]?.set('k', 'v')
    await c.net.flush()
    c.net.setLinks(CHAIN.slice(0, 3))
    const deadline = performance.now() + 10_000
    while (!nodes.every((n) => n.get('k') === 'v') && performance.now() < deadline) {
      c.clock.advance(10) // the injected clock keeps pace, so n0's warm-up frame ages and n0 no longer counts as flowing (§5)
      await c.net.flush()
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    assert.equal(nodes.map((n) => n.get('k')), ['v', 'v', 'v', 'v'], 'every hop repaired')
  } finally {
    await c.close()
  }
})

test('the memory network\'s topology: neighbours only; spread forwards each broadcast once per node; setLinks reports peers up and down', async () => {
  const { createMemoryNetwork } = await import('../lib/testing/index.ts')
  const seen: string[] = []
  const net = createMemoryNetwork({ links: [['a', 'b'], ['b', 'c']], spread: true })
  const events: string[] = []
  const handler = (name: string) => ({
    onFrame: (from: string, frame: Uint8Array) => { seen.push(`${name}<${from}:${frame[0]}`) },
    onPeerUp: (peer: string) => { events.push(`${name}+${peer}`) },
    onPeerDown: (peer: string) => { events.push(`${name}-${peer}`) },
  })
  const a = await net.transport('a').join('ns', handler('a'))
  const b = await net.transport('b').join('ns', handler('b'))
  await net.transport('c').join('ns', handler('c'))
  assert.equal(a.peers(), ['b'])
  assert.equal(b.peers().sort(), ['a', 'c'])
  a.broadcast(Uint8Array.of(7))
  await net.flush()
  assert.equal(seen.sort(), ['b<a:7', 'c<b:7'], 'c gets it from b, its neighbour; nobody twice')
  seen.length = 0
  a.send('c', Uint8Array.of(8))
  await net.flush()
  assert.equal(seen, [], 'no direct send to a non-neighbour')
  events.length = 0
  net.setLinks([['a', 'b'], ['b', 'c'], ['a', 'c']])
  assert.equal(events.sort(), ['a+c', 'c+a'])
  net.setLinks(undefined)
  assert.equal(a.peers().sort(), ['b', 'c'], 'undefined: a full mesh again')
})

test.run()
