/**
 * RedisTier alone against a real redis-server (started here on a free port):
 * versions, tombstones, the fill/write guards, timeouts, the breaker and the
 * outage replay. The cache's use of it is in l2-cache.test.ts.
 */
import { once } from 'node:events'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { RESP_TYPES, createClient } from 'redis'
import { ErrorCode, MeshCacheError, jsonCodec } from '../../lib/index.ts'
import { RedisTier, type RedisTierOptions } from '../../lib/tiers/redis.ts'
import type { TierFailure, TierHost } from '../../lib/tiers/tier.ts'
import { decodeRecord } from '../../lib/tiers/redis-record.ts'
import { redisSuite } from '../helpers/redis-suite.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'

const lab = redisSuite(test, { persist: true })
const open = lab.caches
const HLC = (ms: number): number => ms * 1000

function host (over: Partial<TierHost<any>> = {}): TierHost<any> & { failures: TierFailure[] } {
  const failures: TierFailure[] = []
  return { namespace: 'ns', codec: jsonCodec as any, now: Date.now, maxTtl: 60_000, onFailure: (f) => failures.push(f), failures, ...over }
}

/** A tier on the shared client; `timeout` is generous here: this machine is shared, and only the outage tests want timeouts. */
function tier (over: Partial<RedisTierOptions> = {}, h = host()): RedisTier<any> & { h: typeof h } {
  const t = new RedisTier<any>({ redis: lab.client, timeout: 500, ...over }) as RedisTier<any> & { h: typeof h }
  t.attach(h)
  t.h = h
  open.push(t)
  return t
}

async function raw (key: string): Promise<ReturnType<typeof decodeRecord>> {
  const buf = await lab.client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).get(`meshcache:ns:${key}`) as unknown
  return buf === null ? undefined : decodeRecord(buf as Buffer)
}

test('a write stores the value with its version; a read returns it', async () => {
  const t = tier()
  t.write('k', { n: 1 }, 30_000, HLC(Date.now()) + 7, 'a~1', ['b', '\u0000tag:t'])
  await t.flush()
  const hit = await t.read('k')
  assert.equal(hit?.value, { n: 1 })
  assert.is((hit?.hlc ?? 0) % 1000, 7)
  assert.is(hit?.writer, 'a~1')
  assert.is(hit?.source, 'write')
  assert.equal(hit?.bases, ['b', '\u0000tag:t'])
  const ttl = await lab.client.pTTL('meshcache:ns:k')
  assert.ok(ttl > 29_000 && ttl <= 30_000, `pttl ${ttl}`)
  assert.is(t.stats().l2Writes, 1)
  assert.is(t.stats().l2Hits, 1)
})

test('a delete leaves a short-lived tombstone with its version; reads miss', async () => {
  const t = tier({ tombstoneTtl: 4_000 })
  const now = HLC(Date.now())
  t.write('k', { n: 1 }, 30_000, now, 'a~1', undefined)
  await t.flush()
  t.write('k', undefined, 30_000, now + 1, 'a~1', undefined)
  await t.flush()
  assert.is(await t.read('k'), undefined)
  const record = await raw('k')
  assert.is(record?.kind, 't')
  assert.is(record?.hlc, now + 1)
  const ttl = await lab.client.pTTL('meshcache:ns:k')
  assert.ok(ttl > 3_000 && ttl <= 4_000, `pttl ${ttl}`)
  assert.is(t.stats().l2Misses, 1)
})

test('a write never overwrites a newer write or tombstone of another instance; ties go to the larger writer', async () => {
  const a = tier()
  const b = tier()
  const now = HLC(Date.now())
  a.write('k', 'new', 30_000, now + 10, 'a~1', undefined)
  await a.flush()
  b.write('k', 'old', 30_000, now + 5, 'b~1', undefined)
  await b.flush()
  assert.is((await a.read('k'))?.value, 'new')
  assert.is(b.stats().l2Skipped, 1)
  a.write('d', undefined, 30_000, now + 10, 'a~1', undefined) // a tombstone
  await a.flush()
  b.write('d', 'resurrected', 30_000, now + 9, 'b~1', undefined)
  await b.flush()
  assert.is((await raw('d'))?.kind, 't')
  // Same HLC: (hlc, writer) as the mesh's own tie-break, 'b~1' > 'a~1'.
  b.write('k', 'b-wins', 30_000, now + 10, 'b~1', undefined)
  await b.flush()
  assert.is((await a.read('k'))?.value, 'b-wins')
  a.write('k', 'a-loses', 30_000, now + 10, 'a~1', undefined)
  await a.flush()
  assert.is((await a.read('k'))?.value, 'b-wins')
})

