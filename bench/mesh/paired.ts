/**
 * `npm run bench:paired`: a system against the floor (or any baseline) in short phases taken in turn from the same two
 * clusters, so that the host's drift cancels out of each pair's ratio.
 *
 * bench:mesh measures each system on fresh processes, one after the other, about a minute apart, and on this VM the
 * host's speed drifts over minutes: the floor's p50 at 1,000 writes/s moves by a quarter from one round to the next,
 * and with it every round's ratio (0.91–1.36× for one build in one hour, bench/README.md). Here both systems' clusters
 * stay up for the whole run: each is warmed, then the two take `--pairs` pairs of phases of `--seconds` each in turn
 * (the order alternating, the baseline first in one pair and last in the next, so a steady drift cancels too). Each
 * pair gives one ratio, from phases seconds apart rather than a minute. While one cluster writes the others idle,
 * their timers running (meshcache's membership, keepalives and sweeps: a few ms a second). `--stop-idle` stops the
 * idle clusters' processes instead (SIGSTOP, SIGCONT before its phase), but that is not neutral: the floor lost more
 * to it than meshcache (bench/README.md, 2026-12-05 evening: 1.06x against 1.19x, the cause not found).
 *
 * The first of `--systems` is the baseline: the floor, `libp2p-stream`, for issue 21's targets (p50 at most 1.2x at
 * 1,000 writes/s, p99 at most 3x at 20,000), or another build of meshcache to compare two (a scratch system loading a
 * copy of its lib/, as bench/README.md describes). More than one system after it (a bound beside meshcache, say) makes
 * each pair a set of phases, one per system, the order rotating from set to set so that each system takes each place
 * equally often; each system's ratio is then to the baseline's phase of the same set.
 *
 *   npm run bench:paired -- [--systems libp2p-stream,meshcache[,…]] [--rate 1000] [--quantile p50] [--warmup <60,000 writes>]
 *     [--seconds 4] [--pairs 12] [--nodes 5] [--target 1.2] [--stop-idle] [--node-args='…']
 */
import os from 'node:os'
import { Cluster, type PhaseResult } from './harness.ts'
import { ms, pairedSummary, table, type Pair } from './stats.ts'
import { systemExists } from './systems/load.ts'
import { numberOption, parseCli } from '../../test/helpers/cli.ts'

const FLOOR = 'libp2p-stream'
/** Writes each cluster makes before the pairs, unless `--warmup` says otherwise. */
const WARMUP_WRITES = 60_000

/**
 * The order of set `i`'s phases over `n` systems (indexes, the baseline 0): the list rotated by `i`, so that over any
 * `n` sets in a row each system takes each place once, and a steady drift cancels. With two systems, the baseline first
 * in even sets and last in odd ones.
 */
export function phaseOrder (n: number, i: number): number[] {
  if (!Number.isInteger(n) || n < 2 || !Number.isInteger(i) || i < 0) throw new RangeError(`phaseOrder: needs at least 2 systems and a set number >= 0, got ${n} and ${i}`)
  return Array.from({ length: n }, (_, k) => (k + n - (i % n)) % n)
}

/** Stops (or continues) every process of `cluster`. */
function signal (cluster: Cluster, sig: 'SIGSTOP' | 'SIGCONT'): void {
  for (const node of cluster.nodes) if (node.child.pid !== undefined && node.child.exitCode === null) process.kill(node.child.pid, sig)
}

