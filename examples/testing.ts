/**
 * The README's "Test your service against it", runnable: a small price
 * service tested on meshcache's seeded in-memory network, with lost and
 * duplicated messages, a partition, a heal and a TTL, and no sleeping.
 *
 *   node examples/testing.ts        (npm run example:testing)
 *
 * In your tests the imports are `from 'meshcache'` and `from 'meshcache/testing'`.
 */
import assert from 'node:assert/strict'
import { createMeshCache, type MeshCache } from '../lib/index.ts'
import { createMemoryNetwork, createTestClock } from '../lib/testing/index.ts'

/** The service under test: prices cached per instance, loaded from a "database" on a miss. */
class PriceService {
  readonly cache: MeshCache<number>
  readonly #db: Map<string, number>
  constructor (cache: MeshCache<number>, db: Map<string, number>) {
    this.cache = cache
    this.#db = db
  }

  price (sku: string): Promise<number | undefined> {
    return this.cache.getOrLoad(`price:${sku}`, () => this.#db.get(sku))
  }

  setPrice (sku: string, price: number): void {
    this.#db.set(sku, price)
    this.cache.set(`price:${sku}`, price)
  }
}

const seed = Number(process.env.SEED ?? 7)
const net = createMemoryNetwork({ seed, dropRate: 0.1, duplicateRate: 0.05 })
const clock = createTestClock()
const db = new Map([['sku-1', 100]])
const options = { namespace: 'prices', ttl: 60_000, now: clock.now }
const eu = new PriceService(await createMeshCache<number>({ ...options, nodeId: 'eu', transport: net.transport('eu') }), db)
const us = new PriceService(await createMeshCache<number>({ ...options, nodeId: 'us', transport: net.transport('us') }), db)
/**
 * Delivers everything in a seeded random order, with the anti-entropy rounds
 * a real mesh runs on a timer (`syncInterval`) done by hand: with 10% of
 * messages lost, a write or a repair can need a few rounds to get through.
 */
async function settle (): Promise<void> {
  for (let round = 0; round < 20; round++) {
    await net.flush()
    eu.cache.sync()
    us.cache.sync()
  }
  await net.flush()
}

console.log(`seeded memory network (SEED=${seed} replays this run): 10% of messages dropped, 5% duplicated`)

assert.equal(await eu.price('sku-1'), 100)
assert.equal(await us.price('sku-1'), 100)
console.log('both instances cached price:sku-1 = 100')

eu.setPrice('sku-1', 90)
await settle()
assert.equal(us.cache.get('price:sku-1'), undefined, 'the write on eu evicted the copy on us')
assert.equal(await us.price('sku-1'), 90)
console.log('eu wrote 90: us dropped its copy and reloads 90')

net.partition(['eu'], ['us'])
eu.setPrice('sku-1', 80)
await net.flush()
assert.equal(us.cache.get('price:sku-1'), 90, 'during a partition us serves its copy (until its TTL)')
console.log('partitioned: eu wrote 80, us still serves 90 (the TTL is the safety net)')

net.heal() // both sides run anti-entropy on reconnection
await settle()
assert.equal(us.cache.get('price:sku-1'), undefined, 'after the heal the stale copy is gone')
assert.equal(await us.price('sku-1'), 80)
console.log('healed: us dropped 90 and reloads 80')

clock.advance(60_001) // TTL without sleeping
assert.equal(eu.cache.get('price:sku-1'), undefined)
console.log('60 s later (test clock): every copy has expired')

await eu.cache.close()
await us.cache.close()
console.log('ok')
