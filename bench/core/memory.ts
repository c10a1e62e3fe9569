/**
 * Metadata bytes per key at 1M keys, and per tombstone at 1M recent
 * tombstones, measured as live-byte deltas after full GCs (needs
 * `--expose-gc`), next to what `cache.stats().metadataBytes` estimates.
 *
 * Live bytes = heapUsed + arrayBuffers: lru-cache keeps links and TTLs in
 * typed arrays sized `max`, outside heapUsed. Every cache gets max = 1M + 1
 * so nothing is evicted, and a test clock so nothing expires or is collected.
 * Keys and values are built once and shared, so neither side pays for them,
 * except where a cache holds strings of its own (decoded remote keys).
 */
import { LRUCache } from 'lru-cache'
import { createMeshCache, type MeshCache } from '../../lib/index.ts'
import { createTestClock } from '../../lib/testing/index.ts'
import { RecordKind } from '../../protocol/constants.ts'
import { SyntheticOrigin } from './updates.ts'
import { captureTransport, hasGc, liveBytes, makeKeys, makeValues, turn, type Row, type Value } from './util.ts'

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
  const section = `memory: ${N / 1e6}M keys, max ${MAX}, live bytes (heap + array buffers) after GC; est = stats().metadataBytes / key`
  if (!hasGc()) {
    return [{ section, figure: 'memory', unit: 'B/key', mesh: undefined, note: 'run with --expose-gc' }]
  }
  const keys = makeKeys(N)
  const values = makeValues(N)
  const h0 = await liveBytes()

  // Bare lru-cache, the same keys and values.
  let lru: LRUCache<string, Value> | undefined = new LRUCache<string, Value>({ max: MAX })
  for (let i = 0; i < N; i++) lru.set(keys[i] as string, values[i] as Value)
  const lruPerKey = (await liveBytes() - h0) / N
  if (lru.size !== N) throw new Error('lru-cache evicted')
  lru = undefined

  // meshcache: an empty cache (its fixed, max-sized part), then 1M local writes, then 1M local deletes.
  let { cache } = await newCache()
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

  // Tombstones made by remote DELETE records: the cache holds the decoded key strings itself.
  ;({ cache } = await newCache())
  const remote = await newCache()
  await cache.close()
  cache = remote.cache
  const handler = remote.transport.handler()
  const h1 = await liveBytes()
  const origin = new SyntheticOrigin('bench-peer~0000bench', keys, false)
  for (let i = 0; i < N; i += CHUNK) {
    const idx = Array.from({ length: CHUNK }, (_, j) => i + j)
    for (const frame of origin.frames(idx, 1000, RecordKind.DELETE)) handler.onFrame('bench-peer', frame)
  }
  const remoteTomb = (await liveBytes() - h1) / N
  const remoteStats = cache.stats()
  if (remoteStats.tombstones !== N) throw new Error(`expected ${N} remote tombstones, got ${remoteStats.tombstones}`)
  const remoteTombEstimate = estimate(cache)
  await cache.close()

  const metadata = meshPerKey - lruPerKey
  return [
    { section, figure: 'live key, total', unit: 'B/key', mesh: meshPerKey, baseline: { label: 'lru-cache', value: lruPerKey } },
    { section, figure: 'live key, metadata (difference)', unit: 'B/key', mesh: metadata, target: { kind: 'abs', max: 200 } },
    { section, figure: 'live key, metadata: est vs measured', unit: 'B/key', mesh: liveEstimate, baseline: { label: 'measured', value: metadata } },
    { section, figure: 'tombstone, local delete', unit: 'B/key', mesh: localTomb, target: { kind: 'abs', max: 200 }, note: 'key strings are the caller\'s' },
    { section, figure: 'tombstone, local: est vs measured', unit: 'B/key', mesh: localTombEstimate, baseline: { label: 'measured', value: localTomb } },
    { section, figure: 'tombstone, remote DELETE (incl. key)', unit: 'B/key', mesh: remoteTomb, target: { kind: 'abs', max: 200 } },
    { section, figure: 'tombstone, remote: est vs measured', unit: 'B/key', mesh: remoteTombEstimate, baseline: { label: 'measured', value: remoteTomb } },
  ]
}
