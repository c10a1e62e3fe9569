/**
 * RedisTier on a 3-master Redis Cluster started here (`redis-cli --cluster
 * create` on free local ports): every record is one key, so every script is
 * single-slot and no hash tag is needed; keys land on every master.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createCluster } from 'redis'
import { createMeshCache, jsonCodec, type MeshCache } from '../../lib/index.ts'
import { createMemoryNetwork } from '../../lib/testing/index.ts'
import { RedisTier } from '../../lib/tiers/redis.ts'
import type { TierFailure } from '../../lib/tiers/tier.ts'
import { startRedisCluster, type RedisCluster } from '../helpers/redis.ts'

let redis: RedisCluster
let cluster: ReturnType<typeof createCluster>
const HLC = (ms: number): number => ms * 1000

test.before(async () => {
  redis = await startRedisCluster(3)
  cluster = createCluster({ rootNodes: redis.rootNodes })
  cluster.on('error', () => {})
  await cluster.connect()
})

test.after(async () => {
  cluster?.destroy()
  await redis?.stop()
})

test('writes, tombstones, fills and their guards work across the masters of a Cluster', async () => {
  const failures: TierFailure[] = []
  const a = new RedisTier<any>({ redis: cluster, timeout: 500 })
  const b = new RedisTier<any>({ redis: cluster, timeout: 500 })
  for (const t of [a, b]) t.attach({ namespace: 'ns', codec: jsonCodec as any, now: Date.now, maxTtl: 60_000, onFailure: (f) => failures.push(f) })
  const now = HLC(Date.now())
  const keys = Array.from({ length: 60 }, (_, i) => `user:${i}`)
  for (const k of keys) a.write(k, { k }, 30_000, now, 'a~1', undefined)
  await a.flush()
  // Keys spread over all three masters (so the script ran, and was loaded, on each).
  const perMaster = await Promise.all(cluster.masters.map(async (m) => Number(await (await cluster.nodeClient(m)).dbSize())))
  assert.is(perMaster.length, 3)
  assert.ok(perMaster.every((n) => n > 0), `keys per master ${perMaster.join(',')}`)
  for (const k of keys) assert.equal((await b.read(k))?.value, { k })
  // Deletes and older writes on every master: each refused where it is older.
  for (const k of keys.slice(0, 30)) a.write(k, undefined, 30_000, now + 2, 'a~1', undefined)
  await a.flush()
  for (const k of keys) b.write(k, 'stale', 30_000, now - 1, 'b~1', undefined)
  await b.flush()
  assert.is(b.stats().l2Skipped, 60)
  for (const k of keys.slice(0, 30)) assert.is(await b.read(k), undefined)
  for (const k of keys.slice(30)) assert.equal((await b.read(k))?.value, { k })
  // Fills: refused over tombstones, stored on empty keys.
  for (const k of [...keys.slice(0, 5), 'fresh:1', 'fresh:2']) a.fill(k, 'loaded', Date.now() + 30_000, now + 3, Date.now(), undefined)
  const settled = (): boolean => Number(a.stats().l2Fills) + Number(a.stats().l2Skipped) >= 7
  while (!settled()) await new Promise((resolve) => setImmediate(resolve)) // the fills' replies, not a timer
  assert.is(a.stats().l2Fills, 2)
  assert.is((await b.read('fresh:2'))?.value, 'loaded')
  assert.is(await b.read(keys[0] as string), undefined)
  assert.equal(failures, [])
  // clear(): every key under the prefix goes, on every master.
  a.clear(now + 4)
  while (Number((await Promise.all(cluster.masters.map(async (m) => Number(await (await cluster.nodeClient(m)).dbSize())))).reduce((x, y) => x + y)) > 0) {
    await new Promise((resolve) => setImmediate(resolve))
  }
  await a.close()
  await b.close()
})

test('MeshCache with its L2 on the Cluster: loads fill, writes go through, a paused load cannot put its old value back', async () => {
  const net = createMemoryNetwork()
  const mk = async (name: string): Promise<MeshCache<{ v: number }>> => await createMeshCache<{ v: number }>({ namespace: 'c', transport: net.transport(name), nodeId: name, syncInterval: 0, l2: new RedisTier<{ v: number }>({ redis: cluster, timeout: 500 }) })
  const a = await mk('a')
  const b = await mk('b')
  const lone = await createMeshCache<{ v: number }>({ namespace: 'c', transport: createMemoryNetwork().transport('x'), l2: new RedisTier<{ v: number }>({ redis: cluster, timeout: 500 }) })
  try {
    await net.flush()
    let calls = 0
    const keys = Array.from({ length: 12 }, (_, i) => `item:${i}`)
    for (const k of keys) await a.getOrLoad(k, async () => ({ v: ++calls }))
    await a.tier?.flush?.()
    while (Number(a.stats().tier?.l2Fills) < keys.length) await new Promise((resolve) => setImmediate(resolve)) // the fills' replies
    for (const k of keys) await b.getOrLoad(k, async () => ({ v: -1 }))
    assert.is(b.stats().tier?.l2Hits, keys.length, 'every key from L2, across the masters')
    // The race: lone (no mesh with a or b) loads an old row of a key L2 does not hold, while a writes the new one.
    let release!: (v: { v: number }) => void
    const started = new Promise<void>((resolve) => {
      void lone.getOrLoad('race', () => { resolve(); return new Promise<{ v: number }>((r) => { release = r }) })
    })
    await started
    a.set('race', { v: 100 })
    await a.tier?.flush?.()
    release({ v: 1 })
    while (Number(lone.stats().tier?.l2Skipped) < 1) await new Promise((resolve) => setImmediate(resolve))
    await net.flush()
    assert.equal(await b.getOrLoad('race', async () => ({ v: -1 })), { v: 100 })
    a.delete('item:1')
    await a.tier?.flush?.()
    const fresh = await createMeshCache<{ v: number }>({ namespace: 'c', transport: createMemoryNetwork().transport('y'), l2: new RedisTier<{ v: number }>({ redis: cluster, timeout: 500 }) })
    assert.equal(await fresh.getOrLoad('item:1', async () => ({ v: 7 })), { v: 7 }, 'the tombstone: a miss, the loader runs')
    await fresh.close()
  } finally {
    for (const c of [a, b, lone]) await c.close()
  }
})

test.run()
