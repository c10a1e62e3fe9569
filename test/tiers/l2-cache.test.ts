/**
 * MeshCache with its L2 on a real redis-server (started here): reads go
 * L1 → L2 → loader, writes go through, the cache-aside race stays out of L2,
 * the read guard refuses what a known write outdated, and a Redis outage
 * (killed, restarted with its old data) throws nothing and serves nothing
 * stale once it is over. The mesh between instances is the seeded memory
 * network (its own suites test it over real sockets).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { RESP_TYPES } from 'redis'
import { createMeshCache, ErrorCode, MeshCacheError, type MeshCache, type TierFailure, type Transport } from '../../lib/index.ts'
import { createMemoryNetwork, createTestClock, type MemoryNetwork } from '../../lib/testing/index.ts'
import { RedisTier, type RedisTierOptions } from '../../lib/tiers/redis.ts'
import { decodeRecord } from '../../lib/tiers/redis-record.ts'

/** An instance with no mesh peer: it shares only Redis with the others. */
const alone = (): Transport => createMemoryNetwork().transport('alone')
import { redisSuite } from '../helpers/redis-suite.ts'

type Value = { v: number }
const lab = redisSuite(test, { persist: true })
const caches = lab.caches

/** A cache with its own RedisTier on the shared client (generous timeout: the machine is shared). */
async function node (transport: Transport, over: Partial<RedisTierOptions> = {}, nodeId?: string): Promise<MeshCache<Value> & { l2: RedisTier<Value> }> {
  const l2 = new RedisTier<Value>({ redis: lab.client, timeout: 500, ...over })
  const cache = await createMeshCache<Value>({ namespace: 'ns', transport, l2, syncInterval: 0, ...(nodeId === undefined ? {} : { nodeId }) }) as MeshCache<Value> & { l2: RedisTier<Value> }
  cache.l2 = l2
  caches.push(cache)
  return cache
}

async function mesh (n: number, over: Partial<RedisTierOptions> = {}): Promise<{ net: MemoryNetwork, nodes: Array<MeshCache<Value> & { l2: RedisTier<Value> }> }> {
  const net = createMemoryNetwork()
  const nodes = []
  for (let i = 0; i < n; i++) nodes.push(await node(net.transport(`n${i}`), over, `n${i}`))
  await net.flush()
  return { net, nodes }
}

async function record (key: string): Promise<ReturnType<typeof decodeRecord>> {
  const buf = await lab.client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).get(`meshcache:ns:${key}`)
  return buf === null ? undefined : decodeRecord(buf as Buffer)
}

/** Resolves once the tier answered every fill it sent (a fill is fire and forget). */
async function fillsSettled (t: RedisTier<any>, n: number): Promise<void> {
  while (Number(t.stats().l2Fills) + Number(t.stats().l2Skipped) < n) await new Promise((resolve) => setImmediate(resolve))
}

function deferred<T> (): { promise: Promise<T>, resolve: (v: T) => void } {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => { resolve = r })
  return { promise, resolve }
}

test('getOrLoad: L1, then L2, then the loader; a loaded value fills both tiers, an L2 hit fills L1 without a broadcast', async () => {
  const { net, nodes: [a, b] } = await mesh(2)
  let calls = 0
  const loader = async (): Promise<Value> => ({ v: ++calls })
  assert.equal(await a!.getOrLoad('k', loader), { v: 1 })
  await fillsSettled(a!.l2, 1)
  assert.is((await record('k'))?.kind, 'f')
  const framesBefore = b!.stats().framesSent
  assert.equal(await b!.getOrLoad('k', loader), { v: 1 })
  assert.is(calls, 1)
  assert.equal(b!.get('k'), { v: 1 })
  assert.is(b!.stats().tier?.l2Hits, 1)
  await net.flush()
  assert.is(b!.stats().framesSent, framesBefore, 'an L2 hit is a load, not a write: nothing is sent')
  assert.is(b!.stats().localUpdates, 0)
  // An L1 hit touches neither.
  assert.equal(await b!.getOrLoad('k', loader), { v: 1 })
  assert.is(b!.stats().tier?.l2Hits, 1)
})

