// Run in a project that installed the tarball alone (npm installs no optional peer): the core works, and
// each feature whose peer is missing refuses with E_MISSING_DEPENDENCY naming it, before opening anything.
import { createMeshCache } from 'meshcache'

const outcome = async (run) => {
  try {
    await run()
    return { ok: true }
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
}
console.log(JSON.stringify(result))
