/** meshcache/otel on the real OpenTelemetry SDK, read through its in-memory exporter. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type MetricData } from '@opentelemetry/sdk-metrics'
import { ErrorCode, MeshCacheError, type MeshCache } from '../../lib/index.ts'
import { addMetricSource } from '../../lib/observe/exporter.ts'
import { bucketQuantile, registerOtelMetrics } from '../../lib/observe/otel.ts'
import { cluster } from '../helpers/cluster.ts'

function sdk () {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  // A long interval: the test collects with forceFlush, never on a timer.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
  const provider = new MeterProvider({ readers: [reader] })
  const collect = async (): Promise<MetricData[]> => {
    exporter.reset()
    await reader.forceFlush()
    return exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
  }
  return { meter: provider.getMeter('test-service'), provider, collect }
}

const point = (metrics: MetricData[], name: string, attrs: Record<string, string> = {}) =>
  metrics.find((m) => m.descriptor.name === name)?.dataPoints.find((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v))?.value

test('the cache\'s figures as OTel instruments, collected by the SDK', async () => {
  const c = await cluster<string>(2, { mode: 'replicate' })
  const { meter, provider, collect } = sdk()
  try {
    const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
    await c.net.flush()
    registerOtelMetrics(b, { meter, attributes: { service: 'api' } })
    a.set('k1', 'v')
    c.clock.advance(3)
    await c.net.flush()
    b.get('k1')
    b.get('nope')
    let m = await collect()
    assert.is(point(m, 'meshcache.hits', { tier: 'l1', namespace: 'test', service: 'api' }), 1)
    assert.is(point(m, 'meshcache.misses', { tier: 'l1' }), 1)
    assert.is(point(m, 'meshcache.remote_updates'), 1)
    assert.is(point(m, 'meshcache.keys', { tier: 'l1' }), 1)
    assert.is(point(m, 'meshcache.peers'), 1)
    assert.is(m.find((x) => x.descriptor.name === 'meshcache.metadata')?.descriptor.unit, 'By')
    assert.is(point(m, 'meshcache.propagation_lag.count'), 1)
    assert.is(point(m, 'meshcache.propagation_lag.sum'), 0.003)
    assert.is(point(m, 'meshcache.propagation_lag.bucket', { le: '0.005' }), 1)
    assert.is(point(m, 'meshcache.propagation_lag.bucket', { le: '0.0025' }), 0)
    const p99 = point(m, 'meshcache.propagation_lag.p99') as number
    assert.ok(p99 > 0.0025 && p99 <= 0.005, `p99 ${p99} s within its bucket`)
    assert.is(m.find((x) => x.descriptor.name === 'meshcache.propagation_lag.p99')?.descriptor.unit, 's')
    // Collected on each collection: a later hit shows without anything else happening.
    b.get('k1')
    m = await collect()
    assert.is(point(m, 'meshcache.hits', { tier: 'l1' }), 2)
    // A source added later brings its own instruments.
    addMetricSource(b, { name: 'cdc', collect: () => [{ type: 'gauge', name: 'cdc_lag_seconds', help: 'Change feed lag.', samples: [{ value: 0.25 }] }] })
    m = await collect()
    assert.is(point(m, 'meshcache.cdc_lag'), 0.25)
    assert.is(point(m, 'meshcache.hits', { tier: 'l1' }), 2, 'the core still reported once')
  } finally {
    await provider.shutdown()
    await c.close()
  }
})

test('a stopped registration observes nothing; a bad meter is refused', async () => {
  const c = await cluster<string>(1)
  const { meter, provider, collect } = sdk()
  try {
    const [a] = c.nodes as [MeshCache<string>]
    const stop = registerOtelMetrics(a, { meter })
    a.set('k', 'v')
    a.get('k')
    assert.is(point(await collect(), 'meshcache.hits'), 1)
    stop()
    a.get('k')
    assert.is(point(await collect(), 'meshcache.hits') ?? 1, 1, 'no longer observed: the SDK keeps (at most) the last value')
    for (const options of [undefined, {}, { meter: {} }]) {
      try {
        registerOtelMetrics(a, options as never)
        assert.unreachable(JSON.stringify(options))
      } catch (error) {
        assert.instance(error, MeshCacheError)
        assert.is((error as MeshCacheError).code, ErrorCode.INVALID_OPTION)
      }
    }
    for (const attributes of [5, 'api', ['a'], null]) {
      try {
        registerOtelMetrics(a, { meter: provider.getMeter('t'), attributes } as never)
        assert.unreachable(JSON.stringify(attributes))
      } catch (error) {
        assert.is((error as MeshCacheError).code, ErrorCode.INVALID_OPTION)
        assert.match((error as Error).message, /^option `attributes` must be an object of attribute names to values/)
      }
    }
  } finally {
    await provider.shutdown()
    await c.close()
  }
})

test('bucketQuantile interpolates as histogram_quantile does', () => {
  const s = { buckets: [[1, 0], [2, 50], [4, 100], [Infinity, 100]] as Array<[number, number]>, sum: 0, count: 100 }
  assert.is(bucketQuantile(s, 0.5), 2)
  assert.is(bucketQuantile(s, 0.75), 3)
  assert.is(bucketQuantile({ ...s, count: 0 }, 0.5), 0)
  assert.is(bucketQuantile({ buckets: [[1, 0], [Infinity, 5]], sum: 0, count: 5 }, 0.99), 1, 'the overflow bucket answers its lower bound')
})

test.run()
