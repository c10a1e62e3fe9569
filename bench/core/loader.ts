/**
 * Issue 4 benchmarks: read-through loading and dependency cascades.
 *
 * Written against the API issue 4 specifies, typed structurally so this file
 * compiles whether or not the cache has it yet; on a cache without
 * `getOrLoad` every row prints "not available".
 *   - `getOrLoad` on a hit (awaited) against `get`: target ≤ 2×.
 *   - invalidating a base with 10,000 dependents, µs: target < 10 ms;
 *     beside it, 10,000 invalidate() calls of keys with no dependents on
 *     another cache (each dependent's own replicated invalidation is such a
 *     write, so the ratio is what the cascade adds).
 *   - live bytes of 1M dependency edges (per edge), against the same 1M keys
 *     set without `dependsOn`.
 */
import { createMeshCache, type MeshCache } from '../../lib/index.ts'
import { createTestClock } from '../../lib/testing/index.ts'
import { accessPattern, captureTransport, hasGc, interleave, liveBytes, makeFlatKeys, makeKeys, makeValues, median, nowNs, pairedRatio, turn, type Row, type Value } from './util.ts'

/** The issue 4 surface, as far as these benchmarks use it. */
interface LoaderCache {
  getOrLoad (key: string, loader: () => Promise<Value> | Value): Promise<Value | undefined>
  set (key: string, value: Value, options?: { dependsOn?: string[] }): unknown
  invalidate (key: string): boolean
  get (key: string): Value | undefined
}

const HOUR = 3_600_000
const HIT_KEYS = 100_000
const HIT_OPS = 100_000
const HIT_ROUNDS = 21
const FANOUT = 10_000
const CASCADE_ROUNDS = 15
const EDGES = 1_000_000
const EDGE_BASES = 1_000

const SECTION = 'issue 4: read-through loading and dependencies'

function withLoader (cache: MeshCache<Value>): LoaderCache | undefined {
  return typeof (cache as unknown as Partial<LoaderCache>).getOrLoad === 'function' ? cache as unknown as LoaderCache : undefined
}

function missing (figure: string, unit: string): Row {
  return { section: SECTION, figure, unit, mesh: undefined, note: 'not available' }
}

async function newCache (max: number, fixedClock: boolean): Promise<MeshCache<Value>> {
  const options = { namespace: 'bench-loader', max, ttl: HOUR, transport: captureTransport() }
  return createMeshCache<Value>(fixedClock ? { ...options, now: createTestClock().now } : options)
}

const failedLoad = (): never => { throw new Error('getOrLoad called its loader on a hit') }

async function hitVsGet (c: LoaderCache): Promise<Row[]> {
  const keys = makeKeys(HIT_KEYS)
  const values = makeValues(HIT_KEYS)
  for (let i = 0; i < HIT_KEYS; i++) c.set(keys[i] as string, values[i] as Value)
  await turn()
  const idx = accessPattern(HIT_OPS, HIT_KEYS)
  // Async subjects cannot go through interleave(): measure them round by round by hand.
  const getTimes: number[] = []
  const loadTimes: number[] = []
  const awaitedGetTimes: number[] = []
  // Context: what any promise-returning read costs over get(): the await itself.
  const timeAwaitedGet = async (): Promise<number> => {
    const t0 = nowNs()
    let hits = 0
    for (let i = 0; i < idx.length; i++) if (await c.get(keys[idx[i] as number] as string) !== undefined) hits++
    if (hits !== idx.length) throw new Error('get missed')
    return Number(nowNs() - t0) / idx.length
  }
  const timeGet = (): number => {
    const t0 = nowNs()
    let hits = 0
    for (let i = 0; i < idx.length; i++) if (c.get(keys[idx[i] as number] as string) !== undefined) hits++
    if (hits !== idx.length) throw new Error('get missed')
    return Number(nowNs() - t0) / idx.length
  }
  const timeLoad = async (): Promise<number> => {
    const t0 = nowNs()
    let hits = 0
    for (let i = 0; i < idx.length; i++) if (await c.getOrLoad(keys[idx[i] as number] as string, failedLoad) !== undefined) hits++
    if (hits !== idx.length) throw new Error('getOrLoad missed')
    return Number(nowNs() - t0) / idx.length
  }
  for (let w = 0; w < 2; w++) { timeGet(); await timeLoad() }
  for (let r = 0; r < HIT_ROUNDS; r++) {
    if (r % 2 === 0) { getTimes.push(timeGet()); loadTimes.push(await timeLoad()) } else { loadTimes.push(await timeLoad()); getTimes.push(timeGet()) }
    awaitedGetTimes.push(await timeAwaitedGet())
  }
  return [{
    section: SECTION, figure: 'getOrLoad hit, awaited', unit: 'ns/op', mesh: median(loadTimes),
    baseline: { label: 'get', value: median(getTimes) }, ratio: pairedRatio(loadTimes, getTimes), target: { kind: 'ratio', max: 2 },
  }, {
    section: SECTION, figure: 'getOrLoad hit, context', unit: 'ns/op', mesh: median(loadTimes),
    baseline: { label: 'await get()', value: median(awaitedGetTimes) }, ratio: pairedRatio(loadTimes, awaitedGetTimes),
  }]
}

