/**
 * `npm run bench:mesh`: write→evict latency and saturation throughput of one
 * writer fanning invalidations out to n-1 receivers, each in its own process,
 * for every system side by side in the same run. See bench/README.md.
 *
 *   node bench/mesh/run.ts [--systems tcp,redis,libp2p-stream,meshcache] [--rate 1000[,200]]
 *     [--seconds 10] [--warmup 2] [--saturate 5] [--nodes 5] [--json out.json]
 *     [--node-args='--cpu-prof --cpu-prof-dir=.bench-out/prof']
 */
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { Cluster, type PhaseResult } from './harness.ts'
import { count, ms, ratio, table } from './stats.ts'
import { loadSystem, systemExists } from './systems/load.ts'

const { values } = parseArgs({
  options: {
    systems: { type: 'string', default: ['tcp', 'redis', 'libp2p-stream', 'meshcache'].filter(systemExists).join(',') },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    saturate: { type: 'string', default: '5' },
    nodes: { type: 'string', default: '5' },
    json: { type: 'string' },
    'node-args': { type: 'string', default: '' },
    help: { type: 'boolean', short: 'h' },
  },
})

if (values.help) {
  process.stdout.write(`usage: npm run bench:mesh -- [--systems a,b] [--rate 1000[,200]] [--seconds 10]
  [--warmup 2] [--saturate 5 (0: skip)] [--nodes 5] [--json file]
  [--node-args='<Node options for every node process, e.g. --cpu-prof --cpu-prof-dir=.bench-out/prof>']\n`)
  process.exit(0)
}

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
const warmup = positive('warmup', values.warmup, true)
const saturate = positive('saturate', values.saturate, true)
const nodes = positive('nodes', values.nodes)
if (nodes < 2 || !Number.isInteger(nodes)) throw new TypeError('bench:mesh: --nodes must be an integer >= 2')
// Whitespace-separated, no quoting: Node options carry no spaces.
const nodeArgs = values['node-args'].split(/\s+/).filter(Boolean)

interface Row {
  system: string
  skipped?: string
  rates: Array<{ rate: number, result: PhaseResult }>
  saturation?: PhaseResult
}

const rows: Row[] = []
process.stdout.write(`bench:mesh: ${nodes} processes (1 writer → ${nodes - 1} receivers), ${os.cpus().length} CPUs, ` +
  `Node ${process.version}; ${seconds} s per rate after ${warmup} s warm-up, saturation ${saturate} s\n`)

for (const name of systems) {
  const reason = systemExists(name) ? await (await loadSystem(name)).unavailable?.() : `no bench/mesh/systems/${name}.ts`
  if (reason) {
    process.stdout.write(`  ${name}: skipped: ${reason}\n`)
    rows.push({ system: name, skipped: reason, rates: [] })
    continue
  }
  process.stdout.write(`  ${name}: starting ${nodes} processes… `)
  const cluster = await Cluster.start(name, nodes, 'fanout', nodeArgs)
  try {
    const row: Row = { system: name, rates: [] }
    for (const rate of rates) {
      if (warmup > 0) await cluster.phase(rate, warmup)
      const result = await cluster.phase(rate, seconds)
      row.rates.push({ rate, result })
      process.stdout.write(`${rate}/s p50 ${ms(result.latency.p50)} ms… `)
    }
    if (saturate > 0) {
      row.saturation = await cluster.phase(0, saturate)
      process.stdout.write(`saturation ${count(row.saturation.deliveredPerSecond)}/s`)
    }
    process.stdout.write('\n')
    rows.push(row)
  } finally {
    await cluster.close()
  }
}

const find = (system: string, rate: number): PhaseResult | undefined =>
  rows.find((r) => r.system === system)?.rates.find((r) => r.rate === rate)?.result

const out: string[][] = []
for (const row of rows) {
  if (row.skipped) {
    out.push([row.system, '-', '-', '-', '-', '-', '-', '-', '-', '-', `skipped: ${row.skipped}`])
    continue
  }
  for (const { rate, result } of row.rates) {
    out.push([
      row.system,
      count(result.offered),
      ms(result.latency.p50),
      ms(result.latency.p99),
      ms(result.latency.max),
      count(result.lost),
      count(row.saturation?.deliveredPerSecond),
      ms(row.saturation?.latency.p99),
      ratio(result.latency.p50, find('tcp', rate)?.latency.p50),
      ratio(result.latency.p99, find('redis', rate)?.latency.p99),
      '',
    ])
  }
}
process.stdout.write('\nwrite→receive latency in ms, pooled over all receivers; saturation = writes/s that reached every receiver\n\n')
process.stdout.write(table(
  ['system', 'writes/s', 'p50', 'p99', 'max', 'lost', 'sat. writes/s', 'sat. p99', 'p50/tcp', 'p99/redis', ''],
  out,
) + '\n')
process.stdout.write('\ntargets (issue 3): meshcache p50/tcp <= 1.50x and p99/redis <= 1.00x at 1,000 writes/s; sat. writes/s >= 20,000\n')
if (rows.some((r) => r.system === 'libp2p-stream' && !r.skipped)) {
  process.stdout.write('libp2p-stream: the transport stack alone (TCP, pnet, Noise, Yamux) with nothing of meshcache above it, the floor of any design on that stack\n')
}

const json = values.json ?? path.join('.bench-out', `mesh-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
await mkdir(path.dirname(json), { recursive: true })
await writeFile(json, JSON.stringify({ nodes, seconds, warmup, saturate, cpus: os.cpus().length, node: process.version, rows }, null, 2))
process.stdout.write(`raw results: ${json}\n`)
