/**
 * `stats().metadataBytes` against what the metadata measures: live bytes
 * (heap + external + the store's shared buffers, after full GCs) of a cache with 100k live keys
 * minus a bare lru-cache holding the same keys and values, and of the same
 * keys as local tombstones minus the empty cache. Keys and values are the
 * test's, held to the end, so neither side pays for them. The GC is
 * exposed for this file alone (`v8.setFlagsFromString`); real time is not
 * involved (test clock).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { LRUCache } from 'lru-cache'
import { createMeshCache } from '../lib/index.ts'
import { createTestClock } from '../lib/testing/index.ts'
import type { Transport } from '../lib/net/transport.ts'
import { sharedBytes } from '../lib/core/columns.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const N = 100_000

/** Drops what the cache sends: a transport keeping its frames would add them to the measurement. */
const nowhere: Transport = {
  join: async () => ({ localPeer: 'self', broadcast: () => {}, send: () => {}, peers: () => [], close: async () => {} }),
}

async function liveBytes (): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  gc()
  const m = process.memoryUsage()
  // The store's metadata sits on shared buffers (lib/core/columns.ts), which neither external nor arrayBuffers counts.
  return m.heapUsed + m.external + sharedBytes()
}

test('the estimate is within 25% of the measured metadata, live keys and local tombstones', async () => {
  // Flat strings from the start (a TextDecoder's output), as a frame's keys are: no later flattening moves the figures.
  const decoder = new TextDecoder()
  const encoder = new TextEncoder()
  const keys = Array.from({ length: N }, (_, i) => decoder.decode(encoder.encode(`user:${i}`)))
  const values = Array.from({ length: N }, (_, i) => ({ id: i }))
  // A first cache runs the same code, so the code V8 compiles for it is not measured below as metadata.
  const warm = await createMeshCache<{ id: number }>({ namespace: 'warm-up', max: N + 1, ttl: 3_600_000, now: createTestClock().now, transport: nowhere })
  for (let i = 0; i < N; i++) warm.set(keys[i] as string, values[i] as { id: number })
  for (let i = 0; i < N; i++) warm.delete(keys[i] as string)
  warm.stats()
  await warm.close()
  const h0 = await liveBytes()
  let lru: LRUCache<string, { id: number }> | undefined = new LRUCache({ max: N + 1 })
  for (let i = 0; i < N; i++) lru.set(keys[i] as string, values[i] as { id: number })
  const lruBytes = await liveBytes() - h0
  // Used after the measurement: V8 may drop what an async function no longer reads at its next await.
  assert.is(lru.size, N)
  lru = undefined

  const cache = await createMeshCache<{ id: number }>({ namespace: 'metadata-bytes', max: N + 1, ttl: 3_600_000, now: createTestClock().now, transport: nowhere })
  const empty = await liveBytes() - h0
  for (let i = 0; i < N; i++) cache.set(keys[i] as string, values[i] as { id: number })
  await new Promise((resolve) => setImmediate(resolve))
  const live = await liveBytes() - h0 - lruBytes
  const liveEstimate = cache.stats().metadataBytes
  for (let i = 0; i < N; i++) cache.delete(keys[i] as string)
  await new Promise((resolve) => setImmediate(resolve))
  const dead = await liveBytes() - h0 - empty
  const deadEstimate = cache.stats().metadataBytes
  assert.is(cache.stats().tombstones, N)
  await cache.close()
  assert.is(keys.length + values.length, 2 * N) // both held to here

  const perKey = (n: number): string => `${(n / N).toFixed(1)} B/key`
  for (const [what, estimate, measured] of [['live keys', liveEstimate, live], ['local tombstones', deadEstimate, dead]] as const) {
    const ratio = estimate / measured
    assert.ok(ratio > 0.75 && ratio < 1.25, `${what}: estimated ${perKey(estimate)}, measured ${perKey(measured)} (${ratio.toFixed(2)}×)`)
  }
})

test('the estimate is within 25% of the measured metadata of values getOrLoad stored', async () => {
  const decoder = new TextDecoder()
  const encoder = new TextEncoder()
  const keys = Array.from({ length: N }, (_, i) => decoder.decode(encoder.encode(`load:${i}`)))
  const values = Array.from({ length: N }, (_, i) => ({ id: i }))
  const loadAll = async (cache: Awaited<ReturnType<typeof createMeshCache<{ id: number }>>>): Promise<void> => {
    await Promise.all(keys.map((key, i) => cache.getOrLoad(key, () => values[i] as { id: number })))
  }
  const options = { max: N + 1, ttl: 3_600_000, transport: nowhere }
  // As above: the code is compiled by a first cache, not measured as metadata.
  const warm = await createMeshCache<{ id: number }>({ ...options, namespace: 'warm-up-loads', now: createTestClock().now })
  await loadAll(warm)
  warm.stats()
  await warm.close()
  const h0 = await liveBytes()
  let lru: LRUCache<string, { id: number }> | undefined = new LRUCache({ max: N + 1 })
  for (let i = 0; i < N; i++) lru.set(keys[i] as string, values[i] as { id: number })
  const lruBytes = await liveBytes() - h0
  assert.is(lru.size, N)
  lru = undefined

  const cache = await createMeshCache<{ id: number }>({ ...options, namespace: 'metadata-bytes-loads', now: createTestClock().now })
  await loadAll(cache)
  const loaded = await liveBytes() - h0 - lruBytes
  const estimate = cache.stats().metadataBytes
  assert.is(cache.stats().liveKeys, N)
  await cache.close()
  assert.is(keys.length + values.length, 2 * N) // both held to here
  const ratio = estimate / loaded
  assert.ok(ratio > 0.75 && ratio < 1.25, `loaded values: estimated ${(estimate / N).toFixed(1)} B/key, measured ${(loaded / N).toFixed(1)} B/key (${ratio.toFixed(2)}×)`)
})

test.run()