test('set, delete, invalidate and invalidateTag write through to L2 asynchronously; L1 and the mesh do not wait', async () => {
  const { net, nodes: [a, b] } = await mesh(2)
  a!.set('k', { v: 1 })
  assert.equal(a!.get('k'), { v: 1 }, 'L1 at once')
  assert.is(await record('k'), undefined, 'L2 not yet: the write-through runs after the caller')
  await a!.l2.flush()
  assert.is((await record('k'))?.kind, 'w')
  await net.flush()
  const loader = async (): Promise<Value> => { throw new Error('loader called') }
  assert.equal(await b!.getOrLoad('k', loader), { v: 1 }, 'from L2')
  a!.delete('k')
  await a!.l2.flush()
  assert.is((await record('k'))?.kind, 't')
  a!.set('j', { v: 2 })
  a!.invalidate('j')
  await a!.l2.flush()
  assert.is((await record('j'))?.kind, 't')
  assert.is(a!.stats().tier?.l2Writes, 3, 'the set of j and its invalidation coalesced: newest per key')
  // A tag's invalidation stores nothing under the tag; a cascade tombstones the replicated dependents.
  a!.set('d', { v: 3 }, { tags: ['t'] })
  await a!.l2.flush()
  a!.invalidateTag('t')
  await a!.l2.flush()
  assert.is((await record('d'))?.kind, 't')
  assert.is(await lab.client.keys('meshcache:ns:\u0000*').then((k) => k.length), 0)
  // local: true stays local.
  a!.set('loc', { v: 4 }, { local: true })
  await a!.l2.flush()
  assert.is(await record('loc'), undefined)
})

test('coalescing covers the L2 lookup: 1,000 concurrent misses make 1 L2 read and at most 1 loader call', async () => {
  const writer = await node(alone())
  assert.equal(await writer.getOrLoad('hot', async () => ({ v: 7 })), { v: 7 }) // a fill: no write known of the key anywhere
  await fillsSettled(writer.l2, 1)
  const reader = await node(alone())
  await lab.client.sendCommand(['CONFIG', 'RESETSTAT'])
  let calls = 0
  const loader = async (): Promise<Value> => ({ v: ++calls })
  const hot = await Promise.all(Array.from({ length: 1_000 }, () => reader.getOrLoad('hot', loader)))
  const cold = await Promise.all(Array.from({ length: 1_000 }, () => reader.getOrLoad('cold', loader)))
  assert.ok(hot.every((x) => x.v === 7))
  assert.ok(cold.every((x) => x.v === 1))
  assert.is(calls, 1)
  const t = reader.stats().tier!
  assert.is(Number(t.l2Hits) + Number(t.l2Misses), 2, 'one L2 read per key')
  const info = await lab.client.info('commandstats')
  assert.match(info, /cmdstat_get:calls=2,/, 'Redis saw 2 GETs')
})

test('the race, without a mesh between them: a load paused across another instance\'s write does not put its old value into L2', async () => {
  // Two instances that share only Redis: the guard is Redis's alone here.
  const a = await node(alone())
  const b = await node(alone())
  const c = await node(alone())
  const row = deferred<Value>()
  let loading = deferred<void>()
  const pending = a.getOrLoad('k', () => { loading.resolve(); return row.promise }) // reads the old row, then pauses
  await loading.promise
  b.set('k', { v: 2 }) // the new row is written, and through to L2
  await b.l2.flush()
  row.resolve({ v: 1 }) // the old row arrives
  assert.equal(await pending, { v: 1 })
  await fillsSettled(a.l2, 1)
  assert.is(a.stats().tier?.l2Skipped, 1, 'the fill was refused by Redis')
  assert.is((await record('k'))?.kind, 'w')
  assert.equal(await c.getOrLoad('k', async () => ({ v: 2 })), { v: 2 }, 'never the old row (c knows nothing of the write: the loader runs)')
  // The same with a delete: the tombstone refuses the fill.
  loading = deferred<void>()
  const row2 = deferred<Value>()
  const pending2 = a.getOrLoad('gone', () => { loading.resolve(); return row2.promise })
  await loading.promise
  b.delete('gone')
  await b.l2.flush()
  row2.resolve({ v: 1 })
  await pending2
  await fillsSettled(a.l2, 2)
  assert.is((await record('gone'))?.kind, 't')
  assert.equal(await c.getOrLoad('gone', async () => ({ v: 3 })), { v: 3 }, 'the loader, not the old value')
})

