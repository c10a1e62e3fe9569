/**
 * The README's "L1 + L2", runnable: two instances of a service, each with
 * its in-process cache (L1), kept coherent over a private libp2p mesh, and
 * sharing a Redis L2. This script starts its own redis-server on a free
 * port (the `redis-server` binary must be installed) and stops it at the end.
 *
 *   node examples/l2.ts        (npm run example:l2)
 *
 * In your service the imports are `from 'meshcache'` and `from 'meshcache/redis'`.
 */
import { createClient } from 'redis'
import { createMeshCache, generatePsk, type TierFailure } from '../lib/index.ts'
import { startRedis } from '../test/helpers/redis.ts'

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

const redis = await startRedis()
// Your own client (or cluster, from createCluster): give it an error listener, node-redis emits one per failed reconnect.
const client = createClient({ url: redis.url })
client.on('error', () => {})
await client.connect()

const psk = generatePsk()
const a = await createMeshCache<User>({ namespace: 'users', psk, l2: { redis: client } })
// An L2 can also be given as a URL: the tier then owns (connects and closes) its client.
const b = await createMeshCache<User>({ namespace: 'users', psk, peers: a.multiaddrs(), l2: { redis: redis.url } })
await until(() => a.peers().length === 1 && b.peers().length === 1)
console.log('two instances connected, one Redis L2')
for (const c of [a, b]) c.on('tierError', (f: TierFailure) => console.log(`  ${f.tier} ${f.op} failed: ${String(f.error)}`))

// a misses L1 and L2: the loader reads the database, and the value fills a's L1 and the L2.
console.log(`a: getOrLoad -> ${(await a.getOrLoad('user:42', () => db.find(42)))?.email} (${dbReads} database read)`)
await a.tier?.flush?.() // only so the next line is deterministic: fills and writes go to Redis in the background
await until(() => Number(a.stats().tier?.l2Fills) === 1)

// b misses L1, finds the value in L2: no database read, and nothing is broadcast (a load is not a write).
console.log(`b: getOrLoad -> ${(await b.getOrLoad('user:42', () => db.find(42)))?.email} (${dbReads} database read, L2 hits ${b.stats().tier?.l2Hits})`)

// A write: L1 and the mesh at once, the L2 right after (asynchronously, never in the caller's way).
const evicted = new Promise<void>((resolve) => b.once('evict', () => resolve()))
a.set('user:42', await db.update(42, 'ada@newer.example'))
await evicted
await a.tier?.flush?.()
console.log(`a: set user:42 -> b evicted its copy; b: getOrLoad -> ${(await b.getOrLoad('user:42', () => db.find(42)))?.email} (${dbReads} database read, from L2)`)

// A delete leaves a short-lived tombstone in L2 with its version: a load running meanwhile cannot put the old row back.
a.delete('user:42')
await a.tier?.flush?.()
const raw = await client.get('meshcache:users:user:42')
console.log(`a: delete user:42 -> L2 holds a tombstone (${raw?.slice(0, 2) === '2t' ? 'kind t' : String(raw)}); b: getOrLoad -> ${(await b.getOrLoad('user:42', () => db.find(42)))?.email} (from the database: ${dbReads} reads)`)

const s = a.stats().tier ?? {}
console.log(`a: L2 stats hits ${s.l2Hits}, misses ${s.l2Misses}, writes ${s.l2Writes}, fills ${s.l2Fills}, refused ${s.l2Skipped}, errors ${s.l2Errors}, breaker ${s.l2Breaker}`)
await a.close()
await b.close()
client.destroy()
await redis.stop()

async function until (cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('not within 10 s')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
