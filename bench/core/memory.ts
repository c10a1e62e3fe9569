/**
 * Metadata bytes per key at 1M keys, and per tombstone at 1M recent
 * tombstones, measured as live-byte deltas after full GCs (needs
 * `--expose-gc`), next to what `cache.stats().metadataBytes` estimates.
 *
 * Live bytes = heapUsed + external + the store's shared buffers: lru-cache
 * keeps links and TTLs in typed arrays sized `max`, outside heapUsed, and
 * the store's metadata sits on shared buffers that `process.memoryUsage()`
 * does not count (lib/core/columns.ts `sharedBytes`). Every cache gets max = 1M + 1
 * so nothing is evicted, and a test clock so nothing expires or is collected.
 * Keys and values are built once and shared, so neither side pays for them,
 * except where a cache holds strings of its own (decoded remote keys).
 */
import { LRUCache } from 'lru-cache'
import { createMeshCache, type MeshCache } from '../../lib/index.ts'
import { createTestClock } from '../../lib/testing/index.ts'
import { RecordKind } from '../../protocol/constants.ts'
import { SyntheticOrigin } from './updates.ts'
import { captureTransport, hasGc, liveBytes, makeFlatKeys, makeValues, turn, type Row, type Value } from './util.ts'

const N = 1_000_000
const MAX = N + 1
const CHUNK = 10_000
const HOUR = 3_600_000

async function newCache (): Promise<{ cache: MeshCache<Value>, transport: ReturnType<typeof captureTransport> }> {
  const transport = captureTransport()
  const clock = createTestClock()
  const cache = await createMeshCache<Value>({ namespace: 'bench-memory', max: MAX, ttl: HOUR, now: clock.now, transport })
  return { cache, transport }
}

/** Per-key estimate from the cache itself. */
function estimate (cache: MeshCache<Value>): number {
  return cache.stats().metadataBytes / N
}

