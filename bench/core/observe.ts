/**
 * What observing costs (issue 19), side by side in one run:
 *
 * - get hit with the staleness audit on at 0% sampling (its hook replaces
 *   the no-op one and runs on every hit, sampling none), against the same
 *   cache's rounds without it. The same cache, not a second one: a second
 *   cache in the process read ~25% slower with nothing on it (its entries
 *   elsewhere in memory). Its own group, after `get`: the rounds with the
 *   audit make the hook's call site see two functions, and `get`'s rows
 *   must measure the cache as it runs with the audit never started.
 * - a Prometheus scrape (`registry.metrics()`) of a cache holding 100k keys,
 *   against `cache.stats()` alone: the exporter's own share of a scrape.
 */
import { Registry } from 'prom-client'
import { createMeshCache, type MeshCache } from '../../lib/index.ts'
import { registerMetrics } from '../../lib/observe/prometheus.ts'
import { accessPattern, captureTransport, interleave, makeKeys, makeValues, median, nowNs, pairedRatio, turn, type Row, type Value } from './util.ts'

const KEYS = 100_000
const OPS = 200_000
const ROUNDS = 21
const SCRAPES = 21
const HOUR = 3_600_000

function plainGet (c: MeshCache<Value>, keys: string[], idx: Uint32Array): number {
  let hits = 0
  for (let i = 0; i < idx.length; i++) if (c.get(keys[idx[i] as number] as string) !== undefined) hits++
  return hits
}

function auditedGet (c: MeshCache<Value>, keys: string[], idx: Uint32Array): number {
  let hits = 0
  for (let i = 0; i < idx.length; i++) if (c.get(keys[idx[i] as number] as string) !== undefined) hits++
  return hits
}

function timedRound (loop: typeof plainGet, c: MeshCache<Value>, keys: string[], idx: Uint32Array, audited: boolean): () => number {
  return () => {
    const audit = audited ? c.audit({ sample: 0, source: () => undefined }) : undefined
    try {
      const t0 = nowNs()
      const hits = loop(c, keys, idx)
      const dt = Number(nowNs() - t0)
      if (hits !== idx.length) throw new Error(`${loop.name}: ${hits} hits of ${idx.length}: not a hit benchmark`)
      return dt / idx.length
    } finally {
      audit?.stop()
    }
  }
}

export async function run (): Promise<Row[]> {
  const keys = makeKeys(KEYS)
  const values = makeValues(KEYS)
  const idx = accessPattern(OPS, KEYS)
  const mesh = await createMeshCache<Value>({ namespace: 'bench-observe', max: KEYS, ttl: HOUR, transport: captureTransport() })
  for (let i = 0; i < KEYS; i++) mesh.set(keys[i] as string, values[i] as Value)
  await turn()
  const registry = new Registry()
  registerMetrics(mesh, { registry })

  const [plain, audited] = interleave([
    timedRound(plainGet, mesh, keys, idx, false),
    timedRound(auditedGet, mesh, keys, idx, true),
  ], ROUNDS) as [number[], number[]]

  const scrapes: number[] = []
  const statsOnly: number[] = []
  let bytes = 0
  for (let i = 0; i < SCRAPES; i++) {
    let t0 = nowNs()
    bytes = (await registry.metrics()).length
    scrapes.push(Number(nowNs() - t0) / 1e6)
    t0 = nowNs()
    mesh.stats()
    statsOnly.push(Number(nowNs() - t0) / 1e6)
  }
  await mesh.close()

  const section = `observing (issue 19): ${KEYS / 1000}k keys; get ${OPS / 1000}k random hits per round, ${ROUNDS} interleaved rounds; ${SCRAPES} scrapes`
  return [
    { section, figure: 'get hit, audit on at 0%', unit: 'ns/op', mesh: median(audited), baseline: { label: 'same cache, no audit', value: median(plain) }, ratio: pairedRatio(audited, plain) },
    { section, figure: `Prometheus scrape (${bytes} bytes)`, unit: 'ms', mesh: median(scrapes), baseline: { label: 'cache.stats() alone', value: median(statsOnly) }, ratio: median(scrapes) / median(statsOnly) },
  ]
}
