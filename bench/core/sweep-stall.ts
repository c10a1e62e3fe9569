/**
 * `node bench/core/sweep-stall.ts [--keys 200000] [--rounds 3]`: the longest synchronous run of the periodic
 * tombstone sweep. A store holds `--keys` tombstones (as a receiver does after 10 s at 20,000 new keys a second),
 * all past the horizon; then it is swept once whole (`Store.collect(horizon)`, what `purgeStale()` does) and once
 * in chunks (`collect(horizon, 4096)`, what the periodic timer does since issue 21 §4, the rest following a chunk
 * per `setImmediate`), alternating. Prints the longest synchronous run of each (wall and main-thread CPU; the CPU
 * clock here ticks in steps of up to 4 ms) and the whole sweep's time.
 */
import { HLC_LOGICAL_RANGE } from '../../lib/core/clock.ts'
import { Store } from '../../lib/core/store.ts'
import { RecordKind } from '../../protocol/constants.ts'
import { parseCli } from '../../test/helpers/cli.ts'

const USAGE = 'usage: node bench/core/sweep-stall.ts [--keys 200000] [--rounds 3]'
const values = parseCli(USAGE, { keys: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '3' } })
const n = Number(values.keys)
const rounds = Number(values.rounds)
const HORIZON = 60_000
const cpuMs = (): number => { const u = process.threadCpuUsage(); return (u.user + u.system) / 1000 }

function filled (): { store: Store<string>, advance: () => void } {
  let now = 1_700_000_000_000
  const store = new Store<string>({ max: 100, now: () => now, exactClock: true, onEvict: () => {} })
  for (let i = 0; i < n; i++) {
    const key = `user:${i}`
    store.markDead(store.addState(key, RecordKind.INVALIDATE, now * HLC_LOGICAL_RANGE, 'o', ['o', i + 1], 1000))
  }
  return { store, advance: () => { now += HORIZON + 2000 } }
}

async function sweep (chunk: number): Promise<{ longestWall: number, longestCpu: number, total: number }> {
  const { store, advance } = filled()
  advance()
  let longestWall = 0
  let longestCpu = 0
  const start = performance.now()
  // Time every turn until the store is empty: the first call, then each setImmediate continuation.
  for (;;) {
    const w = performance.now()
    const c = cpuMs()
    if (chunk === Infinity || store.tombstones === n) store.collect(HORIZON, chunk)
    longestWall = Math.max(longestWall, performance.now() - w)
    longestCpu = Math.max(longestCpu, cpuMs() - c)
    if (store.tombstones === 0) break
    await new Promise((resolve) => setImmediate(resolve))
  }
  const total = performance.now() - start
  store.close()
  return { longestWall, longestCpu, total }
}

process.stdout.write(`sweep of ${n} tombstones past the horizon, load ${(await import('node:os')).loadavg()[0]?.toFixed(1)}\n`)
process.stdout.write('sweep            longest run wall ms  longest run cpu ms  whole sweep ms\n')
for (let r = 0; r < rounds; r++) {
  for (const [name, chunk] of [['whole', Infinity], ['chunks of 4096', 4096]] as const) {
    const s = await sweep(chunk)
    process.stdout.write(`${name.padEnd(15)}  ${s.longestWall.toFixed(1).padStart(19)}  ${s.longestCpu.toFixed(1).padStart(18)}  ${s.total.toFixed(1).padStart(14)}\n`)
  }
}