async function main (): Promise<void> {
  const USAGE = `usage: npm run bench:paired -- [--systems ${FLOOR},meshcache[,…]] [--rate 1000] [--quantile p50|p99] [--warmup <s; 60,000 writes>] [--seconds 4] [--pairs 12] [--nodes 5] [--target 1.2] [--stop-idle] [--node-args='…']`
  const values = parseCli(USAGE, {
    systems: { type: 'string', default: `${FLOOR},meshcache` },
    rate: { type: 'string', default: '1000' },
    quantile: { type: 'string', default: 'p50' },
    warmup: { type: 'string' },
    seconds: { type: 'string', default: '4' },
    pairs: { type: 'string', default: '12' },
    nodes: { type: 'string', default: '5' },
    target: { type: 'string' },
    'stop-idle': { type: 'boolean', default: false },
    'node-args': { type: 'string', default: '' },
  })
  const number = (name: string, text: string, min: number, integer = true): number => numberOption('bench:paired', name, text, min, integer)
  const systems = values.systems.split(',').filter(Boolean)
  if (systems.length < 2 || new Set(systems).size !== systems.length) throw new TypeError(`bench:paired: --systems must name a baseline and at least one other system, each once, got ${values.systems}`)
  const base = systems[0] as string
  const others = systems.slice(1)
  for (const s of systems) if (!systemExists(s)) throw new TypeError(`bench:paired: no bench/mesh/systems/${s}.ts`)
  const quantile = values.quantile
  if (quantile !== 'p50' && quantile !== 'p99') throw new TypeError(`bench:paired: --quantile must be p50 or p99, got ${quantile}`)
  const rate = number('rate', values.rate, 1)
  // By default 60,000 writes (60 s at 1,000/s, 3 s at 20,000/s): V8 compiles a function called once a write with its
  // optimizing tier only after ~11,000 calls (tier-up.ts --trivial), and meshcache's ratio still falls until then.
  const warmup = number('warmup', values.warmup ?? String(Math.max(2, WARMUP_WRITES / rate)), 0, false)
  const seconds = number('seconds', values.seconds, 1, false)
  const pairs = number('pairs', values.pairs, 1)
  const nodes = number('nodes', values.nodes, 2)
  // Issue 21's targets against the floor: p50 at most 1.2x the floor's, p99 at most 3x. Against another baseline, 1x.
  const target = number('target', values.target ?? (base !== FLOOR ? '1' : quantile === 'p50' ? '1.2' : '3'), 0, false)
  const stopIdle = values['stop-idle']
  const nodeArgs = values['node-args'].split(/\s+/).filter(Boolean)
  /** What one round of phases is called: a pair with two systems, a set with more. */
  const unit = systems.length === 2 ? 'pair' : 'set'

  process.stdout.write(`bench:paired: ${others.join(', ')} against ${base}, ${nodes} processes each (1 writer → ${nodes - 1} receivers), ` +
    `${os.cpus().length} CPUs, Node ${process.version}; ${rate} writes/s, ${warmup} s warm-up each, then ${pairs} ${unit}s of ` +
    `${seconds} s phases in turn; the idle clusters ${stopIdle ? 'stopped (--stop-idle)' : 'running'}${nodeArgs.length > 0 ? `; node ${nodeArgs.join(' ')}` : ''}\n`)
  const clusters: Cluster[] = []
  try {
    for (const name of systems) {
      for (const other of clusters) if (stopIdle) signal(other, 'SIGSTOP')
      const cluster = await Cluster.start(name, nodes, 'fanout', nodeArgs)
      clusters.push(cluster)
      if (warmup > 0) await cluster.phase(rate, warmup)
      if (stopIdle) signal(cluster, 'SIGSTOP')
    }
    const measure = async (cluster: Cluster): Promise<PhaseResult> => {
      if (stopIdle) signal(cluster, 'SIGCONT')
      try {
        return await cluster.phase(rate, seconds)
      } finally {
        if (stopIdle) signal(cluster, 'SIGSTOP')
      }
    }
    /** Per system after the baseline, its pair with the baseline's phase of each set. */
    const results: Pair[][] = others.map(() => [])
    const rows: string[][] = []
    for (let i = 0; i < pairs; i++) {
      const order = phaseOrder(systems.length, i)
      const got: PhaseResult[] = []
      for (const k of order) got[k] = await measure(clusters[k] as Cluster)
      const figure = got.map((r) => r.latency[quantile])
      const baseFigure = figure[0] as number
      others.forEach((_, k) => { (results[k] as Pair[]).push({ base: baseFigure, system: figure[k + 1] as number }) })
      const lost = got.reduce((n, r) => n + r.lost, 0)
      rows.push([String(i + 1), `${systems[order[0] as number]} first`, ...figure.map(ms), ...figure.slice(1).map((f) => `${(f / baseFigure).toFixed(2)}x`), lost > 0 ? `${lost} lost` : ''])
      process.stdout.write(`  ${unit} ${i + 1}: ${systems.map((name, k) => `${name} ${ms(figure[k] as number)} ms`).join(', ')}\n`)
    }
    process.stdout.write(`\nwrite→receive ${quantile} in ms, pooled over the receivers, each ${unit}'s phases taken in turn\n\n`)
    const ratioHeads = others.length === 1 ? ['ratio'] : others.map((name) => `${name} / ${base}`)
    process.stdout.write(table([unit, 'order', ...systems, ...ratioHeads, ''], rows) + '\n\n')
    others.forEach((name, k) => {
      const summary = pairedSummary(results[k] as Pair[], target)
      process.stdout.write(`${name} ${quantile}/${base === FLOOR ? 'floor' : base} at ${rate.toLocaleString('en-US')}/s after ${warmup} s: median ${summary.median.toFixed(2)}x, ` +
        `mean ${summary.mean.toFixed(3)} ± ${summary.se.toFixed(3)} (s.e.), ${Math.min(...summary.ratios).toFixed(2)}–${Math.max(...summary.ratios).toFixed(2)}x; ` +
        `<= ${target.toFixed(2)}x in ${summary.within} of ${summary.ratios.length} ${unit}s\n`)
    })
  } finally {
    for (const cluster of clusters) signal(cluster, 'SIGCONT')
    await Promise.all(clusters.map(async (cluster) => { await cluster.close() }))
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
