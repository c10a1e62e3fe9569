/**
 * `npm run bench:scale`: meshcache at 10 to 100+ instances, several per
 * process, each with its own libp2p node and port, all on this machine.
 *
 * For each size, a partial mesh (`maxPeers`, broadcasts over gossipsub) and,
 * up to `--full-up-to`, the full mesh (every instance connected to every
 * other, direct streams) in the same run. Each: the time until every
 * instance lists every other as a member, then `--writes` writes from
 * instances in turn at `--rate` per second; per write, when its last
 * receiver had it (p50, p99), messages received per write by all instances
 * (gossipsub copies, duplicates included, plus direct frames) against D·n,
 * connections per instance, and heap per instance. With `--partition`, the
 * largest partial mesh is also split 50/50 (libp2p gater: connections cut,
 * dials refused), written on both sides, healed, and timed to convergence.
 *
 * With `--regions N`, the instances are N regions (contiguous blocks; labels
 * on one machine, no delay between them: the delay is bench:regions') and
 * each size also runs the partial mesh with region links (SPEC.md §11.4),
 * beside the same mesh with the regions as labels only: connections across
 * regions, and what crosses per write (gossipsub copies received from a far
 * neighbour, plus fast-lane copies sent over far links). `--one-copy` sets
 * crossRegionCopies 'one' there, and `--settle ms` waits that long after
 * membership formed before the writes (one copy begins once the far links
 * have been still for a few seconds).
 *
 * Writes a plot (propagation p99 and messages per write against n) as SVG
 * and, through headless Chromium, PNG: `--plot docs/bench-scale.png`.
 *
 * A shared 2-core machine: figures move with the load of whatever else runs.
 */
import { writeFileSync } from 'node:fs'
import { ScaleCluster, type InstanceStats, type WriteResult } from './cluster.ts'
import { percentile, table, ms, count } from '../mesh/stats.ts'
import { renderPlot, type Series } from './plot.ts'
import { numberOption, parseCli } from '../../test/helpers/cli.ts'

const GOSSIPSUB_D = 6

const USAGE = `usage: npm run bench:scale -- [--sizes 10,25,50,100] [--full-up-to 50] [--max-peers 8] [--per-process 10]
  [--writes 100] [--rate 20] [--partition] [--plot file.png] [--regions N] [--one-copy] [--settle ms]`
const values = parseCli(USAGE, {
  sizes: { type: 'string', default: '10,25,50,100' },
  'full-up-to': { type: 'string', default: '50' },
  'max-peers': { type: 'string', default: '8' },
  'per-process': { type: 'string', default: '10' },
  writes: { type: 'string', default: '100' },
  rate: { type: 'string', default: '20' },
  partition: { type: 'boolean', default: false },
  plot: { type: 'string', default: '' },
  regions: { type: 'string', default: '1' },
  // with --regions: region links carry one copy of a write a region pair (crossRegionCopies 'one')
  'one-copy': { type: 'boolean', default: false },
  // a wait after membership formed, before the writes (one copy begins once the far links have been still a while)
  settle: { type: 'string', default: '0' },
})
const sizes = String(values.sizes).split(',').map(Number)
const fullUpTo = Number(values['full-up-to'])
const maxPeers = Number(values['max-peers'])
const perProcess = Number(values['per-process'])
const writeCount = Number(values.writes)
const rate = Number(values.rate)
const regions = Number(values.regions)
const settleMs = numberOption('bench:scale', 'settle', values.settle, 0)

type Mode = 'partial' | 'region links' | 'full'
interface Row { n: number, mode: Mode, farConns?: number, acrossPerWrite?: number, startMs: number, formedMs: number, phaseMs: number, p50: number, p99: number, reached: number, perWrite: number, updatesPerWrite: number, awarenessPerWrite: number, directPerWrite: number, lanePerWrite: number, deliveredPerWrite: number[], connMax: number, connMean: number, heapMb: number, partitionMs?: number, firstCrossMs?: number, tail?: string }

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
/**
 * Frames that came on direct streams (framesReceived counts relayed frames' first copies too, which `gossip` has),
 * plus the fast lane's copies dropped as already delivered (lib/net/libp2p/fast-lane.ts): received all the same.
 */
