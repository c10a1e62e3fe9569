/**
 * The L2 tier's costs in one process, each beside its baseline in the same
 * run (interleaved rounds, medians of per-round ratios):
 *
 * - `getOrLoad` on an L1 miss and an L2 hit, against a bare node-redis GET
 *   of the same value (as plain JSON under its own key) and JSON.parse, one
 *   call at a time, on the same connection;
 * - the L1 hit path (`get`, `getOrLoad`) with L2 configured, against a cache
 *   without it;
 * - a write's caller time (`set` returns) with L2 configured, against without
 *   (the write-through runs after the caller's synchronous run, untimed).
 */
import { createClient } from 'redis'
import { createMeshCache, type MeshCache } from '../../lib/index.ts'
import { RedisTier, type RedisConnection } from '../../lib/tiers/redis.ts'
import type { RedisServer } from '../../test/helpers/redis.ts'
import { captureTransport, interleave, median, pairedRatio, turn, type Row } from '../core/util.ts'

interface Value { id: number, name: string }

export interface MicroOptions {
  /** Rounds of each timed figure. */
  rounds: number
  /** getOrLoad calls per round (each on a key L1 does not hold). */
  missesPerRound: number
}

const gc = (globalThis as { gc?: () => void }).gc ?? ((): void => {})
const value = (i: number): Value => ({ id: i, name: `user ${i}` })
const notCalled = (): never => { throw new Error('loader called: the value should have come from L2') }

export async function runMicro (server: RedisServer, o: MicroOptions): Promise<Row[]> {
  const client = createClient({ url: server.url })
  client.on('error', () => {})
  await client.connect()
  await client.flushAll()
  const rows: Row[] = []
  const pair = async (): Promise<[MeshCache<Value>, MeshCache<Value>]> => [
    // Generous timeout: the figures are the paths' costs, not a timeout's.
    await createMeshCache<Value>({ namespace: 'micro', transport: captureTransport(), max: 1_000_000, l2: { redis: client, timeout: 1_000 } }),
    await createMeshCache<Value>({ namespace: 'micro', transport: captureTransport(), max: 1_000_000 }),
  ]
  try {
    // Each figure on fresh caches: one's keys must not weigh on the next.
    for (const run of [async ([a]: MeshCache<Value>[]) => await l2Hit(a as MeshCache<Value>, client, o), async ([a, b]: MeshCache<Value>[]) => await l1Hit(a as MeshCache<Value>, b as MeshCache<Value>), async ([a, b]: MeshCache<Value>[]) => await writes(a as MeshCache<Value>, b as MeshCache<Value>)]) {
      const caches = await pair()
      try {
        rows.push(...await run(caches))
      } finally {
        for (const c of caches) await c.close()
      }
    }
  } finally {
    client.destroy()
  }
  return rows
}

/** The calls the baseline makes, on the same connection the tier uses. */
interface PlainRedis { get (key: string): Promise<unknown>, set (key: string, value: string): Promise<unknown> }

async function l2Hit (cache: MeshCache<Value>, client: PlainRedis & RedisConnection, o: MicroOptions): Promise<Row[]> {
  // Every round reads keys L1 has never held: loaded into L2 by another cache (a loading instance). Loaded,
  // not written: a copy a write stored is served only where that write is known (SPEC §14.3), and this
  // cache is in no mesh with the other.
  const total = (o.rounds + 2) * o.missesPerRound
  const tier = new RedisTier<Value>({ redis: client, timeout: 1_000 })
  const loader = await createMeshCache<Value>({ namespace: 'micro', transport: captureTransport(), max: total + 1, l2: tier })
  for (let i = 0; i < total; i++) {
    await loader.getOrLoad(`user:${i}`, async () => value(i))
    await client.set(`plain:user:${i}`, JSON.stringify(value(i)))
  }
  while (Number(tier.stats().l2Fills) + Number(tier.stats().l2Skipped) + Number(tier.stats().l2Errors) < total) await new Promise((resolve) => setTimeout(resolve, 10))
  if (Number(tier.stats().l2Fills) !== total) throw new Error(`${total - Number(tier.stats().l2Fills)} of ${total} fills did not land: ${JSON.stringify(tier.stats())}`)
  await loader.close()
  let next = 0
  // Wall time per op, and this process's CPU time per op (Redis's own time excluded: on a loaded machine it is the part that varies).
  const cpu: { mesh: number[], base: number[] } = { mesh: [], base: [] }
  let cpuStart = process.cpuUsage()
  const cpuOf = (): number => {
    const d = process.cpuUsage(cpuStart)
    return (d.user + d.system) / o.missesPerRound
  }
  const meshRound = async (): Promise<number> => {
    cpuStart = process.cpuUsage()
    const start = process.hrtime.bigint()
    for (let i = 0; i < o.missesPerRound; i++) {
      const k = next++
      const v = await cache.getOrLoad<Value>(`user:${k}`, notCalled)
      if (v.id !== k) throw new Error(`user:${k} read ${v.id}`)
    }
    cpu.mesh.push(cpuOf())
    return Number(process.hrtime.bigint() - start) / o.missesPerRound / 1000
  }
  let plainNext = 0
  const bareRound = async (): Promise<number> => {
    cpuStart = process.cpuUsage()
    const start = process.hrtime.bigint()
    for (let i = 0; i < o.missesPerRound; i++) {
      const k = plainNext++ % total
      const v = JSON.parse(await client.get(`plain:user:${k}`) as string) as Value
      if (v.id !== k) throw new Error(`plain:user:${k} read ${v.id}`)
    }
    cpu.base.push(cpuOf())
    return Number(process.hrtime.bigint() - start) / o.missesPerRound / 1000
  }
  const mesh: number[] = []
  const base: number[] = []
  await meshRound()
  await bareRound() // warm-up
  cpu.mesh.length = 0
  cpu.base.length = 0
  for (let r = 0; r < o.rounds; r++) {
    if (r % 2 === 0) { mesh.push(await meshRound()); base.push(await bareRound()) } else { base.push(await bareRound()); mesh.push(await meshRound()) }
  }
  const stats = cache.stats() as { tier?: Record<string, number> }
  if ((stats.tier?.l2Hits ?? 0) < o.rounds * o.missesPerRound) throw new Error(`expected L2 hits, stats ${JSON.stringify(stats.tier)}`)
  return [{
    section: 'L2 read',
    figure: 'getOrLoad, L1 miss + L2 hit',
    unit: 'µs/op',
    mesh: median(mesh),
    baseline: { label: 'node-redis GET + JSON.parse', value: median(base) },
    ratio: pairedRatio(mesh, base),
    target: { kind: 'ratio', max: 1.2 },
  }, {
    section: 'L2 read',
    figure: 'same, this process\'s CPU',
    unit: 'µs/op',
    mesh: median(cpu.mesh),
    baseline: { label: 'node-redis GET + JSON.parse', value: median(cpu.base) },
    ratio: pairedRatio(cpu.mesh, cpu.base),
  }]
}

