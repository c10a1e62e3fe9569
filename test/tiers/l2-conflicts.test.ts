/**
 * Concurrent writes of one key and the L2 tier (SPEC §14.3, the read guard),
 * on a real redis-server. In invalidate mode a state merged from concurrent
 * writes has no value on any instance (each drops its copy: which write the
 * database kept is unknown here), so no L2 copy of either write may be served.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMeshCache, type MeshCache, type Transport } from '../../lib/index.ts'
import { createMemoryNetwork } from '../../lib/testing/index.ts'
import { RedisTier } from '../../lib/tiers/redis.ts'
import { redisSuite } from '../helpers/redis-suite.ts'

const lab = redisSuite(test)

type Node = MeshCache<string> & { l2: RedisTier<string> }

async function node (transport: Transport, name: string, ahead = 0, mode: 'invalidate' | 'replicate' = 'invalidate'): Promise<Node> {
  const l2 = new RedisTier<string>({ redis: lab.client, timeout: 500 })
  const cache = await createMeshCache<string>({ namespace: 'ns', transport, l2, nodeId: name, syncInterval: 0, mode, now: () => Date.now() + ahead }) as Node
  cache.l2 = l2
  lab.caches.push(cache)
  return cache
}

for (const mode of ['invalidate', 'replicate'] as const) {
  test(`${mode} mode: two instances write one key concurrently; the database keeps the later, the clocks order the other first`, async () => {
    const net = createMemoryNetwork()
    const a = await node(net.transport('a'), 'a', 200, mode) // a's clock runs ahead: its write wins the merge
    const b = await node(net.transport('b'), 'b', 0, mode)
    await net.flush()
    const db = new Map<string, string>()
    net.partition(['a'], ['b'])
    db.set('k', 'from a'); a.set('k', 'from a')
    db.set('k', 'from b'); b.set('k', 'from b') // the database's last write
    await Promise.all([a.l2.flush(), b.l2.flush()])
    net.heal()
    for (let i = 0; i < 3; i++) { a.sync(); b.sync(); await net.flush() }
    assert.equal(a.inspect('k')?.writer, b.inspect('k')?.writer, 'one merged state')
    const c = await node(net.transport('c'), 'c', 0, mode)
    await net.flush()
    c.sync()
    await net.flush()
    const expected = mode === 'invalidate' ? db.get('k') : a.peek('k') // replicate mode: the winning write everywhere
    for (const x of [a, b, c]) {
      let loaded = false
      const served = await x.getOrLoad('k', async () => { loaded = true; return db.get('k') as string })
      assert.is(served, expected, `${x.origin}: ${loaded ? 'loaded' : 'served from L1 or L2'} ${served}`)
    }
  })
}

test('a key invalidated by an instance whose clock is behind the copy\'s base: the copy is refused by whoever heard of it, before that instance\'s own tombstone reaches L2', async () => {
  const net = createMemoryNetwork()
  const x = await node(net.transport('x'), 'x', 300) // writes the base, its clock 300 ms ahead
  const y = await node(net.transport('y'), 'y') // invalidates the key, with Redis out of its reach
  const f = await node(net.transport('f'), 'f') // loads the key and fills L2
  const r = await node(net.transport('r'), 'r') // reads later
  await net.flush()
  const db = new Map([['k', 'v1'], ['b', 'b1']])
  const loadK = async (): Promise<string> => db.get('k') as string
  net.partition(['y'], ['x', 'f', 'r'])
  db.set('b', 'b2'); x.invalidate('b')
  await net.flush()
  assert.is(await f.getOrLoad('k', loadK, { dependsOn: ['b'] }), 'v1')
  while (f.stats().tier?.l2Fills !== 1) await new Promise((resolve) => setImmediate(resolve))
  ;(y.tier as { write: unknown }).write = () => {} // y's write-through never lands (its Redis is down, it then dies)
  db.set('k', 'v2'); y.invalidate('k') // later than the fill, at a lower HLC than the base's
  net.heal()
  for (let i = 0; i < 3; i++) { for (const c of [x, y, f, r]) c.sync(); await net.flush() }
  assert.ok((r.inspect('k')?.hlc as number) < (r.inspect('b')?.hlc as number), 'the key\'s invalidation has the lower HLC')
  for (const c of [r, f, x]) {
    let loaded = false
    const served = await c.getOrLoad('k', async () => { loaded = true; return loadK() }, { dependsOn: ['b'] })
    assert.is(served, 'v2', `${c.origin}: ${loaded ? 'loaded' : 'served from L1 or L2'} ${served}`)
  }
})

test.run()
