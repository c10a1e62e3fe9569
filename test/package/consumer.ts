/**
 * A consumer of the packed meshcache (test/package.test.ts copies it into a
 * temporary project that installed the tarball): two instances over libp2p
 * on loopback, a write on one read on the other after whenReplicated.
 * Type-checked there under strict + exactOptionalPropertyTypes.
 */
import { createMeshCache, generateIdentity, generatePsk, MeshCacheError, type MeshCache, type PeerErrorEvent } from 'meshcache'

interface User { id: number, name: string, since: Date }

const psk = generatePsk()
const a: MeshCache<User> = await createMeshCache<User>({ namespace: 'users', mode: 'replicate', psk, identity: generateIdentity() })
const b = await createMeshCache<User>({ namespace: 'users', mode: 'replicate', psk, peers: a.multiaddrs() })
const errors: PeerErrorEvent[] = []
b.on('peer:error', (e) => { errors.push(e) })
try {
  await Promise.all([a.ready({ peers: 1, timeout: 20_000 }), b.ready({ peers: 1, timeout: 20_000 })])
  a.set('user:1', { id: 1, name: 'Ada', since: new Date(0) })
  await a.whenReplicated({ timeout: 10_000 })
  const got = b.get('user:1')
  if (!(got?.since instanceof Date) || got.name !== 'Ada') throw new Error(`b read ${JSON.stringify(got)}`)
  try {
    a.set('', { id: 2, name: 'x', since: new Date() })
    throw new Error('an empty key was accepted')
  } catch (e) {
    if (!(e instanceof MeshCacheError) || e.code !== 'E_INVALID_ARGUMENT') throw e
  }
  console.log(JSON.stringify({ ok: true, name: got.name, since: got.since.toISOString(), peerErrors: errors.length }))
} finally {
  await a.close()
  await b.close()
}