test('a fill lands only on an empty key: never over a write or a tombstone, and any write replaces it', async () => {
  const a = tier()
  const b = tier()
  const now = HLC(Date.now())
  a.write('w', 'written', 30_000, now, 'a~1', undefined)
  a.write('t', undefined, 30_000, now, 'a~1', undefined)
  await a.flush()
  const fills = (n: number) => new Promise<void>((resolve) => {
    const check = (): void => { if (Number(b.stats().l2Fills) + Number(b.stats().l2Skipped) >= n) resolve(); else setImmediate(check) }
    check()
  })
  // A load that began after both writes (a larger HLC) still does not overwrite them.
  b.fill('w', 'loaded', Date.now() + 30_000, now + 100, Date.now(), undefined)
  b.fill('t', 'loaded', Date.now() + 30_000, now + 100, Date.now(), undefined)
  b.fill('e', 'loaded', Date.now() + 30_000, now + 100, Date.now(), undefined)
  await fills(3)
  assert.is(b.stats().l2Skipped, 2)
  assert.is(b.stats().l2Fills, 1)
  assert.is((await a.read('w'))?.value, 'written')
  assert.is(await a.read('t'), undefined)
  const e = await a.read('e')
  assert.is(e?.value, 'loaded')
  assert.is(e?.source, 'fill')
  // An older write still replaces a fill: a write is news, a load is not.
  a.write('e', 'older-write', 30_000, now - 1_000, 'a~1', undefined)
  await a.flush()
  assert.is((await b.read('e'))?.value, 'older-write')
})

test('a load older than half the tombstone lifetime fills nothing', async () => {
  let now = Date.now()
  const t = tier({ tombstoneTtl: 1_000 }, host({ now: () => now }))
  const started = now
  now += 600
  t.fill('k', 'slow-load', Date.now() + 30_000, HLC(started), started, undefined)
  assert.is(t.stats().l2Bypassed, 1)
  await lab.client.ping()
  assert.is(await lab.client.exists('meshcache:ns:k'), 0)
})

test('a write queued longer than the tombstone lifetime goes as a tombstone of its version', async () => {
  let now = Date.now()
  const t = tier({ tombstoneTtl: 1_000 }, host({ now: () => now }))
  const written = HLC(now)
  now += 1_500 // the write waited (an outage) past its guard
  t.write('k', 'late', 30_000, written, 'a~1', undefined)
  await t.flush()
  const record = await raw('k')
  assert.is(record?.kind, 't')
  assert.is(record?.hlc, written)
})

test('a value the codec cannot encode is written as a tombstone, and the error is reported', async () => {
  const t = tier()
  t.write('k', 'v1', 30_000, HLC(Date.now()), 'a~1', undefined)
  await t.flush()
  t.write('k', { big: 1n }, 30_000, HLC(Date.now()) + 1, 'a~1', undefined)
  await t.flush()
  assert.is((await raw('k'))?.kind, 't')
  assert.is(t.h.failures.length, 1)
  assert.is((t.h.failures[0]?.error as MeshCacheError).code, ErrorCode.VALUE_CODEC)
})

test('the script is reloaded after SCRIPT FLUSH (EVALSHA falls back to EVAL on NOSCRIPT)', async () => {
  const t = tier()
  t.write('a', 1, 30_000, HLC(Date.now()), 'a~1', undefined)
  await t.flush()
  t.write('b', 2, 30_000, HLC(Date.now()), 'a~1', undefined)
  await t.flush()
  await lab.client.scriptFlush()
  t.write('c', 3, 30_000, HLC(Date.now()), 'a~1', undefined)
  await t.flush()
  assert.is((await t.read('c'))?.value, 3)
  assert.is(t.stats().l2Errors, 0)
})