const direct = (s: InstanceStats): number => s.transport.framesReceived - s.transport.relayedReceived + (s.transport.fastLaneDuplicates ?? 0)
/** Messages received: every gossipsub copy (duplicates included) plus every direct frame. */
const messages = (stats: InstanceStats[]): number => stats.reduce((n, s) => n + s.gossip + direct(s), 0)
const sum = (stats: InstanceStats[], f: (s: InstanceStats) => number): number => stats.reduce((n, s) => n + f(s), 0)
/** Message types by name, for the breakdown line (index = MessageType). */
const TYPE_NAMES = ['updates', 'step1', 'step2', 'awareness', 'ackReq', 'ack', 'digest', 'other']

async function writePhase (cluster: ScaleCluster, prefix: string, count: number, from: (i: number) => number): Promise<WriteResult[]> {
  const writes: Array<{ key: string, sentAt: number }> = []
  const start = performance.now()
  for (let i = 0; i < count; i++) {
    const key = `${prefix}${i}`
    writes.push({ key, sentAt: await cluster.write(from(i), key) })
    await sleep(Math.max(0, start + (i + 1) * 1000 / rate - performance.now()))
  }
  await cluster.awaitKeys(writes.map((w) => w.key), 120_000).catch(() => {}) // a write that never arrives shows in `reached`
  return await cluster.results(writes)
}

/**
 * Connections between instances of different regions (each pair once), and what crossed regions per write in the
 * phase: gossipsub copies received from a far neighbour, plus fast-lane copies over far links (counted by the
 * sender with region links; without them the lane's only copies are the writer's, one to each neighbour, far ones
 * included, counted from the writers' far neighbours at the end of the phase).
 */
function across (cluster: ScaleCluster, initial: InstanceStats[], stats: InstanceStats[], writers: number[]): { farConns: number, acrossPerWrite: number } {
  const regionOfPeer = new Map(cluster.peerIds.map((id, i) => [id, cluster.regions[i] as string]))
  const far = (i: number, peer: string): boolean => regionOfPeer.get(peer) !== undefined && regionOfPeer.get(peer) !== cluster.regions[i]
  let farConns = 0
  let copies = 0
  for (const [i, s] of stats.entries()) {
    farConns += s.connected.filter((p) => far(i, p)).length
    const before = initial[i]?.gossipFrom ?? {}
    for (const [peer, c] of Object.entries(s.gossipFrom)) if (far(i, peer)) copies += c - (before[peer] ?? 0)
    copies += (s.transport.fastLaneFar ?? 0) - (initial[i]?.transport.fastLaneFar ?? 0)
  }
  if (stats.every((s, i) => (s.transport.fastLaneFar ?? 0) === (initial[i]?.transport.fastLaneFar ?? 0))) {
    for (const w of writers) copies += (stats[w]?.connected ?? []).filter((p) => far(w, p)).length
  }
  return { farConns: farConns / 2, acrossPerWrite: copies / writers.length }
}

/** A write later than this at its last receiver counts as the tail's. */
const LATE_MS = 500

/**
 * Where the tail is (with regions): receivers that got a write by repair rather than by its frame, in the writer's
 * region and in the others, per write; and of the writes later than LATE_MS at their last receiver, how late the
 * writer's region and the others were (the latest host of each).
 */
