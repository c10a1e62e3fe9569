/**
 * Sums the stall logs that MESHCACHE_BENCH_STALLS=<dir> made bench:mesh's node
 * processes write (bench/mesh/stalls.ts): per process and measured phase, the
 * event-loop stalls over 1 ms (count, total, longest, a histogram), how many
 * of them a GC overlapped, the GC pauses by kind, and the busy stalls (the
 * main thread ran over 1 ms of CPU in them, so not the host's other load:
 * the proxy that moves least with the neighbours). With CPU profiles of the
 * same run in the same directory (`--node-args='--cpu-prof --cpu-prof-dir=<dir>'`),
 * it also names the functions the profiler found running during the stalls
 * (self time, and the innermost lib/ frame above it).
 *
 *   MESHCACHE_BENCH_STALLS=.bench-out/stalls npm run bench:mesh -- --systems libp2p-stream,meshcache \
 *     --rate 20000 --seconds 10 --saturate 0 [--node-args='--cpu-prof --cpu-prof-dir=.bench-out/stalls']
 *   node bench/mesh/stall-summary.ts .bench-out/stalls [--top 12]
 *
 * A directory holds one run's files: a window is a writer's run phase (in
 * order: warm-up, measured, per rate) up to the end of the receivers' collection.
 * The counts and lengths of stalls move with the host's load less than
 * latency percentiles do, but they still move: compare systems of one run.
 */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'

interface Log { pid: number, role: string, index: number, stalls: Array<[number, number, number]>, gcs: Array<[number, number, number]>, phases: Array<[number, number, number]> }
interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame, children?: number[] }
interface Profile { nodes: ProfileNode[], startTime: number, samples: number[], timeDeltas: number[] }

const dir = process.argv[2]
if (dir === undefined) {
  process.stderr.write('usage: node bench/mesh/stall-summary.ts <dir> [--top N]\n')
  process.exit(2)
}
const topIndex = process.argv.indexOf('--top')
const top = topIndex > 0 ? Number(process.argv[topIndex + 1]) : 12
const files = readdirSync(dir)
const logs: Log[] = files.filter((f) => /^stalls-\d+\.json$/.test(f))
  .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Log)
  .sort((a, b) => a.pid - b.pid)

/** Systems run one after another: group each writer with the receivers whose pids follow it. */
const groups: Log[][] = []
for (const log of logs) {
  if (log.role === 'writer') groups.push([log])
}
for (const log of logs) {
  if (log.role === 'writer') continue
  // A system's processes are forked together, the writer first (lowest pid).
  const owner = groups.filter((g) => (g[0] as Log).pid < log.pid).at(-1)
  owner?.push(log)
}

const GC_KIND: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' }
const f1 = (n: number): string => n.toFixed(1)

