/**
 * meshcache/prometheus: the registry contents (prom-client's own JSON view),
 * two caches side by side, a plug-in source, and a real Prometheus server
 * scraping a 3-process mesh and answering histogram_quantile and hit ratio.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { fork, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import promClient, { Registry } from 'prom-client'
import { ErrorCode, MeshCacheError, type MeshCache } from '../../lib/index.ts'
import { addMetricSource } from '../../lib/observe/exporter.ts'
import { prometheusExporter, registerMetrics } from '../../lib/observe/prometheus.ts'
import { cluster } from '../helpers/cluster.ts'
import { ask as askNode } from '../helpers/mesh-process.ts'
import { startPrometheus } from '../helpers/prometheus-server.ts'
import { transportFamilies } from '../../lib/observe/transport-metrics.ts'
import { emptyStats } from '../../lib/net/libp2p/stats.ts'
import { throwsCode } from '../helpers/assert-code.ts'

type Json = Awaited<ReturnType<Registry['getMetricsAsJSON']>>
const find = (json: Json, name: string) => json.find((m) => m.name === name)
const valueOf = (json: Json, name: string, labels: Record<string, string | number>, metricName?: string) =>
  find(json, name)?.values.find((v: any) => (metricName === undefined || v.metricName === metricName) && Object.entries(labels).every(([k, x]) => String(v.labels[k]) === String(x)))?.value

test('the figures are read at scrape time, named per the conventions, and the global registry stays empty', async () => {
  const c = await cluster<string>(2, { mode: 'replicate' })
  try {
    const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
    await c.net.flush()
    const registry = new Registry()
    registerMetrics(b, { registry, labels: { service: 'api' } })
    a.set('k1', 'v')
    a.set('k2', 'v')
    c.clock.advance(3)
    await c.net.flush()
    b.get('k1')
    b.get('k1')
    b.get('nope')
    b.delete('k2')
    let json = await registry.getMetricsAsJSON()
    const labels = { namespace: 'test', service: 'api' }
    assert.is(valueOf(json, 'meshcache_hits_total', { ...labels, tier: 'l1' }), 2)
    assert.is(valueOf(json, 'meshcache_misses_total', { ...labels, tier: 'l1' }), 1)
    assert.is(valueOf(json, 'meshcache_remote_updates_total', labels), 2)
    assert.is(valueOf(json, 'meshcache_local_updates_total', labels), 1)
    assert.is(valueOf(json, 'meshcache_evictions_total', { ...labels, reason: 'local' }), 1)
    assert.is(valueOf(json, 'meshcache_evictions_total', { ...labels, reason: 'capacity' }), 0, 'every reason has a series from the start')
    assert.is(valueOf(json, 'meshcache_keys', { ...labels, tier: 'l1' }), 1)
    assert.is(valueOf(json, 'meshcache_tombstones', labels), 1)
    assert.is(valueOf(json, 'meshcache_peers', labels), 1)
    assert.is(String(find(json, 'meshcache_hits_total')?.type), 'counter')
    assert.is(String(find(json, 'meshcache_keys')?.type), 'gauge')
    const lag = find(json, 'meshcache_propagation_lag_seconds')
    assert.is(String(lag?.type), 'histogram')
    const les = lag?.values.filter((v: any) => v.metricName === 'meshcache_propagation_lag_seconds_bucket').map((v: any) => v.labels.le)
    assert.is(les?.[0], '0.0001', 'buckets from 100 µs')
    assert.ok(les?.includes('10'), '… to 10 s')
    assert.is(les?.at(-1), '+Inf')
    assert.is(valueOf(json, 'meshcache_propagation_lag_seconds', { ...labels, le: '0.0025' }, 'meshcache_propagation_lag_seconds_bucket'), 0)
    assert.is(valueOf(json, 'meshcache_propagation_lag_seconds', { ...labels, le: '0.005' }, 'meshcache_propagation_lag_seconds_bucket'), 2, 'two writes 3 ms late')
    assert.is(valueOf(json, 'meshcache_propagation_lag_seconds', labels, 'meshcache_propagation_lag_seconds_sum'), 0.006)
    assert.is(valueOf(json, 'meshcache_propagation_lag_seconds', labels, 'meshcache_propagation_lag_seconds_count'), 2)
    for (const m of json) {
      assert.ok(m.name.startsWith('meshcache_'), m.name)
      if (String(m.type) === 'counter') assert.ok(m.name.endsWith('_total'), `${m.name} is a counter`)
      assert.ok(!m.values.some((v: any) => Object.values(v.labels).includes('k1')), 'never a key as a label')
    }
    // Collected on scrape: a later read shows in the next scrape without anything else happening.
    b.get('k1')
    json = await registry.getMetricsAsJSON()
    assert.is(valueOf(json, 'meshcache_hits_total', { ...labels, tier: 'l1' }), 3)
    assert.is((await promClient.register.getMetricsAsJSON()).length, 0, 'the global registry is untouched, no default metrics')
    const text = await registry.metrics()
    assert.match(text, /# TYPE meshcache_propagation_lag_seconds histogram/)
  } finally {
    await c.close()
  }
})

test('two caches in one registry side by side by label; a reused label set and bad options are refused', async () => {
  const c = await cluster<string>(2)
  try {
    const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
    const registry = new Registry()
    const offA = registerMetrics(a, { registry, labels: { instance: 'a' } })
    prometheusExporter({ registry, labels: { instance: 'b' } }).attach(b) // the same, through the Exporter contract
    a.set('x', 'v')
    a.get('x')
    let json = await registry.getMetricsAsJSON()
    assert.is(valueOf(json, 'meshcache_hits_total', { instance: 'a' }), 1)
    assert.is(valueOf(json, 'meshcache_hits_total', { instance: 'b' }), 0)
    const bad: Array<[string, () => unknown]> = [
      ['same labels', () => registerMetrics(b, { registry, labels: { instance: 'a' } })],
      ['the same cache again', () => registerMetrics(a, { registry, labels: { instance: 'a' } })],
      ['no registry', () => registerMetrics(a, {} as never)],
      ['global-like object', () => registerMetrics(a, { registry: {} as never })],
      ['bad prefix', () => registerMetrics(a, { registry: new Registry(), prefix: 'mesh-cache' })],
      ['reserved label', () => registerMetrics(a, { registry: new Registry(), labels: { le: 'x' } })],
      ['bad label name', () => registerMetrics(a, { registry: new Registry(), labels: { 'a-b': 'x' } })],
      ['labels a number', () => registerMetrics(a, { registry: new Registry(), labels: 5 as never })],
      ['labels a string', () => registerMetrics(a, { registry: new Registry(), labels: 'api' as never })],
    ]
    for (const [what, call] of bad) {
      try {
        call()
        assert.unreachable(what)
      } catch (error) {
        assert.instance(error, MeshCacheError, what)
        assert.is((error as MeshCacheError).code, ErrorCode.INVALID_OPTION, what)
      }
    }
    throwsCode(() => registerMetrics(a, { registry: new Registry(), labels: 'api' as never }), ErrorCode.INVALID_OPTION, /^option `labels` must be an object of label names to values, got api$/)
    // A reused label set says which mistake it is: two caches not told apart, or one cache registered twice.
    throwsCode(() => registerMetrics(b, { registry, labels: { instance: 'a' } }), ErrorCode.INVALID_OPTION, /is already used by another cache in this registry: give each cache its own labels$/)
    throwsCode(() => registerMetrics(a, { registry, labels: { instance: 'a' } }), ErrorCode.INVALID_OPTION, /^this cache's metrics are already in this registry \(labels .*\): call the function the first registerMetrics returned/)
    json = await registry.getMetricsAsJSON()
    assert.is(find(json, 'meshcache_hits_total')?.values.length, 2, 'a refused registration changed nothing')
    offA()
    json = await registry.getMetricsAsJSON()
    assert.is(valueOf(json, 'meshcache_hits_total', { instance: 'a' }), undefined)
    assert.is(valueOf(json, 'meshcache_hits_total', { instance: 'b' }), 0)
  } finally {
    await c.close()
  }
})

test('a plug-in source (an L2 tier, say) shares families by name and may arrive after registration', async () => {
  const c = await cluster<string>(1)
  try {
    const [a] = c.nodes as [MeshCache<string>]
    const registry = new Registry()
    registerMetrics(a, { registry })
    let l2Hits = 0
    addMetricSource(a, {
      name: 'l2',
      collect: () => [
        { type: 'counter', name: 'hits_total', help: 'ignored: the core owns it', samples: [{ labels: { tier: 'l2' }, value: l2Hits }] },
        { type: 'gauge', name: 'l2_connected', help: 'Whether the L2 tier is reachable.', samples: [{ value: 1 }] },
      ],
    })
    l2Hits = 7
    const json = await registry.getMetricsAsJSON()
    assert.is(valueOf(json, 'meshcache_hits_total', { tier: 'l2' }), 7)
    assert.is(valueOf(json, 'meshcache_hits_total', { tier: 'l1' }), 0)
    assert.is(valueOf(json, 'meshcache_l2_connected', {}), 1)
    // Refused as every argument error of the library is: a MeshCacheError with a stable code.
    throwsCode(() => addMetricSource(a, { name: 'bad', collect: () => [{ type: 'counter', name: 'hits', help: '', samples: [] }] }), ErrorCode.INVALID_ARGUMENT, /must end in _total/)
    throwsCode(() => addMetricSource(a, { name: 'l2', collect: () => [] }), ErrorCode.INVALID_ARGUMENT, /already added/)
    throwsCode(() => addMetricSource(a, { name: 'x' } as never), ErrorCode.INVALID_ARGUMENT, /needs a name and a collect\(\) function/)
  } finally {
    await c.close()
  }
})

const NODE = fileURLToPath(new URL('../helpers/observe-node.ts', import.meta.url))
const ALERTS = fileURLToPath(new URL('../../docs/alerts.yml', import.meta.url))
const PROMTOOL = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool'

interface Proc { child: ChildProcess, addrs: string[], metricsPort: number }

async function spawnNode (nodeId: string, peers: string[]): Promise<Proc> {
  const child = fork(NODE, [], { execPath: process.execPath, env: { ...process.env, NODE_ID: nodeId, PEERS: peers.join(',') }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const [ready] = await once(child, 'message') as [{ addrs: string[], metricsPort: number }]
  return { child, addrs: ready.addrs, metricsPort: ready.metricsPort }
}

/** One request to a node process (the shared helper also fails if the node exits first). */
async function ask (p: Proc, request: Record<string, unknown>): Promise<unknown> {
  return (await askNode(p.child, request)).value
}