test('the race, with the mesh: the write detaches the paused load, which fills neither tier', async () => {
  const { net, nodes: [a, b, c] } = await mesh(3)
  const row = deferred<Value>()
  const loading = deferred<void>()
  const pending = a!.getOrLoad('k', () => { loading.resolve(); return row.promise })
  await loading.promise
  b!.set('k', { v: 2 })
  await net.flush() // a hears of the write while its load runs
  row.resolve({ v: 1 })
  assert.equal(await pending, { v: 1 }, 'its callers get the loaded value')
  assert.is(a!.get('k'), undefined, 'not cached in L1')
  await b!.l2.flush()
  assert.is(a!.stats().tier?.l2Fills, 0)
  assert.is(a!.stats().tier?.l2Bypassed, 0)
  assert.equal(await c!.getOrLoad('k', async () => ({ v: -1 })), { v: 2 })
})

test('the read guard: an L2 value older than a write known here is refused (and a known delete is repaired in L2)', async () => {
  const { net, nodes: [a, b] } = await mesh(2)
  a!.set('k', { v: 1 })
  await a!.l2.flush()
  const old = await lab.client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).get('meshcache:ns:k') as Buffer
  // The delete reaches every instance through the mesh, but its tombstone never reached Redis
  // (its writer's queue was lost), and the old value is back in Redis.
  b!.delete('k')
  await net.flush()
  await b!.l2.flush()
  await lab.client.set('meshcache:ns:k', old)
  const c = await node(alone()) // knows nothing of the key: a copy written over a state it lacks is not trusted
  assert.equal(await c.getOrLoad('k', async () => ({ v: 9 })), { v: 9 }, 'the loader runs')
  assert.equal(await a!.getOrLoad('k', async () => ({ v: 2 })), { v: 2 }, '...a knows: the loader runs')
  assert.is(a!.stats().tier?.l2Refused, 1)
  await a!.l2.flush()
  assert.is((await record('k'))?.kind, 't', 'the known delete is written to L2 again')
  // Tags: a value filled with a tag is refused once the tag's invalidation is known.
  assert.equal(await a!.getOrLoad('t1', async () => ({ v: 1 }), { tags: ['t'] }), { v: 1 })
  await fillsSettled(a!.l2, 1)
  assert.equal((await record('t1'))?.bases, ['\u0000tag:t'])
  b!.invalidateTag('t')
  await net.flush()
  assert.is(a!.get('t1'), undefined)
  assert.equal(await b!.getOrLoad('t1', async () => ({ v: 2 })), { v: 2 }, 'b refuses the tagged L2 copy')
  assert.equal(await a!.getOrLoad('t1', async () => ({ v: 3 })), { v: 3 })
})