for (const group of groups) {
  const writer = group[0] as Log
  process.stdout.write(`\n== writer pid ${writer.pid} and ${group.length - 1} receivers\n`)
  const runs = writer.phases
  runs.forEach(([start, end, rate], i) => {
    const tail = Math.max(end, ...group.slice(1).map((r) => r.phases[i]?.[1] ?? end))
    const warm = runs.slice(0, i).some((r) => r[2] === rate) ? 'measured' : 'warm-up/first'
    process.stdout.write(`\n  run ${i} (${rate}/s, ${warm}) ${f1((tail - start) / 1000)} s\n`)
    process.stdout.write('  process   pid      stalls>1ms  total ms  max ms  1-2 2-5 5-10 10-50 50+  with GC  GC ms in stalls  minor n/ms  major n/ms  incr n/ms  busy>1ms  busy cpu ms  max cpu ms\n')
    for (const log of group) {
      const inside = log.stalls.filter(([s]) => s >= start && s < tail)
      const gcsIn = log.gcs.filter(([s]) => s >= start && s < tail)
      const buckets = [0, 0, 0, 0, 0]
      let withGc = 0
      let gcInStalls = 0
      for (const [s, len] of inside) {
        const b = len < 2 ? 0 : len < 5 ? 1 : len < 10 ? 2 : len < 50 ? 3 : 4
        buckets[b] = (buckets[b] as number) + 1
        const overlapping = gcsIn.filter(([g, d]) => g < s + len + 1 && g + d > s - 1)
        if (overlapping.length > 0) withGc++
        for (const [, d] of overlapping) gcInStalls += d
      }
      const byKind = (kind: number): string => {
        const of = gcsIn.filter(([, , k]) => k === kind)
        return `${of.length}/${of.reduce((sum, [, d]) => sum + d, 0).toFixed(0)}`
      }
      const total = inside.reduce((sum, [, len]) => sum + len, 0)
      const max = inside.reduce((m, [, len]) => Math.max(m, len), 0)
      const busy = inside.filter(([, , cpu]) => cpu > 1)
      const busyCpu = busy.reduce((sum, [, , cpu]) => sum + cpu, 0)
      const maxCpu = busy.reduce((m, [, , cpu]) => Math.max(m, cpu), 0)
      process.stdout.write(`  ${log.role.padEnd(8)}  ${String(log.pid).padEnd(7)}  ${String(inside.length).padStart(10)}  ${f1(total).padStart(8)}  ${f1(max).padStart(6)}  ${buckets.map((b, j) => String(b).padStart([3, 3, 4, 5, 3][j] as number)).join(' ')}  ${String(withGc).padStart(7)}  ${f1(gcInStalls).padStart(15)}  ${byKind(1).padStart(10)}  ${byKind(2).padStart(10)}  ${byKind(4).padStart(9)}  ${String(busy.length).padStart(8)}  ${f1(busyCpu).padStart(11)}  ${f1(maxCpu).padStart(10)}\n`)
    }
    const last = runs.length - 1
    if (i === last || runs[i + 1]?.[2] !== rate) attribute(group, start, tail)
  })
}

/** Which functions the CPU profiles saw running during the busy stalls of [start, end), summed over the group's processes of each role. */
function attribute(group: Log[], start: number, end: number): void {
  for (const role of ['receiver', 'writer']) {
    const self = new Map<string, number>()
    const lib = new Map<string, number>()
    let total = 0
    for (const log of group.filter((l) => l.role === role)) {
      const file = files.find((f) => f.endsWith('.cpuprofile') && f.split('.')[3] === String(log.pid))
      if (file === undefined) continue
      const profile = JSON.parse(readFileSync(path.join(dir as string, file), 'utf8')) as Profile
      const byId = new Map(profile.nodes.map((n) => [n.id, n]))
      const parent = new Map<number, number>()
      for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
      const windows = log.stalls.filter(([s, , cpu]) => s >= start && s < end && cpu > 1).sort((a, b) => a[0] - b[0])
      let t = profile.startTime / 1000
      let w = 0
      for (let k = 0; k < profile.samples.length; k++) {
        const dt = (profile.timeDeltas[k] ?? 0) / 1000
        t += dt
        while (w < windows.length && (windows[w] as [number, number, number])[0] + (windows[w] as [number, number, number])[1] < t) w++
        const window = windows[w]
        if (window === undefined) break
        if (t < window[0]) continue
        const id = profile.samples[k] as number
        const node = byId.get(id) as ProfileNode
        const name = label(node.callFrame)
        self.set(name, (self.get(name) ?? 0) + dt)
        let at: number | undefined = id
        let libName = '(no lib/ frame)'
        while (at !== undefined) {
          const frame = (byId.get(at) as ProfileNode).callFrame
          if (frame.url.includes('/lib/') && !frame.url.includes('node_modules')) { libName = label(frame); break }
          at = parent.get(at)
        }
        lib.set(libName, (lib.get(libName) ?? 0) + dt)
        total += dt
      }
    }
    if (total === 0) continue
    const show = (title: string, m: Map<string, number>): void => {
      process.stdout.write(`    ${title}\n`)
      for (const [name, ms] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
        process.stdout.write(`      ${f1(ms).padStart(8)} ms  ${(100 * ms / total).toFixed(1).padStart(5)}%  ${name}\n`)
      }
    }
    process.stdout.write(`\n  ${role}s: CPU profile samples inside busy stalls, ${f1(total)} ms\n`)
    show('self time', self)
    show('innermost lib/ frame', lib)
  }
}

function label(frame: CallFrame): string {
  const file = frame.url === '' ? '' : ` ${frame.url.replace(/^.*\/(lib|node_modules|bench)\//, '$1/')}:${frame.lineNumber + 1}`
  return `${frame.functionName || '(anonymous)'}${file}`
}
