/**
 * The README's "Observe it", runnable: two instances of a service over a
 * private libp2p mesh on loopback, their figures in a prom-client registry,
 * the staleness audit catching a write that bypassed the cache, and the
 * dashboard's URL.
 *
 *   node examples/observe.ts          (npm run example:observe; --watch keeps it running)
 *
 * In your service the imports are `meshcache`, `meshcache/prometheus`,
 * `meshcache/observe` and `meshcache/dashboard`; here they are the source.
 */
import { Registry } from 'prom-client'
import { createMeshCache, generatePsk } from '../lib/index.ts'
import { registerMetrics } from '../lib/observe/prometheus.ts'
import { shareStats, type StaleEvent } from '../lib/observe/index.ts'
import { serveDashboard } from '../lib/observe/dashboard/index.ts'

// The source of truth, with the time each row last changed.
const rows = new Map<string, { price: number, updatedAt: number }>([['sku-1', { price: 100, updatedAt: Date.now() }]])

const psk = generatePsk()
const a = await createMeshCache<number>({ namespace: 'prices', nodeId: 'api-a', psk, mode: 'replicate' })
const b = await createMeshCache<number>({ namespace: 'prices', nodeId: 'api-b', psk, mode: 'replicate', peers: a.multiaddrs() })
await until(() => a.peers().length === 1 && b.peers().length === 1)

// Metrics: the service's own registry (serve `await registry.metrics()` on GET /metrics).
const registry = new Registry()
registerMetrics(a, { registry, labels: { instance: 'api-a' } })
registerMetrics(b, { registry, labels: { instance: 'api-b' } })

// The audit: every hit on b re-read from the source (1% is a typical production sample).
b.audit({ sample: 1, source: (key) => rows.get(key)?.price, changedAt: (key) => rows.get(key)?.updatedAt, grace: 50 })
b.on('stale', (e: StaleEvent) => console.log(`stale read: ${e.key} served by ${e.servedBy.split('~')[0]}, ${e.staleForMs} ms after the source changed`))

// The dashboard: every instance shares its figures; a serves the page.
shareStats(a)
shareStats(b)
const dashboard = await serveDashboard(a)
console.log(`dashboard: ${dashboard.url}`)

// A write through the cache reaches b; reads on b hit.
await b.getOrLoad('sku-1', async () => rows.get('sku-1')?.price)
a.set('sku-1', 120)
rows.set('sku-1', { price: 120, updatedAt: Date.now() })
await until(() => b.get('sku-1') === 120)
console.log(`b reads sku-1 = ${b.get('sku-1')} (the audit agrees)`)

// A write that bypasses the cache (a batch job updating the table directly): b keeps serving 100.
a.set('sku-1', 100)
await until(() => b.peek('sku-1') === 100)
rows.set('sku-1', { price: 90, updatedAt: Date.now() })
await new Promise((resolve) => setTimeout(resolve, 100)) // past the audit's 50 ms grace
const stale = new Promise((resolve) => b.once('stale', resolve))
console.log(`b reads sku-1 = ${b.get('sku-1')}, the source says 90`)
await stale

const text = await registry.metrics()
for (const line of text.split('\n')) {
  if (/^meshcache_(hits_total|audit_reads_total|audit_stale_total|remote_updates_total|peers|transport_connections)\{/.test(line)) console.log(line)
}

if (!process.argv.includes('--watch')) {
  await dashboard.close()
  await b.close()
  await a.close()
}

async function until (done: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
