/**
 * One meshcache process for the observe tests (Prometheus, dashboard): a
 * cache over libp2p on loopback, sharing its stats summary, with its
 * figures on a /metrics endpoint of its own (a prom-client Registry of its
 * own), and optionally the dashboard. Driven over IPC.
 *
 * env: NODE_ID, REGION, PEERS (comma-separated multiaddrs), DASHBOARD=1
 * Ready message: { type: 'ready', addrs, origin, metricsPort, dashboardUrl? }
 * Requests: { id, op: 'set', keys } | { id, op: 'read', hits: string[], misses: string[] } |
 *   { id, op: 'await-members', count } | { id, op: 'await-keys', keys } | { id, op: 'stats' } |
 *   { id, op: 'audit-start' } (an audit whose source disagrees with every cached value) |
 *   { id, op: 'audit-read', keys } (reads each key and waits for a stale event)
 * Replies: { id, value }
 */
import { createServer } from 'node:http'
import { Registry } from 'prom-client'
import { createMeshCache } from '../../lib/index.ts'
import { registerMetrics } from '../../lib/observe/prometheus.ts'
import { shareStats } from '../../lib/observe/share.ts'
import { serveDashboard } from '../../lib/observe/dashboard/server.ts'

process.on('disconnect', () => process.exit(0))

const peers = (process.env.PEERS ?? '').split(',').filter((p) => p !== '')
const cache = await createMeshCache<string>({
  namespace: 'observe',
  nodeId: process.env.NODE_ID,
  region: process.env.REGION ?? '',
  listen: ['/ip4/127.0.0.1/tcp/0'],
  peers,
  ttl: 10 * 60_000,
  mode: 'replicate',
})
shareStats(cache, { interval: 200 })
const registry = new Registry()
registerMetrics(cache, { registry })
const metrics = createServer((req, res) => {
  void registry.metrics().then((body) => {
    res.writeHead(200, { 'content-type': registry.contentType })
    res.end(body)
  })
})
await new Promise<void>((resolve) => metrics.listen(0, '127.0.0.1', resolve))
const dashboard = process.env.DASHBOARD === '1' ? await serveDashboard(cache, { interval: 250 }) : undefined

function until (done: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const t = setInterval(() => { if (done()) { clearInterval(t); resolve() } }, 10)
  })
}

process.on('message', async (r: { id: number, op: string, keys?: string[], hits?: string[], misses?: string[], count?: number }) => {
  let value: unknown
  switch (r.op) {
    case 'set': for (const k of r.keys ?? []) cache.set(k, `v-${k}`); break
    case 'read':
      for (const k of r.hits ?? []) if (cache.get(k) === undefined) throw new Error(`expected a hit on ${k}`)
      for (const k of r.misses ?? []) cache.get(k)
      break
    case 'await-members': await until(() => cache.peers().length >= (r.count ?? 0)); break
    case 'await-keys': await until(() => (r.keys ?? []).every((k) => cache.peek(k) !== undefined)); break
    case 'stats': value = cache.stats(); break
    case 'audit-start': cache.audit({ sample: 1, source: () => 'newer in the database', grace: 0 }); break
    case 'audit-read': {
      const stale = new Promise((resolve) => cache.once('stale', resolve))
      for (const k of r.keys ?? []) cache.get(k)
      await stale
      break
    }
  }
  process.send?.({ id: r.id, value })
})

process.send?.({
  type: 'ready',
  addrs: cache.multiaddrs(),
  origin: cache.origin,
  metricsPort: (metrics.address() as { port: number }).port,
  dashboardUrl: dashboard?.url,
})
