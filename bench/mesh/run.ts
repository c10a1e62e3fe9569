/**
 * `npm run bench:mesh`: write→evict latency and saturation throughput of one
 * writer fanning invalidations out to n-1 receivers, each in its own process,
 * for every system side by side in the same run. See bench/README.md.
 *
 *   node bench/mesh/run.ts [--systems tcp,redis,libp2p-stream,meshcache] [--rate 1000[,200]]
 *     [--seconds 10] [--warmup 2[,2]] [--saturate 5] [--nodes 5] [--rounds 1] [--json out.json]
 *     [--node-args='--cpu-prof --cpu-prof-dir=.bench-out/prof']
 *
 * `--rounds N` runs the whole sequence (every system, fresh processes) N times, the systems
 * alternating, and prints every round: on a machine whose speed drifts over minutes (a VM), a
 * ratio between two systems measured a minute apart moves with the drift, and alternating
 * rounds show how far. Under the table, each system's ratios to the floor of their own
 * rounds (meshcache's first): their median, and their mean ± its standard error, which says
 * how many rounds a difference of a few hundredths needs.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Cluster, type PhaseResult } from './harness.ts'
import { count, ms, pairedSummary, ratio, roundsLine, table, type Pair } from './stats.ts'
import { loadSystem, systemExists } from './systems/load.ts'
import { parseCli } from '../../test/helpers/cli.ts'

/** The bare libp2p stack: issue 21's baseline for meshcache's own cost. */
const FLOOR = 'libp2p-stream'

const USAGE = `usage: npm run bench:mesh -- [--systems a,b] [--rate 1000[,200]] [--seconds 10]
  [--warmup 2 (s before each rate's measure; one per rate, or one for all)] [--saturate 5 (0: skip)] [--nodes 5] [--rounds 1] [--json file]
  [--node-args='<Node options for every node process, e.g. --cpu-prof --cpu-prof-dir=.bench-out/prof>']`
const values = parseCli(USAGE, {
  systems: { type: 'string', default: ['tcp', 'redis', 'libp2p-stream', 'meshcache'].filter(systemExists).join(',') },
  rate: { type: 'string', default: '1000' },
  seconds: { type: 'string', default: '10' },
  warmup: { type: 'string', default: '2' },
  saturate: { type: 'string', default: '5' },
  nodes: { type: 'string', default: '5' },
  rounds: { type: 'string', default: '1' },
  json: { type: 'string' },
  'node-args': { type: 'string', default: '' },
})

function positive(name: string, text: string, allowZero = false): number {
  const value = Number(text)
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new TypeError(`bench:mesh: --${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${text}`)
  }
  return value
}

const systems = values.systems.split(',').filter(Boolean)
const rates = values.rate.split(',').map((r) => positive('rate', r))
const seconds = positive('seconds', values.seconds)
const warmups = values.warmup.split(',').map((w) => positive('warmup', w, true))
if (warmups.length !== 1 && warmups.length !== rates.length) {
  throw new TypeError(`bench:mesh: --warmup takes one value, or one per rate (${rates.length}), got ${values.warmup}`)
}
/** Seconds written at `rate` (the rates' i-th) before its measure, in the same processes, not counted. */
const warmupFor = (i: number): number => (warmups[i] ?? warmups[0]) as number
const saturate = positive('saturate', values.saturate, true)
const nodes = positive('nodes', values.nodes)
if (nodes < 2 || !Number.isInteger(nodes)) throw new TypeError('bench:mesh: --nodes must be an integer >= 2')
const rounds = positive('rounds', values.rounds)
if (!Number.isInteger(rounds)) throw new TypeError(`bench:mesh: --rounds must be a positive integer, got ${values.rounds}`)
// Whitespace-separated, no quoting: Node options carry no spaces.
const nodeArgs = values['node-args'].split(/\s+/).filter(Boolean)

interface Row {
  round: number
  system: string
  skipped?: string
  rates: Array<{ rate: number, result: PhaseResult }>
  saturation?: PhaseResult
}

const rows: Row[] = []
process.stdout.write(`bench:mesh: ${nodes} processes (1 writer → ${nodes - 1} receivers), ${os.cpus().length} CPUs, ` +
  `Node ${process.version}; ${seconds} s per rate after ${warmups.join(', ')} s warm-up, saturation ${saturate} s` +
  `${rounds > 1 ? `; ${rounds} rounds, the systems alternating` : ''}\n`)

for (let round = 1; round <= rounds; round++) {
  for (const name of systems) rows.push(await runSystem(round, name))
}