const HITS = 200_000
const HIT_ROUNDS = 31

function getLoop (c: MeshCache<Value>, keys: string[]): number {
  const start = process.hrtime.bigint()
  let found = 0
  for (let i = 0; i < HITS; i++) if (c.get(keys[i % keys.length] as string) !== undefined) found++
  if (found !== HITS) throw new Error('expected hits')
  return Number(process.hrtime.bigint() - start) / HITS
}

function getOrLoadLoop (c: MeshCache<Value>, keys: string[]): number {
  const start = process.hrtime.bigint()
  for (let i = 0; i < HITS; i++) void c.getOrLoad<Value>(keys[i % keys.length] as string, notCalled)
  return Number(process.hrtime.bigint() - start) / HITS
}

async function l1Hit (withL2: MeshCache<Value>, without: MeshCache<Value>): Promise<Row[]> {
  const keys = Array.from({ length: 10_000 }, (_, i) => `hot:${i}`)
  for (const [i, k] of keys.entries()) {
    withL2.set(k, value(i))
    without.set(k, value(i))
  }
  // The write-through of the setup finishes, and its garbage goes, before any timed round.
  await withL2.tier?.flush?.(60_000)
  gc()
  const rows: Row[] = []
  for (const [figure, loop] of [['get, L1 hit', getLoop], ['getOrLoad, L1 hit', getOrLoadLoop]] as const) {
    const [a, b] = interleave([() => loop(withL2, keys), () => loop(without, keys)], HIT_ROUNDS) as [number[], number[]]
    rows.push({ section: 'L1 hit', figure: `${figure}, with L2`, unit: 'ns/op', mesh: median(a), baseline: { label: 'without L2', value: median(b) }, ratio: pairedRatio(a, b), target: { kind: 'ratio', max: 1.05 } })
  }
  return rows
}

const SETS = 2_000
const SET_ROUNDS = 31

async function writes (withL2: MeshCache<Value>, without: MeshCache<Value>): Promise<Row[]> {
  let n = 0
  // Wall time, and this thread's CPU time (a 2-core machine shared by many processes preempts the loop
  // in the middle of a round: wall time then measures the neighbours, CPU time still the caller's cost).
  let cpu = 0
  const setLoop = (c: MeshCache<Value>): number => {
    const c0 = process.cpuUsage()
    const start = process.hrtime.bigint()
    for (let i = 0; i < SETS; i++) c.set(`w:${n++ % 10_000}`, value(i))
    const wall = Number(process.hrtime.bigint() - start) / SETS
    const d = process.cpuUsage(c0)
    cpu = (d.user + d.system) * 1000 / SETS
    return wall
  }
  const a: number[] = []
  const b: number[] = []
  const aCpu: number[] = []
  const bCpu: number[] = []
  const through: number[] = []
  for (let r = -2; r < SET_ROUNDS; r++) {
    // The write-through runs after the caller's run, untimed here and measured on its own (its CPU per
    // write); a full GC between rounds keeps the garbage of one arm from being collected in the other's.
    const x = setLoop(withL2)
    const xCpu = cpu
    const c0 = process.cpuUsage()
    await withL2.tier?.flush?.(60_000)
    const d = process.cpuUsage(c0)
    gc()
    const y = setLoop(without)
    const yCpu = cpu
    await turn()
    gc()
    if (r >= 0) {
      a.push(x)
      b.push(y)
      aCpu.push(xCpu)
      bCpu.push(yCpu)
      through.push((d.user + d.system) * 1000 / SETS)
    }
  }
  return [
    { section: 'L2 write', figure: 'set, caller time, with L2', unit: 'ns/op', mesh: median(a), baseline: { label: 'without L2', value: median(b) }, ratio: pairedRatio(a, b), note: 'L2 is written after the caller\'s run' },
    { section: 'L2 write', figure: 'same, CPU time', unit: 'ns/op', mesh: median(aCpu), baseline: { label: 'without L2', value: median(bCpu) }, ratio: pairedRatio(aCpu, bCpu) },
    { section: 'L2 write', figure: 'write-through CPU per set, after the caller', unit: 'ns/op', mesh: median(through) },
  ]
}
