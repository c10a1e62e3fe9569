/**
 * End to end, meshcache with its Redis L2 against Bentocache 1.x with its
 * Redis L2 and Redis bus: 3 processes (e2e-node.ts) each running a closed
 * loop of reads (95%) and writes (5%) on Zipf keys, in front of a "database"
 * (a second redis-server). Both systems run one after the other in the same
 * run, on the same two redis-servers (flushed between), with the same seeds.
 *
 * Stale read: a read that returned a version older than the newest write of
 * its key acknowledged (by any process) before the read began.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { createClient } from 'redis'
import { generatePsk } from '../../lib/index.ts'
import { own } from '../mesh/owned.ts'
import type { RedisServer } from '../../test/helpers/redis.ts'
import type { NodeConfig } from './e2e-node.ts'

const NODE = new URL('./e2e-node.ts', import.meta.url)
/** A stale read is "late" when the write it missed was acknowledged this long before the read began (µs). */
export const LATE_MS = 100
/** A failure guard per phase, not a wait. */
const GUARD_MS = 120_000

export interface E2eOptions {
  processes: number
  keys: number
  zipf: number
  writeRatio: number
  concurrency: number
  seconds: number
  warmup: number
  seed: number
}

export interface E2eResult {
  system: string
  reads: number
  writes: number
  readsPerSec: number
  opsPerSec: number
  p50: number
  p99: number
  stale: number
  /** Stale reads whose missed write was acknowledged more than LATE_MS before the read began. */
  staleLate: number
  errors: number
  stats: unknown[]
}

interface Done { t: 'done', reads: Float64Array, writes: Float64Array, errors: number, stats: unknown }

function next<T> (child: ChildProcess, t: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`no '${t}' from a bench process within ${GUARD_MS} ms`)), GUARD_MS)
    const onMessage = (m: { t: string, message?: string }): void => {
      if (m.t === 'error') { cleanup(); reject(new Error(m.message)) } else if (m.t === t) { cleanup(); resolve(m as T) }
    }
    const onExit = (code: number | null): void => { cleanup(); reject(new Error(`bench process exited (${code}) before '${t}'`)) }
    const cleanup = (): void => { clearTimeout(guard); child.off('message', onMessage); child.off('exit', onExit) }
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

export async function runE2e (system: 'meshcache' | 'bentocache', l2: RedisServer, db: RedisServer, o: E2eOptions): Promise<E2eResult> {
  // Fresh state for each system: empty L2, every key at version 1 in the database.
  for (const server of [l2, db]) {
    const c = createClient({ url: server.url })
    await c.connect()
    await c.flushAll()
    if (server === db) {
      const batch: string[] = []
      for (let i = 0; i < o.keys; i++) batch.push(`db:${i}`, '1')
      await c.mSet(batch)
    }
    c.destroy()
  }
  const psk = generatePsk()
  const children: ChildProcess[] = []
  let peers: string[] = []
  try {
    for (let i = 0; i < o.processes; i++) {
      const child = own(fork(NODE, [], { execPath: process.execPath, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
      children.push(child)
      const config: NodeConfig = { ...o, system, index: i, l2Url: l2.url, dbUrl: db.url, peers, psk, seed: o.seed + i }
      const ready = next<{ addresses: string[] }>(child, 'ready')
      child.send(config)
      const { addresses } = await ready
      if (i === 0) peers = addresses
    }
    const joined = children.map((c) => next(c, 'joined'))
    for (const c of children) c.send({ t: 'members' })
    await Promise.all(joined)
    const startAt = Number(process.hrtime.bigint()) / 1000 + 200_000
    const done = children.map((c) => next<Done>(c, 'done'))
    for (const c of children) c.send({ t: 'go', startAt })
    const results = await Promise.all(done)
    for (const c of children) c.send({ t: 'close' })
    await Promise.all(children.map((c) => new Promise((resolve) => { if (c.exitCode !== null) resolve(null); else c.once('exit', resolve) })))
    return summarize(system, results, startAt + o.warmup * 1e6, o.seconds)
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
  }
}

function summarize (system: string, results: Done[], measureFrom: number, seconds: number): E2eResult {
  // Per key: acknowledged writes sorted by time, with the running max of their versions.
  const acks = new Map<number, Array<[number, number]>>()
  let writes = 0
  for (const r of results) {
    for (let i = 0; i < r.writes.length; i += 3) {
      const key = r.writes[i] as number
      let list = acks.get(key)
      if (list === undefined) acks.set(key, list = [])
      list.push([r.writes[i + 2] as number, r.writes[i + 1] as number])
      if ((r.writes[i + 2] as number) >= measureFrom) writes++
    }
  }
  for (const list of acks.values()) {
    list.sort((a, b) => a[0] - b[0])
    for (let i = 1; i < list.length; i++) (list[i] as [number, number])[1] = Math.max((list[i] as [number, number])[1], (list[i - 1] as [number, number])[1])
  }
  const latencies: number[] = []
  let stale = 0
  let staleLate = 0
  const lateness: number[] = []
  for (const r of results) {
    for (let i = 0; i < r.reads.length; i += 4) {
      const started = r.reads[i + 1] as number
      if (started < measureFrom) continue
      latencies.push((r.reads[i + 2] as number) - started)
      const list = acks.get(r.reads[i] as number)
      if (list === undefined) continue
      // The newest version acknowledged before the read began (and before it by more than LATE_MS).
      const version = r.reads[i + 3] as number
      const before = newestBefore(list, started)
      if (before !== undefined && version < before) {
        stale++
        {
          // How long before the read the first write it missed was acknowledged.
          const missed = list.find(([, v]) => v > version)
          if (missed !== undefined) lateness.push((started - missed[0]) / 1000)
        }
        const late = newestBefore(list, started - LATE_MS * 1000)
        if (late !== undefined && version < late) staleLate++
      }
    }
  }
  if (lateness.length > 0) {
    lateness.sort((a, b) => a - b)
    const q = (p: number): string => (lateness[Math.min(lateness.length - 1, Math.floor(p * lateness.length))] as number).toFixed(1)
    console.log(`${system}: stale reads missed a write acknowledged this many ms before: p50 ${q(0.5)}, p90 ${q(0.9)}, p99 ${q(0.99)}, max ${q(1)}`)
  }
  latencies.sort((a, b) => a - b)
  const pick = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN
  return {
    system,
    reads: latencies.length,
    writes,
    readsPerSec: latencies.length / seconds,
    opsPerSec: (latencies.length + writes) / seconds,
    p50: pick(0.5),
    p99: pick(0.99),
    stale,
    staleLate,
    errors: results.reduce((n, r) => n + r.errors, 0),
    stats: results.map((r) => r.stats),
  }
}

/** The running max of versions acknowledged before `t`, from a list sorted by acknowledgement time. */
function newestBefore (list: Array<[number, number]>, t: number): number | undefined {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((list[mid] as [number, number])[0] < t) lo = mid + 1
    else hi = mid
  }
  return lo === 0 ? undefined : (list[lo - 1] as [number, number])[1]
}
