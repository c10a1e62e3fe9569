/**
 * `node bench/core/key-index-growth.ts [--keys 300000] [--batch 20] [--rounds 3]`: what growing the store's key index
 * stalls. Inserts `--keys` new keys (`user:<n>`, as bench:mesh's writer makes them) in batches of `--batch` (one
 * frame's records at 20,000 writes/s), into a plain `Map` and into the store's `KeyIndex` (lib/core/key-index.ts),
 * alternating, and prints for each the longest batch, how many batches took over 1 ms, their total, and the whole
 * insert time, all in the main thread's CPU time (so the host's other load does not count). A plain Map's doublings reinsert every key in one `set`; that batch is the longest. Reads stay
 * cheap: a context row times `get` of every key. Issue 21 §4.
 */
import { KeyIndex } from '../../lib/core/key-index.ts'
import { parseCli } from '../../test/helpers/cli.ts'

const USAGE = 'usage: node bench/core/key-index-growth.ts [--keys 300000] [--batch 20] [--rounds 3]'
const values = parseCli(USAGE, { keys: { type: 'string', default: '300000' }, batch: { type: 'string', default: '20' }, rounds: { type: 'string', default: '3' } })
const keys = Number(values.keys)
const batch = Number(values.batch)
const rounds = Number(values.rounds)
const names = Array.from({ length: keys }, (_, i) => `user:${1_000_000 + i}`.slice(0)) // flat strings, as decoded keys are

/** The main thread's CPU time: on a loaded host wall time mostly measures the neighbours. */
function cpuMs (): number {
  const u = process.threadCpuUsage()
  return (u.user + u.system) / 1000
}

interface Like { set (key: string, value: number): unknown, get (key: string): number | undefined }

function run (make: () => Like): { longest: number, over1: number, over1Ms: number, total: number, getNs: number } {
  const map = make()
  let longest = 0
  let over1 = 0
  let over1Ms = 0
  const start = performance.now()
  for (let i = 0; i < keys; i += batch) {
    const t = cpuMs()
    const end = Math.min(keys, i + batch)
    for (let k = i; k < end; k++) map.set(names[k] as string, k)
    const took = cpuMs() - t
    if (took > longest) longest = took
    if (took > 1) { over1++; over1Ms += took }
  }
  const total = performance.now() - start
  const g = performance.now()
  let sum = 0
  for (let k = 0; k < keys; k++) sum += map.get(names[k] as string) as number
  const getNs = (performance.now() - g) * 1e6 / keys
  if (sum < 0) throw new Error('unreachable')
  return { longest, over1, over1Ms, total, getNs }
}

process.stdout.write(`key map growth: ${keys} new keys in batches of ${batch}, ${rounds} rounds alternating\n`)
process.stdout.write('map       longest batch ms  batches > 1 ms  their ms  insert total ms  get ns/key\n')
for (let r = 0; r < rounds; r++) {
  for (const [name, make] of [['Map', () => new Map<string, number>()], ['KeyIndex', () => new KeyIndex()]] as const) {
    const s = run(make)
    process.stdout.write(`${name.padEnd(8)}  ${s.longest.toFixed(2).padStart(16)}  ${String(s.over1).padStart(14)}  ${s.over1Ms.toFixed(1).padStart(8)}  ${s.total.toFixed(1).padStart(15)}  ${s.getNs.toFixed(0).padStart(10)}\n`)
  }
}
