/**
 * MESHCACHE_BENCH_STALLS=<dir>: every bench:mesh node process logs each
 * event-loop stall longer than 1 ms and each GC, with CLOCK_MONOTONIC
 * timestamps (the clock `now()` and the writer's send times use), and writes
 * them to `<dir>/stalls-<pid>.json` at 'close'. `node bench/mesh/stall-summary.ts
 * <dir>` then counts the stalls per process inside the measured phases, how
 * many a GC overlapped, and, when `--node-args='--cpu-prof --cpu-prof-dir=<dir>'`
 * wrote CPU profiles into the same directory, which functions ran during the
 * stalls. Bench-side only: nothing in lib/ knows of it (issue 21 §4).
 *
 * A stall is measured with a 1 ms interval timer: a tick that comes `gap` ms
 * after the previous one means the loop was busy (in one task, or in many
 * callbacks of one poll phase) or not scheduled for about `gap − 1` ms; the
 * thread's CPU time over the gap tells which. The timer costs every
 * process ~1,000 wake-ups a second, the same for every system in a run.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks'
import { writeFileSync } from 'node:fs'
import { now } from './systems/types.ts'

const dir = process.env.MESHCACHE_BENCH_STALLS
/** performance.now() + offset = now() (both CLOCK_MONOTONIC). */
const offset = now() - performance.now()

/**
 * [start, length, cpu] ms of each stall over 1 ms; `cpu` is what the main
 * thread ran meanwhile (`process.threadCpuUsage`). On a host with more
 * runnable threads than cores a stall is often the OS running someone else
 * (cpu ≈ 0); a busy stall (cpu > 1 ms) is this process's own work, and what
 * it costs in CPU does not depend on the neighbours.
 */
const stalls: Array<[number, number, number]> = []
/** [start, length, kind] ms of each GC (kind: 1 minor, 2 major, 4 incremental, 8 weak callbacks; perf_hooks' constants). */
const gcs: Array<[number, number, number]> = []
/** Writer: [start, end, rate] of each `run`. Receivers: [start, end] of each `collect`. */
const phases: Array<[number, number, number]> = []

let timer: NodeJS.Timeout | undefined
let observer: PerformanceObserver | undefined

export const stallsEnabled = dir !== undefined && dir !== ''

export function startStallLog(): void {
  if (!stallsEnabled) return
  const cpu = (): number => { const u = process.threadCpuUsage(); return (u.user + u.system) / 1000 }
  let last = now()
  let lastCpu = cpu()
  timer = setInterval(() => {
    const at = now()
    const used = cpu()
    const stalled = at - last - 1
    if (stalled > 1) stalls.push([last, stalled, used - lastCpu])
    last = at
    lastCpu = used
  }, 1)
  observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcs.push([entry.startTime + offset, entry.duration, ((entry as { detail?: { kind?: number } }).detail)?.kind ?? 0])
    }
  })
  observer.observe({ entryTypes: ['gc'] })
}

export function notePhase(start: number, end: number, rate = Number.NaN): void {
  if (stallsEnabled) phases.push([start, end, rate])
}

export function writeStallLog(role: string, index: number): void {
  if (!stallsEnabled) return
  clearInterval(timer)
  observer?.disconnect()
  writeFileSync(`${dir}/stalls-${process.pid}.json`, JSON.stringify({ pid: process.pid, role, index, stalls, gcs, phases }))
}