test('bad options fail with E_INVALID_OPTION naming the option', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ redis: 42 }, /l2\.redis/],
    [{ redis: 'http://localhost' }, /l2\.redis/],
    [{ redis: lab.client, timeout: 0 }, /l2\.timeout/],
    [{ redis: lab.client, tombstoneTtl: 1.5 }, /l2\.tombstoneTtl/],
    [{ redis: lab.client, prefix: 3 }, /l2\.prefix/],
    [null, /l2/],
    // A misspelt option would leave its default in force, silently.
    [{ redis: lab.client, tiemout: 5 }, /^option `l2\.tiemout` is not an option; did you mean `l2\.timeout`\?/],
    // A client never connected (or closed) would fail every call while the service ran on without L2.
    [{ redis: createClient({ url: lab.server.url }) }, /^option `l2\.redis` is a client that is not connected: `await client\.connect\(\)` first/],
  ]
  for (const [options, pattern] of cases) {
    try {
      void new RedisTier(options as RedisTierOptions)
      assert.unreachable(`accepted ${String(options)}`)
    } catch (error) {
      assert.instance(error, MeshCacheError)
      assert.is((error as MeshCacheError).code, ErrorCode.INVALID_OPTION)
      assert.match((error as Error).message, pattern)
    }
  }
  const t = new RedisTier({ redis: lab.client, ttl: 120_000 })
  try {
    t.attach(host())
    assert.unreachable('ttl above maxTtl accepted')
  } catch (error) {
    assert.is((error as MeshCacheError).code, ErrorCode.INVALID_OPTION)
    assert.match((error as Error).message, /l2\.ttl.*maxTtl/)
  }
})

test('a URL makes the tier own its client: connected on attach, closed on close', async () => {
  const t = new RedisTier<any>({ redis: lab.server.url, timeout: 500 })
  t.attach(host())
  await t.ready()
  t.write('k', 'via-url', 30_000, HLC(Date.now()), 'a~1', undefined)
  await t.flush()
  assert.is((await t.read('k'))?.value, 'via-url')
  await t.close()
  assert.is((await raw('k'))?.kind, 'w')
})

test('a tier that owns its client closes within its deadline while Redis is out of reach, connected before or never', async () => {
  const proxy = await startTcpProxy(lab.server.port)
  try {
    const connected = new RedisTier<any>({ redis: `redis://127.0.0.1:${proxy.port}`, timeout: 50 })
    connected.attach(host())
    await connected.ready()
    connected.write('k', 'v', 30_000, HLC(Date.now()), 'a~1', undefined)
    await connected.flush()
    proxy.cut() // node-redis now reconnects forever: a graceful close would wait for it
    connected.write('k', 'owed', 30_000, HLC(Date.now()) + 1, 'a~1', undefined)
    const never = new RedisTier<any>({ redis: `redis://127.0.0.1:${proxy.port}`, timeout: 50 })
    never.attach(host()) // its first connect never completes
    for (const t of [connected, never]) {
      const started = Date.now()
      const closed = await Promise.race([t.close().then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 3_000))])
      assert.ok(closed, 'close() returned')
      assert.ok(Date.now() - started < 1_000, `within its deadlines (${Date.now() - started} ms)`)
    }
  } finally {
    await proxy.close()
  }
})

test('a call made just before the event loop is busy is timed from when it left, not from the call', async () => {
  const t = tier({ timeout: 5 })
  t.write('k', 'v', 30_000, HLC(Date.now()), 'a~1', undefined)
  await t.flush()
  // node-redis writes a turn's commands in a setImmediate: these reads leave only after the 30 ms below, and Redis
  // answers them well within 5 ms of that. Timed from the call, each was judged late (the process's own stretch).
  for (let round = 0; round < 5; round++) {
    const reads = [t.read('k'), t.read('k')]
    const until = performance.now() + 30
    while (performance.now() < until) { /* the process's own work */ }
    for (const hit of await Promise.all(reads)) assert.is(hit?.value, 'v', `round ${round}: ${JSON.stringify(t.h.failures.map((f) => String(f.error)))}`)
  }
  assert.is(t.stats().l2Errors, 0)
  assert.is(t.h.failures.length, 0)
})

test('a call that leaves on time and is not answered within the deadline still times out', async () => {
  const t = tier({ timeout: 20, failureThreshold: 100 })
  lab.server.pause()
  try {
    const started = performance.now()
    assert.is(await t.read('k'), undefined)
    const took = performance.now() - started
    assert.ok(took >= 20 && took < 500, `judged after ${took.toFixed(1)} ms`)
    assert.is(t.stats().l2Errors, 1)
    assert.match(String(t.h.failures[0]?.error), /took more than 20 ms/)
  } finally {
    lab.server.resume()
  }
})

