/**
 * Finding 2 of issue 16: a loaded value's lifetime counts from when its load
 * began, so SPEC §7's premise (once a tombstone is a horizon old, no copy it
 * dominates is alive anywhere) holds for loads too: a slow load, a clock
 * offset near maxClockSkew, or a remembered "not found" cannot outlive a
 * delete that a partition kept away until the delete was refused as expired.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMeshCache, type MeshCache } from '../lib/index.ts'
import { createMemoryNetwork, createTestClock } from '../lib/testing/index.ts'

function deferred<T> (): { promise: Promise<T>, resolve: (v: T) => void } {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((res) => { resolve = res })
  return { promise, resolve }
}

/** Two instances a and b; b's clock runs `skew` ms ahead of a's. Default ttl (60 s) and maxClockSkew (5 s). */
async function pair (skew = 0): Promise<{ a: MeshCache<string>, b: MeshCache<string>, net: ReturnType<typeof createMemoryNetwork>, clock: ReturnType<typeof createTestClock>, close: () => Promise<void> }> {
  const net = createMemoryNetwork({ seed: 7 })
  const clock = createTestClock()
  const make = (name: string, offset: number) => createMeshCache<string>({ namespace: 'h', nodeId: name, now: () => clock.now() + offset, syncInterval: 0, transport: net.transport(name) })
  const a = await make('a', 0)
  const b = await make('b', skew)
  await net.flush()
  return { a, b, net, clock, close: async () => { await a.close(); await b.close() } }
}

test('a load that lands 10 s late does not outlive a delete refused as expired (issue 16 finding 2)', async () => {
  const { a, b, net, clock, close } = await pair()
  const row = deferred<string>()
  const loading = b.getOrLoad('row', () => row.promise) // b reads the row now…
  net.partition(['a'], ['b'])
  a.delete('row') // …a deletes it while b is cut off
  await net.flush()
  clock.advance(10_000)
  row.resolve('v1') // b's read lands 10 s later
  assert.is(await loading, 'v1')
  clock.advance(55_500) // the heal comes 65.5 s after the delete: past the 65 s horizon
  net.heal()
  await net.flush()
  assert.ok(b.stats().expiredDropped >= 1, 'the delete was refused as expired')
  assert.is(b.get('row'), undefined, 'b does not serve the deleted row')
  await close()
})

test('skew near maxClockSkew: a load 200 ms slow does not outlive the delete', async () => {
  const { a, b, net, clock, close } = await pair(4_900)
  const row = deferred<string>()
  const loading = b.getOrLoad('row', () => row.promise)
  net.partition(['a'], ['b'])
  a.delete('row')
  await net.flush()
  clock.advance(200)
  row.resolve('v1')
  await loading
  clock.advance(59_950) // 60.15 s after the delete on a's clock, 65.05 s on b's
  net.heal()
  await net.flush()
  assert.ok(b.stats().expiredDropped >= 1, 'the delete was refused as expired')
  assert.is(b.get('row'), undefined, 'b does not serve the deleted row')
  await close()
})

test('a remembered "not found" (negativeTtl) counts from when its load began', async () => {
  const { a, b, net, clock, close } = await pair()
  const row = deferred<string | undefined>()
  const loading = b.getOrLoad('row', () => row.promise, { negativeTtl: 60_000 })
  net.partition(['a'], ['b'])
  a.set('row', 'v2') // the row appears while b is cut off
  await net.flush()
  clock.advance(10_000)
  row.resolve(undefined)
  assert.is(await loading, undefined)
  clock.advance(55_500)
  net.heal()
  await net.flush()
  let called = false
  const again = await b.getOrLoad('row', () => { called = true; return 'v2' })
  assert.ok(called, 'the loader runs again: "not found" expired 60 s after the load began')
  assert.is(again, 'v2')
  await close()
})

test('a load that lands after its ttl has passed is returned but not stored', async () => {
  const { b, clock, close } = await pair()
  const row = deferred<string>()
  const loading = b.getOrLoad('row', () => row.promise, { ttl: 1_000 })
  clock.advance(1_500)
  row.resolve('v1')
  assert.is(await loading, 'v1', 'its callers get it')
  assert.is(b.get('row'), undefined, 'but it is already past its lifetime')
  await close()
})

test.run()