/** One system's phases on a fresh cluster. */
async function runSystem (round: number, name: string): Promise<Row> {
  const reason = systemExists(name) ? await (await loadSystem(name)).unavailable?.() : `no bench/mesh/systems/${name}.ts`
  if (reason) {
    process.stdout.write(`  ${name}: skipped: ${reason}\n`)
    return { round, system: name, skipped: reason, rates: [] }
  }
  process.stdout.write(`  ${rounds > 1 ? `round ${round} ` : ''}${name}: starting ${nodes} processes… `)
  const cluster = await Cluster.start(name, nodes, 'fanout', nodeArgs)
  try {
    const row: Row = { round, system: name, rates: [] }
    for (const [i, rate] of rates.entries()) {
      if (warmupFor(i) > 0) await cluster.phase(rate, warmupFor(i))
      const result = await cluster.phase(rate, seconds)
      row.rates.push({ rate, result })
      process.stdout.write(`${rate}/s p50 ${ms(result.latency.p50)} ms… `)
    }
    if (saturate > 0) {
      row.saturation = await cluster.phase(0, saturate)
      process.stdout.write(`saturation ${count(row.saturation.deliveredPerSecond)}/s`)
    }
    process.stdout.write('\n')
    return row
  } finally {
    await cluster.close()
  }
}

const find = (round: number, system: string, rate: number): PhaseResult | undefined =>
  rows.find((r) => r.round === round && r.system === system)?.rates.find((r) => r.rate === rate)?.result

const out: string[][] = []
for (const row of rows) {
  const first = rounds > 1 ? [String(row.round), row.system] : [row.system]
  if (row.skipped) {
    out.push([...first, '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', `skipped: ${row.skipped}`])
    continue
  }
  for (const { rate, result } of row.rates) {
    const floor = find(row.round, FLOOR, rate)?.latency
    out.push([
      ...first,
      count(result.offered),
      ms(result.latency.p50),
      ms(result.latency.p99),
      ms(result.latency.max),
      count(result.lost),
      count(row.saturation?.deliveredPerSecond),
      ms(row.saturation?.latency.p99),
      ratio(result.latency.p50, find(row.round, 'tcp', rate)?.latency.p50),
      ratio(result.latency.p99, find(row.round, 'redis', rate)?.latency.p99),
      row.system === FLOOR ? '-' : ratio(result.latency.p50, floor?.p50),
      row.system === FLOOR ? '-' : ratio(result.latency.p99, floor?.p99),
      '',
    ])
  }
}
process.stdout.write('\nwrite→receive latency in ms, pooled over all receivers; saturation = writes/s that reached every receiver\n\n')
process.stdout.write(table(
  [...(rounds > 1 ? ['round'] : []), 'system', 'writes/s', 'p50', 'p99', 'max', 'lost', 'sat. writes/s', 'sat. p99', 'p50/tcp', 'p99/redis', 'p50/floor', 'p99/floor', ''],
  out,
) + '\n')
process.stdout.write('\ntargets (issue 3): meshcache p50/tcp <= 1.50x and p99/redis <= 1.00x at 1,000 writes/s; sat. writes/s >= 20,000\n')
if (rows.some((r) => r.system === FLOOR && !r.skipped)) {
  process.stdout.write(`${FLOOR} (floor): the transport stack alone (TCP, pnet, Noise, Yamux) with nothing of meshcache above it, the floor of any design on that stack\n`)
  process.stdout.write('targets (issue 21): meshcache p50/floor <= 1.20x at 1,000 writes/s and p99/floor <= 3.00x at 20,000 writes/s\n')
  // meshcache's line first, then each other system's (a bound run beside it) in the same measure.
  const others = [...new Set(rows.map((r) => r.system))].filter((s) => s !== FLOOR).sort((a, b) => Number(b === 'meshcache') - Number(a === 'meshcache'))
  for (const [rate, q, target] of [[1000, 'p50', 1.2], [20000, 'p99', 3]] as const) {
    for (const system of others) {
      const pairs: Pair[] = []
      for (let round = 1; round <= rounds; round++) {
        const value = find(round, system, rate)?.latency[q]
        const floor = find(round, FLOOR, rate)?.latency[q]
        if (value !== undefined && Number.isFinite(value) && floor !== undefined && floor > 0) pairs.push({ base: floor, system: value })
      }
      if (pairs.length > 0) process.stdout.write(`  ${roundsLine(`${system} ${q}/floor at ${count(rate)}/s`, pairedSummary(pairs, target), target)}\n`)
    }
  }
}

const json = values.json ?? path.join('.bench-out', `mesh-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
await mkdir(path.dirname(json), { recursive: true })
await writeFile(json, JSON.stringify({ nodes, seconds, warmup: warmups, saturate, rounds, cpus: os.cpus().length, node: process.version, rows }, null, 2))
process.stdout.write(`raw results: ${json}\n`)
