// Run with a Node older than 22 (the machine's Node 20): createMeshCache must refuse, not resolve and stay alone.
import { createMeshCache } from 'meshcache'
try {
  const cache = await createMeshCache({ namespace: 'n' })
  await cache.close()
  console.log(JSON.stringify({ resolved: true }))
} catch (e) {
  console.log(JSON.stringify({ code: e.code, message: e.message }))
}
