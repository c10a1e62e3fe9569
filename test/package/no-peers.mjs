// Run in a project that installed the tarball alone (npm installs no optional peer): the core works, and
// each feature whose peer is missing refuses with E_MISSING_DEPENDENCY naming it, before opening anything.
import { createMeshCache } from 'meshcache'

const outcome = async (run) => {
  try {
    const value = await run()
    return value === undefined ? { ok: true } : { ok: true, value }
  } catch (e) {
    return { code: e.code, message: e.message }
  }
}

const result = {
  core: await outcome(async () => { const c = await createMeshCache({ namespace: 'n' }); c.set('k', 1); await c.close() }),
  l2: await outcome(async () => { const c = await createMeshCache({ namespace: 'n', l2: { redis: 'redis://127.0.0.1:1' } }); await c.close() }),
  redis: await outcome(async () => { await import('meshcache/redis') }),
  postgres: await outcome(async () => { await import('meshcache/postgres') }),
  prometheus: await outcome(async () => { await import('meshcache/prometheus') }),
  otel: await outcome(async () => { await import('meshcache/otel') }),
  dashboard: await outcome(async () => {
    const warnings = []
    const log = () => {}
    const logger = { trace: log, debug: log, info: log, error: log, warn: (obj, msg) => { warnings.push(msg) } }
    const { serveDashboard } = await import('meshcache/dashboard')
    const c = await createMeshCache({ namespace: 'n', logger })
    const d = await serveDashboard(c)
    const chart = await fetch(new URL('uplot.js', d.url))
    await d.close()
    await c.close()
    return { warnings: warnings.filter((w) => w.startsWith('dashboard:')), chart: chart.status }
  }),
}
console.log(JSON.stringify(result))
