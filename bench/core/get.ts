/**
 * L1 read on a hit: meshcache `get`/`has` against a bare lru-cache
 * (`new LRUCache({ max })`) and a bare Map, on the same 100k string keys,
 * the same seeded random access pattern, interleaved rounds, medians.
 *
 * The meshcache runs with its defaults (real clock, so lru-cache caches the
 * time per ttlResolution as it would in production). Each subject has its
 * own loop function so each call site stays monomorphic.
 */
import { LRUCache } from 'lru-cache'
import { createMeshCache, type MeshCache } from '../../lib/index.ts'
import { accessPattern, captureTransport, interleave, makeKeys, makeValues, median, nowNs, observeIfAsked, pairedRatio, turn, type Row, type Value } from './util.ts'

const KEYS = 100_000
const OPS = 200_000
const ROUNDS = 31
const HOUR = 3_600_000

function lruGet (c: LRUCache<string, Value>, keys: string[], idx: Uint32Array): number {
  let hits = 0
  for (let i = 0; i < idx.length; i++) if (c.get(keys[idx[i] as number] as string) !== undefined) hits++
  return hits
}

function meshGet (c: MeshCache<Value>, keys: string[], idx: Uint32Array): number {
  let hits = 0
  for (let i = 0; i < idx.length; i++) if (c.get(keys[idx[i] as number] as string) !== undefined) hits++
  return hits
}

function lruTtlGet (c: LRUCache<string, Value>, keys: string[], idx: Uint32Array): number {
  let hits = 0
  for (let i = 0; i < idx.length; i++) if (c.get(keys[idx[i] as number] as string) !== undefined) hits++
  return hits
}

function mapGet (c: Map<string, Value>, keys: string[], idx: Uint32Array): number {
  let hits = 0
  for (let i = 0; i < idx.length; i++) if (c.get(keys[idx[i] as number] as string) !== undefined) hits++
  return hits
}

function lruHas (c: LRUCache<string, Value>, keys: string[], idx: Uint32Array): number {
  let hits = 0
  for (let i = 0; i < idx.length; i++) if (c.has(keys[idx[i] as number] as string)) hits++
  return hits
}

function meshHas (c: MeshCache<Value>, keys: string[], idx: Uint32Array): number {
  let hits = 0
  for (let i = 0; i < idx.length; i++) if (c.has(keys[idx[i] as number] as string)) hits++
  return hits
}

/** Times one pass; a pass that is not all hits would measure something else, so it throws. */
function timed<C> (loop: (c: C, keys: string[], idx: Uint32Array) => number, c: C, keys: string[], idx: Uint32Array): () => number {
  return () => {
    const t0 = nowNs()
    const hits = loop(c, keys, idx)
    const dt = Number(nowNs() - t0)
    if (hits !== idx.length) throw new Error(`${loop.name}: ${hits} hits of ${idx.length}: not a hit benchmark`)
    return dt / idx.length
  }
}

export async function run (): Promise<Row[]> {
  const keys = makeKeys(KEYS)
  const values = makeValues(KEYS)
  const idx = accessPattern(OPS, KEYS)

  const lru = new LRUCache<string, Value>({ max: KEYS })
  // Context only: lru-cache with its own TTL tracking, the guarantee meshcache's store pays for on every read.
  const lruTtl = new LRUCache<string, Value>({ max: KEYS, ttl: HOUR })
  const map = new Map<string, Value>()
  const mesh = await createMeshCache<Value>({ namespace: 'bench-get', max: KEYS, ttl: HOUR, transport: captureTransport() })
  await observeIfAsked(mesh)
  for (let i = 0; i < KEYS; i++) {
    const k = keys[i] as string
    const v = values[i] as Value
    lru.set(k, v)
    lruTtl.set(k, v)
    map.set(k, v)
    mesh.set(k, v)
  }
  await turn() // the outbox flushes the 100k local writes

  const [lruG, meshG, mapG, lruH, meshH, lruTtlG] = interleave([
    timed(lruGet, lru, keys, idx),
    timed(meshGet, mesh, keys, idx),
    timed(mapGet, map, keys, idx),
    timed(lruHas, lru, keys, idx),
    timed(meshHas, mesh, keys, idx),
    timed(lruTtlGet, lruTtl, keys, idx),
  ], ROUNDS) as [number[], number[], number[], number[], number[], number[]]
  await mesh.close()

  const section = `L1 read hit: ${KEYS / 1000}k keys, ${OPS / 1000}k random ops per round, ${ROUNDS} interleaved rounds: medians, ratio = median of per-round ratios`
  return [
    { section, figure: 'get hit', unit: 'ns/op', mesh: median(meshG), baseline: { label: 'lru-cache get', value: median(lruG) }, ratio: pairedRatio(meshG, lruG), target: { kind: 'ratio', max: 1.2 } },
    { section, figure: 'has hit', unit: 'ns/op', mesh: median(meshH), baseline: { label: 'lru-cache has', value: median(lruH) }, ratio: pairedRatio(meshH, lruH), target: { kind: 'ratio', max: 1.2 } },
    { section, figure: 'get hit, context', unit: 'ns/op', mesh: median(meshG), baseline: { label: 'lru-cache+ttl get', value: median(lruTtlG) }, ratio: pairedRatio(meshG, lruTtlG) },
    { section, figure: 'get hit, context', unit: 'ns/op', mesh: median(meshG), baseline: { label: 'Map.get', value: median(mapG) }, ratio: pairedRatio(meshG, mapG) },
  ]
}