test('the README names every core metric and every stats() counter', async () => {
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8')
  const table = readme.slice(readme.indexOf('| kind | names |'), readme.indexOf('An alert rule'))
  const c = await cluster<string>(1)
  try {
    const [cache] = c.nodes as [MeshCache<string>]
    const registry = new Registry()
    registerMetrics(cache, { registry })
    for (const m of await registry.getMetricsAsJSON()) {
      const name = m.name.replace(/^meshcache_/, '')
      assert.ok(new RegExp('`' + name + '[`{]').test(table), `README's metric table lacks ${name}`)
    }
    const counters = readme.slice(readme.indexOf('**Counters.**'), readme.indexOf('## ', readme.indexOf('**Counters.**')))
    for (const field of Object.keys(cache.stats())) assert.ok(counters.includes('`' + field + '`'), `README's counters lack ${field}`)
    // The libp2p transport's families (the memory network above has none), and its counters in stats().transport.
    for (const f of transportFamilies(emptyStats())) assert.ok(new RegExp('`' + f.name + '[`{]').test(table), `README's metric table lacks ${f.name}`)
    for (const field of ['connections', 'framesSent', 'droppedBackpressure', 'fastLaneFar']) assert.ok(counters.includes('`' + field + '`'), `README's counters lack transport.${field}`)
  } finally {
    await c.close()
  }
})