function tail (cluster: ScaleCluster, results: WriteResult[], writer: (i: number) => number): string {
  let nearRepaired = 0
  let farRepaired = 0
  const late: string[] = []
  const nearLasts: number[] = []
  const farLasts: number[] = []
  for (const [i, r] of results.entries()) {
    const home = cluster.regions[writer(i)]
    let nearLast = Number.NaN
    let farLast = Number.NaN
    for (const [h, [last, repaired]] of r.byHost.entries()) {
      const near = cluster.regions[cluster.hosts[h]?.first ?? 0] === home
      if (near) { nearRepaired += repaired; if (!(last <= nearLast)) nearLast = last } else { farRepaired += repaired; if (!(last <= farLast)) farLast = last }
    }
    nearLasts.push(nearLast)
    farLasts.push(farLast)
    if (r.lastMs > LATE_MS) late.push(`${ms(nearLast)}/${ms(farLast)}${r.repaired > 0 ? ` (${r.repaired} by repair)` : ''}`)
  }
  const sorted = (xs: number[]): Float64Array => Float64Array.from(xs.filter((x) => !Number.isNaN(x))).sort()
  const [near, far] = [sorted(nearLasts), sorted(farLasts)]
  return `last receiver in the writer's region p50 ${ms(percentile(near, 0.5))} / p99 ${ms(percentile(near, 0.99))} ms, in the other p50 ${ms(percentile(far, 0.5))} / p99 ${ms(percentile(far, 0.99))} ms; receivers by repair a write: ${(nearRepaired / results.length).toFixed(2)} in the writer's region, ${(farRepaired / results.length).toFixed(2)} in the other; ${late.length} writes over ${LATE_MS} ms at their last receiver${late.length > 0 ? ` (writer's region / other, ms: ${late.join(', ')})` : ''}`
}

/**
 * Connections between a writer and the instances (hops over the links at the end of the phase, not gossipsub's mesh):
 * the mean over the phase's writers of the farthest instance of the writer's region and of the other.
 */
function distances (cluster: ScaleCluster, stats: InstanceStats[], writer: (i: number) => number): string {
  const index = new Map(cluster.peerIds.map((id, i) => [id, i]))
  const adjacent = stats.map((s) => s.connected.map((p) => index.get(p)).filter((i): i is number => i !== undefined))
  let near = 0
  let far = 0
  const writers = new Set(Array.from({ length: writeCount }, (_, i) => writer(i)))
  for (const w of writers) {
    const hops = new Array<number>(stats.length).fill(Infinity)
    hops[w] = 0
    for (let queue = [w]; queue.length > 0;) {
      const next: number[] = []
      for (const i of queue) for (const j of adjacent[i] ?? []) if (hops[j] === Infinity) { hops[j] = (hops[i] as number) + 1; next.push(j) }
      queue = next
    }
    near += Math.max(...hops.filter((_, i) => cluster.regions[i] === cluster.regions[w]))
    far += Math.max(...hops.filter((_, i) => cluster.regions[i] !== cluster.regions[w]))
  }
  return `links from a writer to its region's farthest instance ${(near / writers.size).toFixed(1)}, to the other's ${(far / writers.size).toFixed(1)}`
}

async function measure (n: number, mode: Mode, partition: boolean): Promise<Row> {
  const started = performance.now()
  const cluster = await ScaleCluster.start({ instances: n, perProcess, ...(mode !== 'full' ? { maxPeers } : {}), regions, regionLinks: mode === 'region links', ...(values['one-copy'] ? { crossRegionCopies: 'one' as const } : {}) })
  // Every process has started all its instances (libp2p nodes listening, caches joined): what is left of
  // `formedMs` after this is membership spreading.
  const startMs = performance.now() - started
  try {
    let formedMs = Number.NaN
    try {
      await cluster.awaitMembership(180_000)
      formedMs = performance.now() - started
    } catch { /* not formed within 3 min: measured anyway, `reached` shows it */ }
    await sleep(settleMs)
    const initial = await cluster.stats()
    const before = messages(initial)
    const phaseStart = performance.now()
    const writer = (i: number): number => (i * 7919) % n
    const results = await writePhase(cluster, 'w', writeCount, writer)
    const stats = await cluster.stats()
    // Messages that come with time (renewals, digests) count per write in proportion to this.
    const phaseMs = performance.now() - phaseStart
    const last = Float64Array.from(results.filter((r) => r.receivers === n).map((r) => r.lastMs)).sort()
    const conns = stats.map((s) => s.transport.connections)
    const row: Row = {
      n, mode, startMs, formedMs, phaseMs,
      p50: percentile(last, 0.5), p99: percentile(last, 0.99),
      reached: results.filter((r) => r.receivers === n).length / results.length,
      perWrite: (messages(stats) - before) / writeCount,
      updatesPerWrite: mode !== 'full' ? (sum(stats, (s) => s.gossipUpdates) - sum(initial, (s) => s.gossipUpdates)) / writeCount : Number.NaN,
      awarenessPerWrite: mode !== 'full' ? (sum(stats, (s) => s.gossipByType[3] ?? 0) - sum(initial, (s) => s.gossipByType[3] ?? 0)) / writeCount : Number.NaN,
      directPerWrite: (sum(stats, direct) - sum(initial, direct)) / writeCount,
      // the fast lane's copies (lib/net/libp2p/fast-lane.ts), among the direct frames
      lanePerWrite: (sum(stats, (s) => s.transport.fastLaneSent ?? 0) - sum(initial, (s) => s.transport.fastLaneSent ?? 0)) / writeCount,
      deliveredPerWrite: TYPE_NAMES.map((_, t) => (sum(stats, (s) => s.deliveredByType[t] ?? 0) - sum(initial, (s) => s.deliveredByType[t] ?? 0)) / writeCount),
      connMax: Math.max(...conns), connMean: conns.reduce((a, b) => a + b, 0) / conns.length,
      heapMb: stats.reduce((a, s) => a + s.heapPerInstance, 0) / stats.length / 1e6,
      ...(regions > 1 ? across(cluster, initial, stats, Array.from({ length: writeCount }, (_, i) => writer(i))) : {}),
      ...(regions > 1 ? { tail: `${tail(cluster, results, writer)}; ${distances(cluster, stats, writer)}` } : {}),
    }
    if (partition) {
      // Split on a host boundary near the middle.
      const split = Math.round(cluster.hosts.length / 2) * perProcess
      await cluster.partition(split)
      await writePhase(cluster, 'left', 10, (i) => i % split)
      await writePhase(cluster, 'right', 10, (i) => split + (i % (n - split)))
      const healAt = performance.now()
      const healedAt = Number(process.hrtime.bigint()) / 1e6 // the hosts' clock (CLOCK_MONOTONIC, shared by all processes)
      await cluster.heal()
      const left = Array.from({ length: 10 }, (_, i) => `left${i}`)
      const right = Array.from({ length: 10 }, (_, i) => `right${i}`)
      try {
        await cluster.awaitKeys([...left, ...right], 180_000)
        row.partitionMs = performance.now() - healAt
        // What dominates: the first crossing (a link across, then its repair) or the spreading on each side after it.
        const crossed = [
          ...await cluster.firstArrivals(left, cluster.hosts.filter((h) => h.first >= split)),
          ...await cluster.firstArrivals(right, cluster.hosts.filter((h) => h.first < split)),
        ]
        row.firstCrossMs = Math.min(...crossed) - healedAt
      } catch { row.partitionMs = Number.NaN }
    }
    return row
  } finally {
    await cluster.close()
  }
}

const rows: Row[] = []
process.stdout.write(`bench:scale: sizes ${sizes.join(', ')}; partial mesh maxPeers ${maxPeers} (gossipsub D=${GOSSIPSUB_D}); full mesh up to ${fullUpTo}; ${perProcess} instances a process; ${writeCount} writes at ${rate}/s${regions > 1 ? `; ${regions} regions (labels; and the partial mesh with region links${values['one-copy'] ? ', one copy a region pair' : ''})` : ''}${settleMs > 0 ? `; writes ${settleMs} ms after membership formed` : ''}\n`)
const modes: Mode[] = regions > 1 ? ['partial', 'region links', 'full'] : ['partial', 'full']
for (const n of sizes) {
  for (const mode of modes) {
    if (mode === 'full' && n > fullUpTo) continue
    const row = await measure(n, mode, values.partition === true && mode === 'partial' && n === Math.max(...sizes))
    rows.push(row)
    process.stdout.write(`  n=${n} ${mode}: processes up ${ms(row.startMs)} ms, formed ${ms(row.formedMs)} ms, last receiver p50 ${ms(row.p50)} / p99 ${ms(row.p99)} ms, reached all ${(row.reached * 100).toFixed(0)}%, ${count(row.perWrite)} messages/write (of them ${count(row.updatesPerWrite)} gossipsub copies of UPDATES; D·n = ${GOSSIPSUB_D * n}), connections max ${row.connMax}; the write phase (writes until all arrived, and the counts) took ${ms(row.phaseMs)} ms (${count(row.directPerWrite * writeCount / (row.phaseMs / 1000))} direct frames/s over the mesh); per write: ${count(row.awarenessPerWrite)} gossipsub copies of awareness, ${count(row.directPerWrite)} direct frames (of them ${count(row.lanePerWrite)} fast-lane copies); frames handed to the cache by type (direct, plus each relayed frame's first copy): ${TYPE_NAMES.map((name, t) => `${name} ${(row.deliveredPerWrite[t] ?? 0).toFixed(1)}`).filter((_, t) => (row.deliveredPerWrite[t] ?? 0) > 0).join(', ')}${row.farConns !== undefined ? `; ${row.farConns} connections across regions, ${count(row.acrossPerWrite ?? Number.NaN)} copies across regions per write` : ''}${row.tail !== undefined ? `; ${row.tail}` : ''}${row.partitionMs !== undefined ? `, 50/50 partition healed in ${ms(row.partitionMs)} ms (the first write crossed after ${ms(row.firstCrossMs)} ms)` : ''}\n`)
  }
}

process.stdout.write('\n' + table(
  ['n', 'mesh', 'processes up (ms)', 'membership formed (ms)', 'last receiver p50', 'p99', 'reached all', 'msgs/write', 'UPDATES copies/write', 'awareness copies/write', 'direct/write', 'D·n', 'conns max', 'conns mean', 'heap/instance MB', ...(regions > 1 ? ['conns across', 'across/write'] : [])],
  rows.map((r) => [String(r.n), r.mode, ms(r.startMs), ms(r.formedMs), ms(r.p50), ms(r.p99), `${(r.reached * 100).toFixed(0)}%`, count(r.perWrite), count(r.updatesPerWrite), count(r.awarenessPerWrite), count(r.directPerWrite), String(GOSSIPSUB_D * r.n), String(r.connMax), r.connMean.toFixed(1), r.heapMb.toFixed(1), ...(regions > 1 ? [String(r.farConns ?? '-'), count(r.acrossPerWrite ?? Number.NaN)] : [])]),
) + '\n')
const healed = rows.find((r) => r.partitionMs !== undefined)
if (healed) process.stdout.write(`50/50 partition of ${healed.n} (partial mesh): converged ${ms(healed.partitionMs)} ms after the heal; the first write reached the other side after ${ms(healed.firstCrossMs)} ms\n`)

if (values.plot) {
  const series = (mode: 'partial' | 'full', y: (r: Row) => number): Series => ({ name: mode === 'partial' ? `partial mesh (maxPeers ${maxPeers})` : 'full mesh', points: rows.filter((r) => r.mode === mode).map((r) => [r.n, y(r)]) })
  const svg = renderPlot([
    { title: 'last receiver p99 (ms)', series: [series('partial', (r) => r.p99), series('full', (r) => r.p99)] },
    {
      title: 'messages received per write (all kinds)',
      series: [
        series('partial', (r) => r.perWrite), series('full', (r) => r.perWrite),
        { name: 'D·n', points: rows.filter((r) => r.mode === 'partial').map((r) => [r.n, GOSSIPSUB_D * r.n]) },
        // what grows with the writes; the rest comes with time (digests, anti-entropy), and a loaded machine stretches the phase
        { name: 'partial mesh: the writes\' own copies (gossipsub + fast lane)', points: rows.filter((r) => r.mode === 'partial').map((r) => [r.n, r.updatesPerWrite + r.lanePerWrite]) },
      ],
    },
  ], `bench:scale on a shared 2-core machine, ${new Date().toISOString().slice(0, 10)}`)
  const path = String(values.plot)
  // The SVG is the PNG's source, written beside it; only the PNG is committed (.gitignore).
  writeFileSync(path.replace(/\.png$/, '.svg'), svg)
  if (path.endsWith('.png')) {
    const { chromium } = await import('playwright-core')
    // A system Chromium (never a downloaded one); CHROMIUM names another binary.
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium' })
    try {
      const page = await browser.newPage({ viewport: { width: 860, height: 350 } })
      await page.setContent(`<body style="margin:0">${svg}</body>`)
      await page.screenshot({ path })
    } finally {
      await browser.close()
    }
  }
  process.stdout.write(`plot: ${path}\n`)
}
