/**
 * The README's "Use it", runnable: two instances of a service, each with its
 * own in-process cache, kept coherent over a private libp2p mesh on loopback.
 *
 *   node examples/quickstart.ts        (npm run example:quickstart)
 *
 * In your service the import is `from 'meshcache'`; here it is the source.
 */
import { createMeshCache, generatePsk, type EvictEvent } from '../lib/index.ts'

interface User { id: number, email: string }

// A stand-in for the source of truth, counting its reads.
const table = new Map<number, User>([[42, { id: 42, email: 'ada@example.com' }]])
let dbReads = 0
const db = {
  find: async (id: number): Promise<User | undefined> => { dbReads++; return table.get(id) },
  update: async (id: number, email: string): Promise<User> => {
    const user = { id, email }
    table.set(id, user)
    return user
  },
}

const psk = generatePsk() // every instance gets the same key (e.g. from MESH_KEY); others cannot join
const a = await createMeshCache<User>({ namespace: 'users', ttl: 60_000, psk })
const b = await createMeshCache<User>({ namespace: 'users', ttl: 60_000, psk, peers: a.multiaddrs() })
b.on('peer:error', ({ address, error }) => console.log(`  b: cannot reach ${address}: ${error.code}`))
await Promise.all([a.ready({ peers: 1 }), b.ready({ peers: 1 })]) // E_READY_TIMEOUT after 10 s, saying what was tried
console.log(`two instances connected (a listens on ${a.multiaddrs()[0]})`)

b.on('evict', ({ key, reason }: EvictEvent) => console.log(`  b: evicted ${key} (${reason})`))

// Reads: local and synchronous; on a miss, one load per key however many callers wait.
const loads = await Promise.all([1, 2, 3].map(() => b.getOrLoad('user:42', () => db.find(42))))
console.log(`b: 3 concurrent getOrLoad -> ${loads[0]?.email}, ${dbReads} database read`)
console.log(`b: get('user:42') -> ${b.get('user:42')?.email} (local, no await)`)

// A write on a: b's copy goes at once (here ~1 ms), so b's next read is fresh.
const evicted = new Promise<void>((resolve) => b.once('evict', () => resolve()))
const t0 = performance.now()
a.set('user:42', await db.update(42, 'ada@newer.example'))
await evicted
console.log(`a: set user:42 -> b evicted its copy ${(performance.now() - t0).toFixed(2)} ms later`)
console.log(`b: getOrLoad -> ${(await b.getOrLoad('user:42', () => db.find(42)))?.email} (${dbReads} database reads)`)

// whenReplicated: once it resolves, no other instance serves the old value ("saved" means saved).
a.set('user:43', await db.update(43, 'grace@example.com'))
await a.whenReplicated({ timeout: 5_000 })
console.log(`a: set user:43, whenReplicated -> every peer has applied it`)

// invalidate drops the key everywhere without writing a value.
const dropped = new Promise<void>((resolve) => b.once('evict', () => resolve()))
a.invalidate('user:42')
await dropped
console.log(`a: invalidate user:42 -> b.get('user:42') is ${String(b.get('user:42'))}`)

const s = b.stats()
console.log(`b: stats hits ${s.hits}, misses ${s.misses}, remote updates ${s.remoteUpdates} (arrived within ${s.propagation.maxMs} ms of the write), protocol errors ${s.protocolErrors}`)
await a.close()
await b.close()
