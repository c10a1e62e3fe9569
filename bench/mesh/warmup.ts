/**
 * `node bench/mesh/warmup.ts`: how a system's write→evict latency moves with the time its processes have written.
 *
 * bench:mesh measures after a warm-up (2 s by default). At 1,000 writes/s that is shorter than V8 takes to compile
 * meshcache's write path with its optimizing tier: its functions reach TurboFan 6 to 15 s in (bench/mesh/tier-up.ts;
 * bench/README.md, "the path's compile tier"), so the measure falls largely before them; a service runs for hours.
 * This runs each system's processes for `--phases` back-to-back phases of `--seconds` (fresh processes for each
 * system, the systems alternating over `--rounds`) and prints each phase's p50 and its ratio to the floor's phase
 * of the same age: where each system's latency stops moving, and the ratio before and after.
 *
 *   node bench/mesh/warmup.ts [--systems libp2p-stream,meshcache] [--rate 1000] [--seconds 4] [--phases 10] [--rounds 3]
 *     [--prime <s at 20,000/s first>] [--node-args='--trace-opt']
 */
import os from 'node:os'
import { Cluster } from './harness.ts'
import { median } from '../core/util.ts'
import { ms, table } from './stats.ts'
import { systemExists } from './systems/load.ts'
import { numberOption, parseCli } from '../../test/helpers/cli.ts'

const FLOOR = 'libp2p-stream'

/**
 * The curve's table: for each system the median over rounds of each phase's p50 (ms), and for each system but the
 * floor the median of the rounds' ratios to the floor's same phase of the same round. `p50` maps a system to its
 * rounds, each a list of phases; the floor's entry is `FLOOR`.
 */
export function warmupTable (p50: ReadonlyMap<string, number[][]>, seconds: number): string {
  const floor = p50.get(FLOOR)
  if (floor === undefined) throw new TypeError(`warmupTable: no ${FLOOR} rows`)
  const phases = (floor[0] ?? []).length
  // A phase's age: the seconds of writing before its end (the collection pauses between phases not counted).
  const header = ['system', ...Array.from({ length: phases }, (_, i) => `${(i + 1) * seconds} s`)]
  const rows: string[][] = []
  for (const [system, runs] of p50) {
    rows.push([`${system} p50 ms`, ...header.slice(1).map((_, i) => ms(median(runs.map((r) => r[i] as number))))])
    if (system !== FLOOR) {
      rows.push([`${system} / floor`, ...header.slice(1).map((_, i) =>
        `${median(runs.map((r, k) => (r[i] as number) / ((floor[k] as number[])[i] as number))).toFixed(2)}x`)])
    }
  }
  return table(header, rows)
}

async function main (): Promise<void> {
  const USAGE = `usage: node bench/mesh/warmup.ts [--systems ${FLOOR},meshcache] [--rate 1000] [--seconds 4] [--phases 10] [--rounds 3] [--nodes 5] [--prime 0] [--node-args='…']`
  const values = parseCli(USAGE, {
    systems: { type: 'string', default: `${FLOOR},meshcache` },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '4' },
    phases: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    nodes: { type: 'string', default: '5' },
    'node-args': { type: 'string', default: '' },
    prime: { type: 'string', default: '0' },
  })
  const whole = (name: string, text: string, min: number): number => numberOption('bench/mesh/warmup', name, text, min)
  const systems = values.systems.split(',').filter(Boolean)
  if (systems[0] !== FLOOR) throw new TypeError(`bench/mesh/warmup: --systems must start with the floor, ${FLOOR}`)
  for (const s of systems) if (!systemExists(s)) throw new TypeError(`bench/mesh/warmup: no bench/mesh/systems/${s}.ts`)
  const rate = whole('rate', values.rate, 1)
  const seconds = whole('seconds', values.seconds, 1)
  const phases = whole('phases', values.phases, 1)
  const rounds = whole('rounds', values.rounds, 1)
  const nodes = whole('nodes', values.nodes, 2)
  // Seconds at 20,000 writes/s before the first phase (not counted): as many calls as 20 s at 1,000/s in one.
  const prime = numberOption('bench/mesh/warmup', 'prime', values.prime, 0, false)
  // As bench:mesh's: whitespace-separated Node options for every node process (V8's tiering flags, say, to test what the curve is).
  const nodeArgs = values['node-args'].split(/\s+/).filter(Boolean)

  process.stdout.write(`bench/mesh/warmup: ${nodes} processes, ${os.cpus().length} CPUs, Node ${process.version}; ` +
    `${rate} writes/s, ${phases} phases of ${seconds} s in the same processes; ${rounds} rounds, the systems alternating` +
    `${prime > 0 ? `; primed with ${prime} s at 20,000/s` : ''}${nodeArgs.length > 0 ? `; node ${nodeArgs.join(' ')}` : ''}\n`)
  const p50 = new Map<string, number[][]>(systems.map((s) => [s, []]))
  for (let round = 1; round <= rounds; round++) {
    for (const system of systems) {
      process.stdout.write(`  round ${round} ${system}: `)
      const cluster = await Cluster.start(system, nodes, 'fanout', nodeArgs)
      const row: number[] = []
      try {
        if (prime > 0) await cluster.phase(20_000, prime)
        for (let i = 0; i < phases; i++) {
          const result = await cluster.phase(rate, seconds)
          row.push(result.latency.p50)
          process.stdout.write(`${ms(result.latency.p50)} `)
        }
      } finally {
        await cluster.close()
      }
      process.stdout.write('\n')
      p50.get(system)?.push(row)
    }
  }
  process.stdout.write(`\nmedian over ${rounds} rounds of each phase (its ratio: the median of the rounds' ratios to the floor's same phase)\n`)
  process.stdout.write(warmupTable(p50, seconds) + '\n')
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
