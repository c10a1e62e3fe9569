/**
 * The CDC source's figures through the exporter contract: a real PostgreSQL
 * (test/helpers/postgres.ts), a change from psql, and the cache's prom-client
 * registry showing it (cdc_* families beside the core's).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Registry } from 'prom-client'
import { createMeshCache, type MeshCache } from '../../lib/index.ts'
import { createMemoryNetwork } from '../../lib/testing/index.ts'
import { createPostgresSource } from '../../lib/sources/postgres.ts'
import { collectFamilies } from '../../lib/observe/exporter.ts'
import { registerMetrics } from '../../lib/observe/prometheus.ts'
import { sourceMetricSource } from '../../lib/observe/source-metrics.ts'
import { startPostgres, type PgCluster } from '../helpers/postgres.ts'

let db: PgCluster | undefined

test.before(async () => {
  db = await startPostgres()
  await db.psql('CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL); INSERT INTO users VALUES (1, \'a@example.com\');')
})

test.after(async () => {
  await db?.stop()
})

type Json = Awaited<ReturnType<Registry['getMetricsAsJSON']>>
const value = (json: Json, name: string, metricName?: string) =>
  json.find((m) => m.name === name)?.values.find((v: any) => metricName === undefined || v.metricName === metricName)?.value

test('a change from psql shows in meshcache_cdc_* beside the core figures; the source leaves with close()', async () => {
  const cache: MeshCache<string> = await createMeshCache<string>({ namespace: 'cdc-metrics', transport: createMemoryNetwork({ auto: true }).transport('a') })
  try {
    const registry = new Registry()
    registerMetrics(cache, { registry })
    const source = await createPostgresSource(cache, { connection: db!.url, slot: 'metrics_slot', publication: 'metrics_pub', tables: { users: (r) => `user:${String(r.id)}` } })
    cache.set('user:1', 'a@example.com')
    const evicted = new Promise((resolve) => cache.once('evict', resolve))
    await db!.psql("UPDATE users SET email = 'b@example.com' WHERE id = 1")
    // Bounded by the change's own arrival: the eviction is the event this waits on.
    const guard = setTimeout(() => {}, 30_000)
    await evicted
    clearTimeout(guard)
    let json = await registry.getMetricsAsJSON()
    for (let i = 0; i < 100 && value(json, 'meshcache_cdc_invalidations_total') !== 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20)) // the batch is counted once it is handed over
      json = await registry.getMetricsAsJSON()
    }
    assert.is(value(json, 'meshcache_cdc_invalidations_total'), 1)
    assert.is(value(json, 'meshcache_cdc_batches_total'), 1)
    assert.is(value(json, 'meshcache_cdc_reading'), 1)
    assert.is(value(json, 'meshcache_cdc_commit_to_invalidation_seconds', 'meshcache_cdc_commit_to_invalidation_seconds_count'), 1)
    const labels = json.find((m) => m.name === 'meshcache_cdc_reading')?.values[0]?.labels
    assert.equal(labels, { namespace: 'cdc-metrics', source: 'postgres', slot: 'metrics_slot' })
    assert.is(value(json, 'meshcache_evictions_total'), 0, 'the core\'s figures beside them (capacity: 0)')
    await source.close()
    assert.ok(!collectFamilies(cache).some((f) => f.name.startsWith('cdc_')), 'a closed source\'s figures leave the cache')
  } finally {
    await cache.close()
  }
})

test('the mapping of SourceStats to families', () => {
  const stats = {
    reading: false, batches: 3, invalidations: 7, mappingErrors: 1, positionLosses: 0, takeovers: 2,
    commitToInvalidation: { count: 2, p50Ms: 5, p99Ms: 10, maxMs: 10, sumMs: 15, buckets: [[5, 1], [10, 2]] as Array<[number, number]> },
  }
  const families = sourceMetricSource({ name: 'feed', stats: () => stats }).collect()
  const get = (name: string) => families.find((f) => f.name === name)
  assert.equal(get('cdc_reading')?.samples, [{ labels: { source: 'feed' }, value: 0 }])
  assert.is((get('cdc_invalidations_total')?.samples[0] as { value: number }).value, 7)
  assert.equal((get('cdc_commit_to_invalidation_seconds')?.samples[0] as any).buckets, [[0.005, 1], [0.01, 2], [Infinity, 2]])
  assert.is(get('cdc_lag_bytes'), undefined, 'only where the source reports it')
})

test.run()
