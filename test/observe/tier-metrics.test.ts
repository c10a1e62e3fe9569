/**
 * The L2 tier's figures through the exporter contract: a real redis-server (test/helpers/redis.ts),
 * a cache with a RedisTier, and its prom-client registry showing hits and misses by tier.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Registry } from 'prom-client'
import { createClient } from 'redis'
import { createMeshCache } from '../../lib/index.ts'
import { createMemoryNetwork } from '../../lib/testing/index.ts'
import { RedisTier } from '../../lib/tiers/redis.ts'
import { registerMetrics } from '../../lib/observe/prometheus.ts'
import { tierMetricSource } from '../../lib/observe/tier-metrics.ts'
import { startRedis, type RedisServer } from '../helpers/redis.ts'

let server: RedisServer | undefined

test.before(async () => { server = await startRedis() })
test.after(async () => { await server?.stop() })

type Json = Awaited<ReturnType<Registry['getMetricsAsJSON']>>
const value = (json: Json, name: string, labels: Record<string, string>) =>
  json.find((m) => m.name === name)?.values.find((v: any) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value

test('an L2 hit and miss show as hits_total / misses_total{tier="l2"} beside L1\'s, and the tier\'s own counters', async () => {
  const client = createClient({ url: server!.url })
  await client.connect()
  const net = createMemoryNetwork({ auto: true })
  const l2a = new RedisTier<string>({ redis: client, timeout: 1_000 })
  const l2b = new RedisTier<string>({ redis: client, timeout: 1_000 })
  const a = await createMeshCache<string>({ namespace: 'tier-metrics', transport: net.transport('a'), l2: l2a })
  const b = await createMeshCache<string>({ namespace: 'tier-metrics', transport: net.transport('b'), l2: l2b })
  try {
    const registry = new Registry()
    registerMetrics(b, { registry })
    assert.is(await a.getOrLoad('user:1', async () => 'ada'), 'ada') // a loads and fills L2
    await l2a.flush()
    assert.is(await b.getOrLoad('user:1', async () => 'from the database'), 'ada', 'b reads it from L2')
    assert.is(await b.getOrLoad('user:2', async () => 'bob'), 'bob') // an L2 miss
    const json = await registry.getMetricsAsJSON()
    assert.is(value(json, 'meshcache_hits_total', { tier: 'l2' }), 1)
    assert.is(value(json, 'meshcache_misses_total', { tier: 'l2' }), 1)
    assert.is(value(json, 'meshcache_misses_total', { tier: 'l1' }), 2, 'the L1 misses before them')
    assert.is(value(json, 'meshcache_tier_errors_total', { tier: 'l2' }), 0)
    assert.is(value(json, 'meshcache_tier_breaker_open', { tier: 'l2' }), 0)
    assert.ok(json.some((m) => m.name === 'meshcache_tier_pending'))
  } finally {
    await b.close()
    await a.close()
    client.destroy()
  }
})

test('the mapping of a tier\'s stats to families', () => {
  const families = tierMetricSource({ name: 'l2', stats: () => ({ l2Hits: 3, l2Misses: 4, l2Pending: 2, l2Breaker: 'open', l2BreakerOpened: 1, other: 9 }) }).collect()
  const get = (name: string) => families.find((f) => f.name === name)?.samples[0]
  assert.equal(get('hits_total'), { labels: { tier: 'l2' }, value: 3 })
  assert.equal(get('tier_pending'), { labels: { tier: 'l2' }, value: 2 })
  assert.equal(get('tier_breaker_open'), { labels: { tier: 'l2' }, value: 1 })
  assert.equal(get('tier_breaker_opened_total'), { labels: { tier: 'l2' }, value: 1 })
  assert.is(families.length, 5, 'a field not named after the tier is left out')
})

test.run()
