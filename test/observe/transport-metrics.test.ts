/**
 * The transport's counters beneath the cache: `cache.stats().transport` and the
 * `transport_*` families every exporter reads (lib/observe/transport-metrics.ts),
 * over two real libp2p nodes on loopback, and none over the memory network.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Registry } from 'prom-client'
import { createMeshCache, type MeshCache } from '../../lib/index.ts'
import { createLibp2pTransport } from '../../lib/net/libp2p/index.ts'
import { emptyStats } from '../../lib/net/libp2p/stats.ts'
import { collectFamilies, metricSources } from '../../lib/observe/exporter.ts'
import { registerMetrics } from '../../lib/observe/prometheus.ts'
import { registerOtelMetrics } from '../../lib/observe/otel.ts'
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import { TRANSPORT_SOURCE, transportFamilies } from '../../lib/observe/transport-metrics.ts'
import { cluster } from '../helpers/cluster.ts'

type Json = Awaited<ReturnType<Registry['getMetricsAsJSON']>>
const valueOf = (json: Json, name: string, labels: Record<string, string> = {}) =>
  json.find((m) => m.name === name)?.values.find((v: any) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value

/** Resolves once `check()` holds, polling; fails naming `what` after `ms`. */
async function until (what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

test('every counter of the libp2p transport maps to one family, connections a gauge, drops by reason', () => {
  const stats = { ...emptyStats(), connections: 3, framesSent: 7, droppedBackpressure: 2, droppedOversize: 1, fastLaneFar: 5 }
  const families = transportFamilies(stats)
  const byName = new Map(families.map((f) => [f.name, f]))
  assert.is(byName.size, families.length, 'no family twice')
  assert.equal(byName.get('transport_connections'), { type: 'gauge', name: 'transport_connections', help: byName.get('transport_connections')!.help, samples: [{ value: 3 }] })
  assert.equal(byName.get('transport_frames_sent_total')?.samples, [{ value: 7 }])
  assert.equal(byName.get('transport_fast_lane_far_total')?.samples, [{ value: 5 }])
  assert.equal(byName.get('transport_frames_dropped_total')?.samples, [
    { labels: { reason: 'backpressure' }, value: 2 },
    { labels: { reason: 'oversize' }, value: 1 },
    { labels: { reason: 'no_peer' }, value: 0 },
    { labels: { reason: 'unjoined' }, value: 0 },
  ])
  // Each field once: 4 drops in one family, the rest one family each.
  assert.is(families.length, Object.keys(stats).length - 3)
  for (const f of families) {
    assert.ok(f.type === 'gauge' || f.name.endsWith('_total'), `${f.name}: a counter ends in _total`)
    assert.not.match(f.help, /^The transport's .* count\.$/, `${f.name} has its own help, not the generic one`)
  }
  assert.equal(transportFamilies(emptyStats()).map((f) => f.name), families.map((f) => f.name), 'the same names on every reading')
})

test('a transport\'s other counters are counts with a generic help; what is not a number is left out', () => {
  const families = transportFamilies({ queuedFrames: 4, 'Odd-Name': 1, label: 'x' } as unknown as Record<string, number>)
  assert.equal(families, [{ type: 'counter', name: 'transport_queued_frames_total', help: 'The transport\'s queued frames count.', samples: [{ value: 4 }] }])
})

test('over the memory network: stats().transport is null and no transport family is exported', async () => {
  const c = await cluster<string>(1)
  try {
    const [cache] = c.nodes as [MeshCache<string>]
    assert.is(cache.stats().transport, null)
    assert.is(JSON.parse(JSON.stringify(cache.stats())).transport, null, 'null survives JSON')
    assert.ok(!metricSources(cache).some((s) => s.name === TRANSPORT_SOURCE))
    assert.ok(!collectFamilies(cache).some((f) => f.name.startsWith('transport_')))
  } finally {
    await c.close()
  }
})

test('two real libp2p nodes: the cache reports its transport\'s connections, copies sent and drops, and Prometheus shows them', async () => {
  // b's transport refuses frames over 600 bytes, so a larger value's frame is dropped there as oversize.
  const a = await createMeshCache<string>({ namespace: 'transport-metrics', mode: 'replicate' })
  const transportB = await createLibp2pTransport({ maxFrameBytes: 600, peers: a.multiaddrs() })
  const b = await createMeshCache<string>({ namespace: 'transport-metrics', mode: 'replicate', transport: transportB })
  try {
    await b.ready({ peers: 1, timeout: 10_000 })
    await a.ready({ peers: 1, timeout: 10_000 })
    const registry = new Registry()
    registerMetrics(b, { registry })
    const before = b.stats().transport!
    assert.is(before.connections, 1)
    assert.equal(b.stats().transport, transportB.stats(), 'the transport\'s own figures')

    b.set('user:1', 'ada')
    await until('a to hold user:1', () => a.get('user:1') === 'ada')
    const after = b.stats().transport!
    assert.ok(after.framesSent! > before.framesSent!, `framesSent ${before.framesSent} → ${after.framesSent}`)

    b.set('user:2', 'x'.repeat(1_000)) // past b's maxFrameBytes: refused by b's transport, repaired by nothing
    let json = await registry.getMetricsAsJSON()
    assert.is(valueOf(json, 'meshcache_transport_frames_dropped_total', { reason: 'oversize' }), 0, 'not yet: the frame leaves at the end of the run')
    await until('the oversize drop', () => (b.stats().transport?.droppedOversize ?? 0) === 1)
    json = await registry.getMetricsAsJSON()
    assert.is(valueOf(json, 'meshcache_transport_connections', { namespace: 'transport-metrics' }), 1)
    assert.is(valueOf(json, 'meshcache_transport_frames_dropped_total', { reason: 'oversize' }), 1)
    assert.is(valueOf(json, 'meshcache_transport_frames_dropped_total', { reason: 'backpressure' }), 0)
    assert.is(valueOf(json, 'meshcache_transport_frames_sent_total'), b.stats().transport!.framesSent)
    assert.ok((valueOf(json, 'meshcache_transport_bytes_received_total') ?? 0) > 0, 'bytes from a')

    // The same figures through OpenTelemetry (the real SDK, read through its in-memory exporter).
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
    const provider = new MeterProvider({ readers: [reader] })
    registerOtelMetrics(b, { meter: provider.getMeter('test') })
    await reader.forceFlush()
    const metrics = exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
    const point = (name: string, attrs: Record<string, string> = {}) =>
      metrics.find((m) => m.descriptor.name === name)?.dataPoints.find((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v))?.value
    assert.is(point('meshcache.transport_connections', { namespace: 'transport-metrics' }), 1)
    assert.is(point('meshcache.transport_frames_dropped', { reason: 'oversize' }), 1)
    await provider.shutdown()
  } finally {
    await b.close()
    await transportB.close()
    await a.close()
  }
})

test.run()