test('docs/alerts.yml passes promtool, and the README shows the same rules', async () => {
  const check = spawnSync(PROMTOOL, ['check', 'rules', ALERTS], { encoding: 'utf8' })
  assert.is(check.status, 0, check.stdout + check.stderr)
  assert.match(check.stdout, /SUCCESS: 4 rules found/)
  const rules = readFileSync(ALERTS, 'utf8')
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8')
  const shown = [...readme.matchAll(/^\s*(- alert: \w+|expr: .+|for: \w+)$/gm)].map((m) => (m[1] as string).trim())
  assert.ok(shown.length >= 5, 'the README shows the rules')
  for (const line of shown) assert.ok(rules.includes(line), `README line not in docs/alerts.yml: ${line}`)
})

test('a real Prometheus server scrapes a 3-process mesh: p99 propagation and the hit ratio by PromQL', async () => {
  const procs: Proc[] = []
  let prom: Awaited<ReturnType<typeof startPrometheus>> | undefined
  try {
    procs.push(await spawnNode('p0', []))
    procs.push(await spawnNode('p1', procs[0]!.addrs))
    procs.push(await spawnNode('p2', procs[0]!.addrs))
    await Promise.all(procs.map((p) => ask(p, { op: 'await-members', count: 2 })))
    prom = await startPrometheus(procs.map((p) => `127.0.0.1:${p.metricsPort}`), [ALERTS])
    const keys = Array.from({ length: 50 }, (_, i) => `item:${i}`)
    await ask(procs[0]!, { op: 'set', keys })
    await Promise.all(procs.slice(1).map((p) => ask(p, { op: 'await-keys', keys })))
    // 150 hits and 50 misses across the mesh: hit ratio 0.75.
    const absent = (n: number) => Array.from({ length: n }, (_, i) => `absent:${i}`)
    for (const [i, p] of procs.entries()) await ask(p, { op: 'read', hits: keys, misses: absent(i === 0 ? 20 : 15) })
    const ratio = 0.75
    // Waits for scrapes that include the figures (every 250 ms); bounded by the test runner's patience, not a sleep.
    const q = async (promql: string): Promise<number | undefined> => {
      const r = await prom!.query(promql)
      return r.length === 0 ? undefined : Number(r[0]!.value[1])
    }
    let count: number | undefined
    for (let i = 0; i < 200 && count !== 100; i++) {
      count = await q('sum(meshcache_propagation_lag_seconds_count{job="meshcache"})')
      if (count !== 100) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.is(count, 100, 'two receivers × 50 writes, seen by Prometheus')
    const p99 = await q('histogram_quantile(0.99, sum by (le) (meshcache_propagation_lag_seconds_bucket))')
    assert.ok(p99 !== undefined && p99 > 0 && p99 <= 0.1, `p99 propagation on loopback ${p99} s`)
    console.log(`  Prometheus: histogram_quantile(0.99) of propagation = ${(p99! * 1000).toFixed(3)} ms over ${count} remote writes`)
    let hitRatio: number | undefined
    for (let i = 0; i < 100; i++) {
      hitRatio = await q('sum(meshcache_hits_total) / (sum(meshcache_hits_total) + sum(meshcache_misses_total))')
      if (hitRatio !== undefined && Math.abs(hitRatio - ratio) < 1e-9) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.ok(hitRatio !== undefined && Math.abs(hitRatio - ratio) < 1e-9, `hit ratio ${hitRatio}, expected ${ratio}`)
    const up = await prom.query('up{job="meshcache"} == 1')
    assert.is(up.length, 3)
    const peers = await prom.query('meshcache_peers')
    assert.equal(peers.map((r) => r.value[1]), ['2', '2', '2'])
    // The transport's figures beside the cache's: a full mesh of three, two connections each, and the 50 writes sent.
    const connections = await prom.query('meshcache_transport_connections')
    assert.equal(connections.map((r) => r.value[1]), ['2', '2', '2'])
    const sent = await q('meshcache_transport_frames_sent_total{instance="127.0.0.1:' + procs[0]!.metricsPort + '"}')
    assert.ok(sent !== undefined && sent >= 2, `p0's transport sent ${sent} frame copies`)
    assert.is(await q('sum(meshcache_transport_frames_dropped_total)'), 0, 'nothing dropped on loopback')
    // MeshcacheFramesDropped's expression selects real series (one per instance, at 0): the rule is not vacuous.
    // increase() needs two scrapes of a series: polled, as above.
    const droppedExpr = 'sum by (namespace, instance) (increase(meshcache_transport_frames_dropped_total{reason=~"backpressure|oversize"}[10m]))'
    let dropped = await prom.query(droppedExpr)
    for (let i = 0; i < 100 && dropped.length < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      dropped = await prom.query(droppedExpr)
    }
    assert.equal(dropped.map((r) => r.value[1]), ['0', '0', '0'])

    // The README's alert rules (docs/alerts.yml), evaluated by this server: a stale read on p1 fires the page.
    // The audit's counters start at 0 and Prometheus must see that first: increase() counts only what it saw rise.
    await ask(procs[1]!, { op: 'audit-start' })
    for (let i = 0; i < 100 && (await q('sum(meshcache_audit_reads_total)')) !== 0; i++) await new Promise((resolve) => setTimeout(resolve, 100))
    await ask(procs[1]!, { op: 'audit-read', keys: ['item:3'] })
    let firing: Array<{ labels: Record<string, string>, state: string }> = []
    for (let i = 0; i < 100 && firing.length === 0; i++) {
      firing = (await prom.alerts()).filter((a) => a.labels.alertname === 'MeshcacheStaleReads' && a.state === 'firing')
      if (firing.length === 0) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.is(firing.length, 1, 'MeshcacheStaleReads fires')
    assert.is(firing[0]?.labels.instance, `127.0.0.1:${procs[1]!.metricsPort}`, 'on the instance that served the stale read')
    assert.is((await prom.alerts()).filter((a) => a.labels.alertname === 'MeshcachePropagationSlow' && a.state === 'firing').length, 0)
  } finally {
    await prom?.stop()
    for (const p of procs) p.child.kill()
  }
})

test.run()