function cascade (c: LoaderCache, plain: LoaderCache): Row {
  const deps = makeKeys(FANOUT, 'dashboard')
  const value: Value = { id: 0 }
  let round = 0
  const perKey = (): number => {
    for (let i = 0; i < FANOUT; i++) plain.set(deps[i] as string, value)
    const t0 = nowNs()
    for (let i = 0; i < FANOUT; i++) plain.invalidate(deps[i] as string)
    return Number(nowNs() - t0) / 1000
  }
  const subject = (): number => {
    const base = `account:${round++}`
    c.set(base, value)
    for (let i = 0; i < FANOUT; i++) c.set(deps[i] as string, value, { dependsOn: [base] })
    const t0 = nowNs()
    c.invalidate(base)
    const dt = Number(nowNs() - t0)
    for (let i = 0; i < FANOUT; i += 997) if (c.get(deps[i] as string) !== undefined) throw new Error('a dependent survived its base')
    return dt / 1000
  }
  const [times, perKeyTimes] = interleave([subject, perKey], CASCADE_ROUNDS, 2) as [number[], number[]]
  return {
    section: SECTION, figure: `invalidate a base with ${FANOUT / 1000}k dependents`, unit: 'µs', mesh: median(times),
    baseline: { label: `${FANOUT / 1000}k invalidate()`, value: median(perKeyTimes) }, ratio: pairedRatio(times, perKeyTimes), target: { kind: 'abs', max: 10_000 },
  }
}

async function edgeMemory (): Promise<Row> {
  const figure = `dependency edge, ${EDGES / 1e6}M edges`
  if (!hasGc()) return { ...missing(figure, 'B/edge'), note: 'run with --expose-gc' }
  const keys = makeFlatKeys(EDGES, 'derived')
  const bases = makeFlatKeys(EDGE_BASES, 'base')
  const values = makeValues(EDGES)
  const deps = bases.map((b) => [b])
  const fill = async (withEdges: boolean): Promise<number> => {
    const h0 = await liveBytes()
    const cache = await newCache(EDGES + EDGE_BASES + 1, true)
    const c = withLoader(cache) as LoaderCache
    for (const b of bases) c.set(b, { id: -1 })
    for (let i = 0; i < EDGES; i += 10_000) {
      for (let j = i; j < i + 10_000; j++) {
        if (withEdges) c.set(keys[j] as string, values[j] as Value, { dependsOn: deps[j % EDGE_BASES] as string[] })
        else c.set(keys[j] as string, values[j] as Value)
      }
      await turn()
    }
    const bytes = await liveBytes() - h0
    if (cache.stats().liveKeys !== EDGES + EDGE_BASES) throw new Error('edge memory: keys were evicted')
    await cache.close()
    return bytes
  }
  const without = await fill(false)
  const withEdges = await fill(true)
  return { section: SECTION, figure, unit: 'B/edge', mesh: (withEdges - without) / EDGES }
}

export async function run (): Promise<Row[]> {
  const probe = await newCache(FANOUT * 2 + 10, false)
  const c = withLoader(probe)
  if (c === undefined) {
    await probe.close()
    return [
      missing('getOrLoad hit, awaited', 'ns/op'),
      missing(`invalidate a base with ${FANOUT / 1000}k dependents`, 'µs'),
      missing(`dependency edge, ${EDGES / 1e6}M edges`, 'B/edge'),
    ]
  }
  const rows: Row[] = []
  const plain = await newCache(FANOUT * 2 + 10, false)
  rows.push(cascade(c, withLoader(plain) as LoaderCache))
  await plain.close()
  await probe.close()
  const hitCache = await newCache(HIT_KEYS, false)
  rows.unshift(...await hitVsGet(withLoader(hitCache) as LoaderCache))
  await hitCache.close()
  rows.push(await edgeMemory())
  return rows
}