export async function run (): Promise<Row[]> {
  const section = `memory: ${N / 1e6}M keys, max ${MAX}, live bytes (heap + external + shared) after GC; est = stats().metadataBytes / key`
  if (!hasGc()) {
    return [{ section, figure: 'memory', unit: 'B/key', mesh: undefined, note: 'run with --expose-gc' }]
  }
  // Nothing the bench holds may change shape or die between two measurements, or its bytes land in
  // whichever row is being measured: keys are flat strings (see makeFlatKeys), and keys and values are
  // used again after the last measurement (V8 drops a variable an async function no longer uses at
  // its next await: the values were collected during the local deletes, ~32 B/key off that row).
  const keys = makeFlatKeys(N)
  const values = makeValues(N)
  const h0 = await liveBytes()

  // Bare lru-cache, the same keys and values.
  let lru: LRUCache<string, Value> | undefined = new LRUCache<string, Value>({ max: MAX })
  for (let i = 0; i < N; i++) lru.set(keys[i] as string, values[i] as Value)
  const lruPerKey = (await liveBytes() - h0) / N
  if (lru.size !== N) throw new Error('lru-cache evicted')
  lru = undefined

  // meshcache: an empty cache (its fixed, max-sized part), then 1M local writes, then 1M local deletes.
  let cache: MeshCache<Value> | undefined = (await newCache()).cache
  const empty = await liveBytes() - h0
  for (let i = 0; i < N; i += CHUNK) {
    for (let j = i; j < i + CHUNK; j++) cache.set(keys[j] as string, values[j] as Value)
    await turn() // lets the outbox flush, as a service's event loop would
  }
  const meshPerKey = (await liveBytes() - h0) / N
  const liveStats = cache.stats()
  if (liveStats.liveKeys !== N) throw new Error(`expected ${N} live keys, got ${liveStats.liveKeys}`)
  const liveEstimate = estimate(cache)

  for (let i = 0; i < N; i += CHUNK) {
    for (let j = i; j < i + CHUNK; j++) cache.delete(keys[j] as string)
    await turn()
  }
  const localTomb = (await liveBytes() - h0 - empty) / N
  const deadStats = cache.stats()
  if (deadStats.tombstones !== N || deadStats.liveKeys !== 0) throw new Error(`expected ${N} tombstones, got ${deadStats.tombstones}`)
  const localTombEstimate = estimate(cache)
  await cache.close()
  // Dropped before the remote rows, as the bare lru-cache above: each is measured in a heap that holds
  // no other cache. (Kept, it once moved them by 16 B/key: the boxed numbers its entries held then.)
  cache = undefined

  // Tombstones made by remote DELETE records: the cache holds the decoded key strings itself. In
  // batches of 1,000 (a burst, or anti-entropy) and one per frame (a live mesh at a modest write rate,
  // where each write leaves in its own frame and every record comes with its own copy of the origin id).
  const [remoteTomb, remoteTombEstimate] = await remoteTombstones(keys, 1000)
  const [singleTomb] = await remoteTombstones(keys, 1)
  const [loadedTotal, loadedEstimate] = await loadedValues(keys, values)
  const loaded = loadedTotal - lruPerKey
  if (keys.length !== N || values.length !== N) throw new Error('the shared keys and values changed') // keeps both alive to here

  const metadata = meshPerKey - lruPerKey
  return [
    { section, figure: 'live key, total', unit: 'B/key', mesh: meshPerKey, baseline: { label: 'lru-cache', value: lruPerKey } },
    { section, figure: 'live key, metadata (difference)', unit: 'B/key', mesh: metadata, target: { kind: 'abs', max: 200 } },
    { section, figure: 'live key, metadata: est vs measured', unit: 'B/key', mesh: liveEstimate, baseline: { label: 'measured', value: metadata } },
    { section, figure: 'tombstone, local delete', unit: 'B/key', mesh: localTomb, target: { kind: 'abs', max: 200 }, note: 'key strings are the caller\'s' },
    { section, figure: 'tombstone, local: est vs measured', unit: 'B/key', mesh: localTombEstimate, baseline: { label: 'measured', value: localTomb } },
    { section, figure: 'tombstone, remote DELETE (incl. key)', unit: 'B/key', mesh: remoteTomb, target: { kind: 'abs', max: 200 } },
    { section, figure: 'tombstone, remote: est vs measured', unit: 'B/key', mesh: remoteTombEstimate, baseline: { label: 'measured', value: remoteTomb } },
    { section, figure: 'tombstone, remote DELETE, 1 per frame', unit: 'B/key', mesh: singleTomb, target: { kind: 'abs', max: 200 } },
    { section, figure: 'loaded value (getOrLoad), metadata (difference)', unit: 'B/key', mesh: loaded, target: { kind: 'abs', max: 200 }, note: 'an invalidate-mode cache\'s values' },
    { section, figure: 'loaded value: est vs measured', unit: 'B/key', mesh: loadedEstimate, baseline: { label: 'measured', value: loaded } },
  ]
}

/** Live bytes per value `getOrLoad` stored (1M misses, each loaded at once), the values' and keys' own bytes not counted, and the cache's estimate. */
async function loadedValues (keys: string[], values: Value[]): Promise<[number, number]> {
  const h0 = await liveBytes()
  const { cache } = await newCache()
  for (let i = 0; i < N; i += CHUNK) {
    const loads: Array<Promise<Value>> = []
    for (let j = i; j < i + CHUNK; j++) loads.push(cache.getOrLoad(keys[j] as string, () => values[j] as Value))
    await Promise.all(loads)
  }
  const perKey = (await liveBytes() - h0) / N
  const held = cache.stats().liveKeys
  const est = estimate(cache)
  await cache.close()
  if (held !== N) throw new Error(`expected ${N} loaded values, got ${held}`)
  return [perKey, est]
}

/** Live bytes per tombstone left by N remote DELETE records arriving `batch` to a frame, and the cache's estimate. */
async function remoteTombstones (keys: string[], batch: number): Promise<[number, number]> {
  const { cache, transport } = await newCache()
  const handler = transport.handler()
  const h1 = await liveBytes()
  const origin = new SyntheticOrigin('bench-peer~0000bench', keys, false)
  for (let i = 0; i < N; i += CHUNK) {
    const idx = Array.from({ length: CHUNK }, (_, j) => i + j)
    for (const frame of origin.frames(idx, batch, RecordKind.DELETE)) handler.onFrame('bench-peer', frame)
  }
  const perKey = (await liveBytes() - h1) / N
  const stats = cache.stats()
  if (stats.tombstones !== N) throw new Error(`expected ${N} remote tombstones, got ${stats.tombstones}`)
  const estimated = estimate(cache)
  await cache.close()
  return [perKey, estimated]
}
