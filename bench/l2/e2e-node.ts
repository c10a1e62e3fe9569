/**
 * One process of bench/l2/e2e.ts: a cache (meshcache with its Redis L2, or
 * Bentocache with its Redis L2 and Redis bus) in front of a "database" (a
 * second redis-server holding a version number per key), driven by a
 * closed-loop read-mostly workload on Zipf-distributed keys.
 *
 * A read is `getOrLoad` / `getOrSet` whose loader GETs the key's version.
 * A write INCRs the version in the database, then writes the new value
 * through the cache (`set`); its acknowledgement is the moment `set` returned
 * (meshcache, synchronous) or resolved (Bentocache). Every read and write is
 * timed with process.hrtime (CLOCK_MONOTONIC, one clock for every process),
 * and sent to the parent in bulk at the end.
 */
import { createClient } from 'redis'
import { createMeshCache } from '../../lib/index.ts'
import type { E2eOptions } from './e2e.ts'

/** The run's workload (e2e.ts), and where this process fits in it. */
export interface NodeConfig extends Omit<E2eOptions, 'processes'> {
  system: 'meshcache' | 'bentocache'
  index: number
  l2Url: string
  dbUrl: string
  /** meshcache: multiaddrs to bootstrap from, and the PSK. */
  peers: string[]
  psk: string
}

interface Cache {
  read (key: string, load: () => Promise<Value>): Promise<Value>
  write (key: string, value: Value): Promise<void> | void
  ready (): Promise<void>
  addresses (): string[]
  stats (): unknown
  close (): Promise<void>
}

interface Value { v: number, pad: string }

const PAD = 'x'.repeat(64)
const now = (): number => Number(process.hrtime.bigint()) / 1000 // µs, monotonic, shared by every process

async function meshcache (c: NodeConfig): Promise<Cache> {
  const cache = await createMeshCache<Value>({
    namespace: 'bench-l2',
    listen: ['/ip4/127.0.0.1/tcp/0'],
    peers: c.peers,
    psk: c.psk,
    mode: 'invalidate',
    max: 100_000,
    ttl: 60_000,
    l2: { redis: c.l2Url },
  })
  return {
    read: (key, load) => cache.getOrLoad(key, load),
    write: (key, value) => { cache.set(key, value) },
    async ready () {
      // Membership: every other process announced itself (a write before that could miss a peer).
      while (cache.peers().length < 2) await new Promise((resolve) => setTimeout(resolve, 20)) // polling: no event for "n members"
    },
    addresses: () => cache.multiaddrs(),
    stats: () => cache.stats(),
    close: () => cache.close(),
  }
}

async function bentocache (c: NodeConfig): Promise<Cache> {
  const { BentoCache, bentostore } = await import('bentocache')
  const { memoryDriver } = await import('bentocache/drivers/memory')
  const { redisDriver, redisBusDriver } = await import('bentocache/drivers/redis')
  const { port } = new URL(c.l2Url)
  const connection = { host: '127.0.0.1', port: Number(port) }
  const bento = new BentoCache({
    default: 'cache',
    stores: {
      cache: bentostore()
        .useL1Layer(memoryDriver({ maxItems: 100_000 }))
        .useL2Layer(redisDriver({ connection }))
        .useBus(redisBusDriver({ connection })),
    },
  })
  return {
    read: (key, load) => bento.getOrSet({ key, factory: load, ttl: '1m' }) as Promise<Value>,
    write: async (key, value) => { await bento.set({ key, value, ttl: '1m' }) },
    async ready () {},
    addresses: () => [],
    stats: () => ({}),
    close: () => bento.disconnectAll(),
  }
}

/** mulberry32: a seeded PRNG, so each process's key sequence replays. */
function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Key index sampler: P(i) ∝ 1 / (i + 1)^s. */
function zipf (n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n)
  let sum = 0
  for (let i = 0; i < n; i++) cdf[i] = (sum += 1 / (i + 1) ** s)
  for (let i = 0; i < n; i++) (cdf[i] as number) /= sum
  return () => {
    const u = random()
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((cdf[mid] as number) < u) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

async function main (): Promise<void> {
  const c = await new Promise<NodeConfig>((resolve) => process.once('message', (m) => resolve(m as NodeConfig)))
  const db = createClient({ url: c.dbUrl })
  db.on('error', () => {})
  await db.connect()
  const cache = c.system === 'meshcache' ? await meshcache(c) : await bentocache(c)
  process.send?.({ t: 'ready', addresses: cache.addresses() })
  await new Promise<void>((resolve) => process.once('message', () => resolve())) // 'members': everyone is up
  await cache.ready()
  process.send?.({ t: 'joined' })
  const { startAt } = await new Promise<{ startAt: number }>((resolve) => process.once('message', (m) => resolve(m as { startAt: number })))

  const random = rng(c.seed)
  const nextKey = zipf(c.keys, c.zipf, random)
  // Reads: key, start, end, version. Writes: key, version, acknowledged at.
  const reads: number[] = []
  const writes: number[] = []
  let errors = 0
  const end = startAt + (c.warmup + c.seconds) * 1e6
  const worker = async (): Promise<void> => {
    while (now() < end) {
      const k = nextKey()
      const key = `k:${k}`
      if (random() < c.writeRatio) {
        const v = await db.incr(`db:${k}`)
        await cache.write(key, { v, pad: PAD })
        writes.push(k, v, now())
      } else {
        const started = now()
        try {
          const value = await cache.read(key, async () => ({ v: Number(await db.get(`db:${k}`) ?? 0), pad: PAD }))
          reads.push(k, started, now(), value.v)
        } catch {
          errors++
        }
      }
    }
  }
  await Promise.all(Array.from({ length: c.concurrency }, worker))
  process.send?.({ t: 'done', reads: Float64Array.from(reads), writes: Float64Array.from(writes), errors, stats: JSON.parse(JSON.stringify(cache.stats())) })
  await new Promise<void>((resolve) => process.once('message', () => resolve())) // 'close': after every process is done
  await cache.close()
  db.destroy()
  process.exit(0)
}

process.on('disconnect', () => process.exit(1)) // the bench died: do not linger
main().catch((error: unknown) => {
  process.send?.({ t: 'error', message: String((error as Error)?.stack ?? error) })
  process.exit(1)
})