test('a hung Redis (SIGSTOP): calls time out, nothing throws, the breaker opens, then replays and closes', async () => {
  const t = tier({ timeout: 20, failureThreshold: 3, probeInterval: 50 })
  const now = HLC(Date.now())
  t.write('k', 'before', 30_000, now, 'a~1', undefined)
  await t.flush()
  lab.server.pause()
  try {
    const opened = once(t, 'breaker')
    for (let i = 0; i < 3; i++) assert.is(await t.read('k'), undefined)
    assert.is(await opened.then(([s]) => s), 'open')
    assert.ok(Number(t.stats().l2Errors) >= 3)
    // While open: reads bypass Redis, writes queue (newest per key).
    assert.is(await t.read('k'), undefined)
    t.write('k', 'during-1', 30_000, now + 1, 'a~1', undefined)
    t.write('k', undefined, 30_000, now + 2, 'a~1', undefined)
    t.write('j', 'during', 30_000, now + 2, 'a~1', undefined)
    assert.is(t.stats().l2Pending, 2)
  } finally {
    lab.server.resume()
  }
  const states: string[] = []
  t.on('breaker', (s: string) => states.push(s))
  await new Promise<void>((resolve) => t.on('breaker', (s: string) => { if (s === 'closed') resolve() }))
  assert.equal(states, ['recovering', 'closed'])
  assert.is((await raw('k'))?.kind, 't')
  assert.is((await t.read('j'))?.value, 'during')
  assert.is(t.stats().l2Pending, 0)
  assert.is(t.stats().l2Breaker, 'closed')
})

test('outage rule: Redis killed and restarted with its old data; the deletes made meanwhile land before any read or fill', async () => {
  const t = tier({ timeout: 20, failureThreshold: 2, probeInterval: 50 })
  const other = tier({ timeout: 20, failureThreshold: 2, probeInterval: 50 })
  const now = HLC(Date.now())
  t.write('k', 'old', 30_000, now, 'a~1', undefined)
  await t.flush()
  await lab.server.kill()
  const opened = once(t, 'breaker')
  for (let i = 0; i < 2; i++) assert.is(await t.read('k'), undefined)
  await opened
  t.write('k', undefined, 30_000, now + 1, 'a~1', undefined) // the delete made during the outage
  await lab.server.restart()
  // The restarted server has the old value back (append-only file): only the replay may remove it.
  const recovered = new Promise<void>((resolve) => t.on('breaker', (s: string) => { if (s === 'closed') resolve() }))
  // Until then this tier neither reads nor fills the key.
  assert.is(await t.read('k'), undefined)
  t.fill('k', 'refill', Date.now() + 30_000, now + 2, Date.now(), undefined)
  await recovered
  assert.is((await raw('k'))?.kind, 't')
  assert.is(await other.read('k'), undefined)
  assert.ok(Number(t.stats().l2Replayed) >= 1)
})

test('maxPending overflow: queued writes dropped, then reads and fills stay off for the L2 lifetime', async () => {
  let now = Date.now()
  const t = tier({ timeout: 20, failureThreshold: 1, probeInterval: 50, maxPending: 2, ttl: 10_000 }, host({ now: () => now }))
  lab.server.pause()
  try {
    const opened = once(t, 'breaker')
    await t.read('x')
    await opened
    for (const k of ['a', 'b', 'c']) t.write(k, k, 30_000, HLC(now), 'a~1', undefined)
    assert.ok(t.h.failures.some((f) => /more than 2 keys waiting/.test(String((f.error as Error).message))))
  } finally {
    lab.server.resume()
  }
  await new Promise<void>((resolve) => t.on('breaker', (s: string) => { if (s === 'closed') resolve() }))
  await lab.client.set('meshcache:ns:z', 'anything')
  const bypassed = Number(t.stats().l2Bypassed)
  assert.is(await t.read('z'), undefined)
  assert.is(t.stats().l2Bypassed, bypassed + 1)
  now += 10_001
  t.write('z', 'after', 30_000, HLC(now), 'a~1', undefined)
  await t.flush()
  assert.is((await t.read('z'))?.value, 'after')
})

test.run()