test('Redis killed mid-run and restarted with its old data: nothing thrown to callers, no stale read after recovery', async () => {
  const failures: TierFailure[] = []
  const { net, nodes } = await mesh(2, { timeout: 20, failureThreshold: 2, probeInterval: 30 })
  for (const n of nodes) n.on('tierError', (f: TierFailure) => failures.push(f))
  const [a, b] = nodes as [MeshCache<Value> & { l2: RedisTier<Value> }, MeshCache<Value> & { l2: RedisTier<Value> }]
  const db = new Map<string, number>() // the source of truth
  const load = (key: string): Promise<Value> => Promise.resolve({ v: db.get(key) ?? 0 })
  const write = (c: MeshCache<Value>, key: string, v: number | undefined): void => {
    if (v === undefined) { db.delete(key); c.delete(key) } else { db.set(key, v); c.set(key, { v }) }
  }
  const keys = Array.from({ length: 20 }, (_, i) => `k${i}`)
  for (const [i, k] of keys.entries()) write(a, k, i)
  await a.l2.flush()
  await net.flush()
  await lab.server.kill()
  // During the outage: writes and deletes from both instances, reads everywhere; nothing throws.
  for (const [i, k] of keys.entries()) {
    if (i % 3 === 0) write(b, k, undefined)
    else if (i % 3 === 1) write(a, k, 100 + i)
    assert.equal(await b.getOrLoad(k, load), { v: db.get(k) ?? 0 })
  }
  await net.flush()
  for (const k of keys) assert.equal(await a.getOrLoad(k, load), { v: db.get(k) ?? 0 })
  assert.ok(failures.length > 0, 'failures reported as tierError')
  assert.ok(nodes.every((n) => n.l2.breaker === 'open'))
  const closed = nodes.map((n) => new Promise<void>((resolve) => n.l2.on('breaker', (s: string) => { if (s === 'closed') resolve() })))
  await lab.server.restart()
  await Promise.all(closed)
  // A fresh instance (no mesh state) reads L2 only: what the replay wrote there must be current.
  const fresh = await node(alone())
  for (const k of keys) {
    const r = await record(k)
    const v = db.get(k)
    if (v === undefined) assert.is(r?.kind, 't', `${k}: its delete replayed over the old value`)
    else assert.equal(JSON.parse(Buffer.from(r!.payload).toString()), { v }, `${k}: the newest write in L2`)
    assert.equal(await fresh.getOrLoad(k, load), { v: v ?? 0 }, `fresh instance, ${k}`)
    for (const c of [a, b]) assert.equal(await c.getOrLoad(k, load), { v: v ?? 0 }, `${k}`)
  }
  assert.ok(nodes.every((n) => Number(n.l2.stats().l2Replayed) > 0))
})

test('a fill carries the newest write its loader knew of, not a clock: a load begun before a write is refused by those who know the write, even from an instance whose clock runs ahead', async () => {
  const net = createMemoryNetwork()
  const mk = async (name: string, now?: () => number): Promise<MeshCache<Value> & { l2: RedisTier<Value> }> => {
    const l2 = new RedisTier<Value>({ redis: lab.client, timeout: 500 })
    const c = await createMeshCache<Value>({ namespace: 'ns', transport: net.transport(name), l2, nodeId: name, syncInterval: 0, ...(now === undefined ? {} : { now }) }) as MeshCache<Value> & { l2: RedisTier<Value> }
    c.l2 = l2
    caches.push(c)
    return c
  }
  const writer = await mk('w')
  const reader = await mk('r')
  const loader = await mk('p', () => Date.now() + 50) // 50 ms ahead (within maxClockSkew): its clock stamps would outrank the write
  await net.flush()
  net.partition(['w', 'r'], ['p']) // p does not hear of the write while it loads
  ;(writer.tier as { write: unknown }).write = () => {} // and the writer's own write-through is late
  const row = deferred<Value>()
  const loading = deferred<void>()
  const pending = loader.getOrLoad('k', () => { loading.resolve(); return row.promise })
  await loading.promise
  writer.set('k', { v: 2 })
  await net.flush()
  row.resolve({ v: 1 })
  await pending
  await fillsSettled(loader.l2, 1)
  assert.is(loader.stats().tier?.l2Fills, 1, 'the old row did reach L2 (nothing there refused it)')
  assert.is((await record('k'))?.hlc, 0, 'stamped with what its loader knew: no write of k')
  assert.equal(await reader.getOrLoad('k', async () => ({ v: 2 })), { v: 2 }, 'the reader knows the write: the fill is refused')
  assert.is(reader.stats().tier?.l2Refused, 1)
})

test('a value read from L2 lives no longer than its first load\'s ttl: L1 copies end with it, and L2 copies past it are misses', async () => {
  const clock = createTestClock()
  const mk = async (): Promise<MeshCache<Value> & { l2: RedisTier<Value> }> => {
    const l2 = new RedisTier<Value>({ redis: lab.client, timeout: 500, ttl: 60_000 }) // Redis keeps copies longer than they are fresh
    const c = await createMeshCache<Value>({ namespace: 'ns', transport: alone(), l2, now: clock.now, ttl: 10_000, maxTtl: 60_000 }) as MeshCache<Value> & { l2: RedisTier<Value> }
    c.l2 = l2
    caches.push(c)
    return c
  }
  const a = await mk()
  const b = await mk()
  let calls = 0
  const loader = async (): Promise<Value> => ({ v: ++calls })
  assert.equal(await a.getOrLoad('k', loader), { v: 1 })
  await fillsSettled(a.l2, 1)
  assert.is((await record('k'))?.expiresAt, clock.now() + 10_000)
  clock.advance(8_000)
  assert.equal(await b.getOrLoad('k', loader), { v: 1 }, 'from L2')
  clock.advance(2_001)
  assert.is(b.get('k'), undefined, 'its L1 copy ended with the first load\'s ttl, not 10 s after b read it')
  assert.equal(await b.getOrLoad('k', loader), { v: 2 }, 'the L2 copy, still in Redis, is past its freshness: a miss')
  assert.is(b.stats().tier?.l2Hits, 1)
})

test('stale-while-revalidate: a refresh in the grace window calls the loader, not L2 (whose copy is as old)', async () => {
  const clock = createTestClock()
  const l2 = new RedisTier<Value>({ redis: lab.client, timeout: 500 })
  const cache = await createMeshCache<Value>({ namespace: 'ns', transport: alone(), l2, now: clock.now, ttl: 10_000, maxTtl: 60_000 })
  caches.push(cache)
  let version = 1
  let calls = 0
  const loader = async (): Promise<Value> => { calls++; return { v: version } }
  assert.equal(await cache.getOrLoad('k', loader, { ttl: 1_000, grace: 5_000 }), { v: 1 })
  await fillsSettled(l2, 1)
  assert.ok(await lab.client.pTTL('meshcache:ns:k') <= 1_000, 'L2 holds the fresh part of its life only')
  version = 2
  clock.advance(1_500) // in the grace window (Redis's real clock has not moved: its copy is still there)
  assert.equal(await cache.getOrLoad('k', loader, { ttl: 1_000, grace: 5_000 }), { v: 1 }, 'the stale value, served at once')
  await new Promise((resolve) => setImmediate(resolve))
  while (cache.dependencyStats().loading > 0) await new Promise((resolve) => setImmediate(resolve))
  assert.is(calls, 2, 'the refresh called the loader')
  assert.is(cache.stats().tier?.l2Hits, 0)
  assert.equal(cache.get('k'), { v: 2 })
})

test('with l2, a codec applies in invalidate mode too (values are encoded for Redis)', async () => {
  const seen: string[] = []
  const codec = { encode: (v: Value) => { seen.push('encode'); return new TextEncoder().encode(`#${v.v}`) }, decode: (b: Uint8Array) => { seen.push('decode'); return { v: Number(new TextDecoder().decode(b).slice(1)) } } }
  const net = createMemoryNetwork()
  const a = await createMeshCache<Value>({ namespace: 'ns', transport: net.transport('a'), codec, l2: new RedisTier<Value>({ redis: lab.client, timeout: 500 }) })
  const b = await createMeshCache<Value>({ namespace: 'ns', transport: net.transport('b'), codec, l2: new RedisTier<Value>({ redis: lab.client, timeout: 500 }) })
  caches.push(a, b)
  a.set('k', { v: 5 })
  await a.tier?.flush?.()
  await net.flush() // b knows the write: its L2 copy is trusted
  assert.equal(await b.getOrLoad('k', async () => ({ v: -1 })), { v: 5 })
  assert.equal(seen, ['encode', 'decode'])
  assert.match(String(await lab.client.get('meshcache:ns:k')), /#5$/)
})

test('bad l2 options fail createMeshCache with E_INVALID_OPTION, and nothing is left open', async () => {
  const used = new RedisTier<Value>({ redis: lab.client })
  caches.push(await createMeshCache<Value>({ namespace: 'ns', transport: alone(), l2: used }))
  for (const [l2, pattern] of [[42, /`l2`/], [{ redis: 'nope' }, /l2\.redis/], [{ redis: lab.client, ttl: 120_000 }, /l2\.ttl/], [used, /already attached/]] as const) {
    try {
      await createMeshCache({ namespace: 'ns', transport: alone(), ttl: 60_000, l2: l2 as any })
      assert.unreachable('accepted')
    } catch (error) {
      assert.instance(error, MeshCacheError)
      assert.is((error as MeshCacheError).code, ErrorCode.INVALID_OPTION)
      assert.match((error as Error).message, pattern)
    }
  }
})

test.run()
