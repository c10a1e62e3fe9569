/**
 * A seeded, randomised convergence run over a partial mesh of real processes
 * (issue 21 §1: "prove convergence without a full mesh … over real
 * processes"), checked against the source of truth (fuzz-expect.ts).
 *
 * 12 instances (by default) in 3–4 host processes (fuzz-host.ts), each with
 * its own libp2p node over TCP on loopback, `maxPeers` 3 or 4: no instance
 * connects to all the others, so writes and repairs cross several hops.
 * One seed drives every choice (odd seeds run replicate mode, even ones
 * invalidate): the layout, and a sequence of steps:
 * - writes (set / delete / invalidate, now and then a clear) of a small key
 *   space from random instances, some at once from several processes;
 * - faults through the transport's fault switch (libp2p connection gater):
 *   random partitions of the instances, a whole process cut off, one link
 *   aborted (redialled), and heals;
 * - crashes: a process killed with SIGKILL and restarted empty (new
 *   identities, new origins), by truth.ts's rule: only a process that wrote
 *   nothing since the last settle, one crash between settles; otherwise the
 *   mesh is settled first (a process that dies holding the only copy of a
 *   write loses it: not what this checks);
 * - pauses of 0–300 ms of real time (see `pause`).
 * Then everything heals and each host waits, woken by its caches' events,
 * until every instance holds the truth (a bounded wait that reports every
 * difference when it runs out), then until the namespace's links (greeted
 * peers, not bare connections) make one mesh again.
 *
 * A seed replays the same steps, not the same timing: the processes, sockets
 * and timers are real. A failure prints the seed, the replay command and the
 * last steps.
 */
import type { ChildProcess } from 'node:child_process'
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import * as prng from 'lib0/prng'
import { ask } from './mesh-process.ts'
import { WriteLog, type Expected, type Write } from './fuzz-expect.ts'
import { CLEAR_KEY } from '../../lib/core/clear.ts'

const HOST = new URL('./fuzz-host.ts', import.meta.url)
const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7']
/** Bounded waits: failure guards, never waits in themselves (each returns as soon as its condition holds). */
const CONNECT_GUARD_MS = 60_000
const SETTLE_GUARD_MS = 60_000
/** A settle still running after this is described in the trace (what differs, the graph). */
const SLOW_SETTLE_MS = 5_000
const TRACE_LINES = 80

export interface PartialRunOptions {
  instances?: number
  /**
   * Regions the instances are split into, in contiguous blocks by index (0: none). With two or more, every
   * instance has a `region` and `maxPeers`, so region links are on (SPEC.md §11.4): links prefer their region,
   * a few holders keep the far links, and those that hear of enough smaller holders stand down.
   */
  regions?: number
  /**
   * Every instance linked to every other (`maxPeers` one short of the instances, so never past it): the full mesh,
   * where a broadcast goes straight to each link and lone writes travel as LONE (SPEC §11). The seed's other choices
   * are the same as without it. Not with `regions`.
   */
  full?: boolean
  /** Steps of the random phase (default: 25–50, chosen by the seed). */
  steps?: number
  /** Called with each step as it runs (the long script's --verbose). */
  onStep?: (line: string) => void
}

export interface PartialRunSummary {
  seed: number
  mode: 'invalidate' | 'replicate'
  instances: number
  hosts: number
  maxPeers: number
  regions: number
  steps: number
  /** Writes made, clears included. */
  writes: number
  clears: number
  faults: { partitions: number, isolations: number, cuts: number, heals: number, crashes: number }
  /** ms from each settle's heal to every instance holding the truth (the last is the final one). */
  settleMs: number[]
  /** For each settle, the connected components of the instances' links just after the heal (1: one mesh). */
  settleComponents: number[]
  /** Open connections per instance once every one had maxPeers neighbours, and after the final settle. */
  connections: number[]
  connectionsAtEnd: number[]
}

/**
 * The seed through murmur3's finaliser: lib0's generator seeded with small
 * consecutive integers gives nearly the same first draws (seeds 1-7 all drew
 * the same layout).
 */
function mix (seed: number): number {
  let h = seed >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

export class ConvergenceFailure extends Error {}

interface Slot { addr: string, peerId: string, origin: string }
interface Host { child: ChildProcess, first: number, count: number, dirty: boolean }

class Run {
  readonly gen: prng.PRNG
  readonly seed: number
  readonly mode: 'invalidate' | 'replicate'
  readonly maxPeers: number
  readonly perProcess: number
  readonly instances: number
  readonly regions: number
  readonly psk = randomBytes(32).toString('hex')
  readonly hosts: Host[] = []
  /** Every process started, so a failed start leaves none behind. */
  readonly children = new Set<ChildProcess>()
  readonly slots: Slot[] = []
  readonly log = new WriteLog()
  readonly trace: string[] = []
  readonly summary: PartialRunSummary
  readonly onStep: ((line: string) => void) | undefined
  step = 0
  counter = 0
  crashedSinceSettle = false

  constructor (seed: number, o: PartialRunOptions) {
    this.seed = seed
    this.gen = prng.create(mix(seed))
    this.onStep = o.onStep
    // By parity, so any two consecutive seeds (npm test's few) cover both modes.
    this.mode = seed % 2 === 1 ? 'replicate' : 'invalidate'
    this.instances = o.instances ?? 12
    this.regions = o.regions ?? 0
    this.perProcess = prng.int32(this.gen, 3, 4)
    this.maxPeers = prng.int32(this.gen, 3, 4)
    if (o.full === true) this.maxPeers = this.instances - 1 // drawn all the same: the seed's later choices stay
    this.summary = {
      seed, mode: this.mode, instances: this.instances, hosts: Math.ceil(this.instances / this.perProcess), maxPeers: this.maxPeers, regions: this.regions, steps: o.steps ?? prng.int32(this.gen, 25, 50), writes: 0, clears: 0,
      faults: { partitions: 0, isolations: 0, cuts: 0, heals: 0, crashes: 0 }, settleMs: [], settleComponents: [], connections: [], connectionsAtEnd: [],
    }
  }

  note (line: string): void {
    const text = `#${this.step} ${line}`
    this.trace.push(text)
    if (this.trace.length > TRACE_LINES) this.trace.shift()
    this.onStep?.(text)
  }

  fail (message: string): never {
    throw new ConvergenceFailure(`seed ${this.seed} (${this.mode}, ${this.instances} instances in ${this.hosts.length} processes, maxPeers ${this.maxPeers}${this.regions > 0 ? `, ${this.regions} regions` : ''}): ${message}\n  last steps:\n    ${this.trace.join('\n    ')}`)
  }

  /** Instance `index`'s region: contiguous blocks of the instances, '' without regions. */
  regionOf (index: number): string {
    return this.regions > 0 ? `r${Math.floor(index * this.regions / this.instances)}` : ''
  }

  // ---- processes ----

  async startHost (first: number, count: number, bootstrap: string[]): Promise<Host> {
    const regions = Array.from({ length: count }, (_, i) => this.regionOf(first + i))
    const child = fork(HOST, [JSON.stringify({ first, instances: count, bootstrap, psk: this.psk, maxPeers: this.maxPeers, mode: this.mode, regions })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.children.add(child)
    const exited = once(child, 'exit').then(([code]) => { throw new Error(`fuzz host exited early (${String(code)})`) })
    exited.catch(() => {})
    await Promise.race([once(child, 'message'), exited])
    const host: Host = { child, first, count, dirty: false }
    const slots = (await ask(child, { op: 'addrs' })).value as Slot[]
    for (const [j, slot] of slots.entries()) this.slots[first + j] = slot
    return host
  }

  async start (): Promise<void> {
    const t0 = performance.now()
    const firstCount = Math.min(this.perProcess, this.instances)
    this.hosts.push(await this.startHost(0, firstCount, []))
    const bootstrap = this.slots.slice(0, 3).map((s) => s.addr)
    const starts: Array<Promise<Host>> = []
    for (let at = firstCount; at < this.instances; at += this.perProcess) starts.push(this.startHost(at, Math.min(this.perProcess, this.instances - at), bootstrap))
    this.hosts.push(...await Promise.all(starts))
    // Every instance with maxPeers neighbours, not the whole membership (10-12 s more at 12 instances here):
    // the first writes then race membership forming, which is part of what runs.
    // With regions, an instance that holds no far link keeps links in its region only (SPEC §11.4): in a region of
    // maxPeers instances or fewer it has all the others, one short of maxPeers.
    const sizes = new Map<string, number>()
    for (let i = 0; i < this.instances; i++) sizes.set(this.regionOf(i), (sizes.get(this.regionOf(i)) ?? 0) + 1)
    const need = this.regions > 0 ? Math.min(this.maxPeers, Math.min(...sizes.values()) - 1) : this.maxPeers
    const connected = await Promise.all(this.hosts.map((h) => ask(h.child, { op: 'await-connected', count: need, guardMs: CONNECT_GUARD_MS }, CONNECT_GUARD_MS + 10_000)))
    if (connected.some((r) => r.value !== true)) {
      // Which instances, with their regions, namespace peers and open connections: enough to tell a dial rule from a slow start.
      this.fail(`some instance had fewer than ${need} peers ${CONNECT_GUARD_MS} ms after start:\n    ${(await this.graph((p) => p.length < need ? 'below' : '     ')).join('\n    ')}`)
    }
    this.summary.connections = await this.connections()
    this.note(`started in ${(performance.now() - t0).toFixed(0)} ms: ${this.hosts.length} processes, connections ${this.summary.connections.join(',')}`)
  }

  /**
   * Each instance with its region, namespace peers and open connections (ids of instances killed since: their last
   * six characters), `mark` before each: enough to tell a dial rule from a slow start, or an island from a region cut.
   */
  async graph (mark: (peers: string[]) => string = () => ''): Promise<string[]> {
    const peers = (await Promise.all(this.hosts.map((h) => ask(h.child, { op: 'peers' })))).flatMap((r) => r.value as string[][])
    const links = (await Promise.all(this.hosts.map((h) => ask(h.child, { op: 'links' })))).flatMap((r) => r.value as string[][])
    const name = new Map(this.slots.map((slot, i) => [slot.peerId, `i${i}`]))
    const short = (ids: string[]) => ids.map((id) => name.get(id) ?? id.slice(-6)).join(',')
    return peers.map((p, i) => `${mark(p)} i${i} (${this.regionOf(i) || 'no region'}): peers ${short(p)}; connections ${short(links[i] ?? [])}`)
  }

  /** Open connections per instance. */
  async connections (): Promise<number[]> {
    return (await Promise.all(this.hosts.map((h) => ask(h.child, { op: 'connections' })))).flatMap((r) => r.value as number[])
  }

  /**
   * The connected components of the graph of open connections (an instance
   * cut off from all is one): more than one at a heal means the sides must
   * find each other again before anything crosses (SPEC §11.1's link rotation).
   * `peers`: of the namespace's peers instead, links whose greeting (and the
   * peers it lists) has been read.
   */
  async components (op: 'links' | 'peers' = 'links'): Promise<number> {
    const links = (await Promise.all(this.hosts.map((h) => ask(h.child, { op })))).flatMap((r) => r.value as string[][])
    const index = new Map(this.slots.map((s, i) => [s.peerId, i]))
    const parent = links.map((_, i) => i)
    const find = (i: number): number => { while (parent[i] !== i) i = parent[i] = parent[parent[i] as number] as number; return i }
    for (const [i, peers] of links.entries()) {
      for (const p of peers) { const j = index.get(p); if (j !== undefined) parent[find(i)] = find(j) }
    }
    return new Set(links.map((_, i) => find(i))).size
  }

  hostOf (instance: number): Host {
    const host = this.hosts.find((h) => instance >= h.first && instance < h.first + h.count)
    if (host === undefined) throw new RangeError(`no instance ${instance}`)
    return host
  }

  async close (): Promise<void> {
    await Promise.all(this.hosts.map(async (h) => {
      if (h.child.exitCode !== null || h.child.signalCode !== null) return
      const exited = once(h.child, 'exit')
      try { await ask(h.child, { op: 'close' }, 15_000) } catch { h.child.kill('SIGKILL') }
      await exited
    }))
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }

  // ---- steps ----

  async randomStep (): Promise<void> {
    const r = prng.real53(this.gen)
    if (r < 0.45) await this.writes()
    else if (r < 0.57) await this.pause()
    else if (r < 0.67) await this.partition()
    else if (r < 0.73) await this.isolate()
    else if (r < 0.81) await this.cut()
    else if (r < 0.91) await this.heal()
    else if (r < 0.96) await this.crash()
    else await this.settle(`step ${this.step}`)
  }

  /** 1–4 writes, sent to their processes at once: writes on several processes in the same instant conflict. */
  async writes (): Promise<void> {
    const batch = Array.from({ length: prng.int32(this.gen, 1, 4) }, () => {
      const instance = prng.int32(this.gen, 0, this.instances - 1)
      const key = prng.oneOf(this.gen, KEYS)
      const r = prng.real53(this.gen)
      const kind = r < 0.55 ? 'set' : r < 0.77 ? 'delete' : r < 0.98 ? 'invalidate' : 'clear'
      const value = kind === 'set' ? `i${instance}#${++this.counter}` : undefined
      return { instance, key, kind, value }
    })
    this.note(`write ${batch.map((w) => `i${w.instance} ${w.kind}${w.kind === 'clear' ? '' : ` ${w.key}`}${w.value !== undefined ? `=${w.value}` : ''}`).join('; ')}`)
    const views = await Promise.all(batch.map((w) => {
      const host = this.hostOf(w.instance)
      host.dirty = true
      return ask(host.child, { op: 'write', ...w })
    }))
    for (const [i, w] of batch.entries()) {
      const view = views[i]?.value as Omit<Write, 'key' | 'value'> | undefined
      if (view === undefined) this.fail(`i${w.instance} holds no state of the ${w.kind} it just wrote`)
      this.log.add({ key: w.kind === 'clear' ? CLEAR_KEY : w.key, kind: view.kind, hlc: view.hlc, writer: view.writer, vv: view.vv, value: w.value ?? null })
    }
    this.summary.writes += batch.length
    this.summary.clears += batch.filter((w) => w.kind === 'clear').length
  }

  /**
   * Real time, on purpose: the processes run on their own, so the fault that
   * follows lands while frames, relays and repairs are in flight (0 ms) or
   * after some have arrived (up to 300 ms). Nothing is awaited on it.
   */
  async pause (): Promise<void> {
    const ms = prng.int32(this.gen, 0, 300)
    this.note(`pause ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, ms))
  }

  /** Every instance of one side blocks every instance of the other (both ways: the gater refuses dials and accepts). */
  async block (left: number[], right: number[]): Promise<void> {
    const blocks = new Map<Host, Record<string, string[]>>()
    const add = (from: number[], to: number[]): void => {
      const peers = to.map((j) => this.slots[j]?.peerId as string)
      for (const i of from) {
        const host = this.hostOf(i)
        const entry = blocks.get(host) ?? {}
        entry[i] = [...(entry[i] ?? []), ...peers]
        blocks.set(host, entry)
      }
    }
    add(left, right)
    add(right, left)
    await Promise.all([...blocks].map(([host, b]) => ask(host.child, { op: 'block', blocks: b })))
  }

  async partition (): Promise<void> {
    const all = Array.from({ length: this.instances }, (_, i) => i)
    const shuffled = all.sort(() => prng.real53(this.gen) - 0.5)
    const cut = prng.int32(this.gen, 1, this.instances - 1)
    const left = shuffled.slice(0, cut).sort((a, b) => a - b)
    const right = shuffled.slice(cut).sort((a, b) => a - b)
    this.note(`partition ${left.map((i) => `i${i}`).join(',')} | ${right.map((i) => `i${i}`).join(',')}`)
    await this.block(left, right)
    this.summary.faults.partitions++
  }

  async isolate (): Promise<void> {
    const host = prng.oneOf(this.gen, this.hosts)
    const inside = Array.from({ length: host.count }, (_, j) => host.first + j)
    const outside = Array.from({ length: this.instances }, (_, i) => i).filter((i) => !inside.includes(i))
    this.note(`isolate the process of i${host.first}-i${host.first + host.count - 1}`)
    await this.block(inside, outside)
    this.summary.faults.isolations++
  }

  /** Aborts one instance's connections to another (a no-op if they were not neighbours); the redialer reconnects. */
  async cut (): Promise<void> {
    const a = prng.int32(this.gen, 0, this.instances - 1)
    const b = (a + prng.int32(this.gen, 1, this.instances - 1)) % this.instances
    this.note(`cut i${a} - i${b}`)
    await ask(this.hostOf(a).child, { op: 'cut', instance: a, peer: this.slots[b]?.peerId })
    this.summary.faults.cuts++
  }

  async heal (): Promise<void> {
    this.note('heal')
    await Promise.all(this.hosts.map((h) => ask(h.child, { op: 'heal' })))
    this.summary.faults.heals++
  }

  /** SIGKILL one process and start it again empty, bootstrapped to three live instances of other processes. */
  async crash (): Promise<void> {
    const host = prng.oneOf(this.gen, this.hosts)
    if (host.dirty || this.crashedSinceSettle) await this.settle(`before crashing i${host.first}-i${host.first + host.count - 1}`)
    this.note(`kill -9 the process of i${host.first}-i${host.first + host.count - 1}, restart it`)
    const exited = once(host.child, 'exit')
    host.child.kill('SIGKILL')
    await exited
    const others = this.slots.filter((_, i) => i < host.first || i >= host.first + host.count)
    const bootstrap = Array.from({ length: 3 }, () => prng.oneOf(this.gen, others).addr)
    const fresh = await this.startHost(host.first, host.count, [...new Set(bootstrap)])
    this.hosts[this.hosts.indexOf(host)] = fresh
    this.crashedSinceSettle = true
    this.summary.faults.crashes++
  }

  async noteSlow (expect: Expected): Promise<void> {
    try {
      const lagging = (await Promise.all(this.hosts.map((h) => ask(h.child, { op: 'differences', expect })))).flatMap((r) => r.value as string[])
      this.note(`still settling after ${SLOW_SETTLE_MS} ms: ${await this.components()} component(s), connections ${(await this.connections()).join(',')}; ${lagging.length} differences: ${lagging.slice(0, 6).join('; ')}`)
    } catch {} // a diagnostic: the settle itself reports failures
  }

  /**
   * Waits, after a settle's states agree, until the namespace's links join every instance into one mesh. Agreeing
   * states do not show it when there was nothing to spread (no key written yet): a process restarted a moment
   * before may still be dialling the only peers it knows, and a crash of those next (seed 624) left it knowing
   * no live peer at all, which no mesh can recover from (its bootstrap addresses had died with them). A link
   * counts once greeted: a connection alone is not enough, since the peers a greeting lists are what the
   * newcomer dials when its first links die. So a settle also means one mesh, and a graph that stays split
   * past the guard fails the run: the heal must bring every instance back.
   */
  async untilOneMesh (when: string, started: number): Promise<void> {
    let components = await this.components('peers')
    const waited = components > 1
    while (components > 1 && performance.now() - started < SETTLE_GUARD_MS) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      components = await this.components('peers')
    }
    if (components > 1) this.fail(`not one mesh ${SETTLE_GUARD_MS} ms after the heal (${when}): ${components} components; connections per instance ${(await this.connections()).join(',')}\n  the graph now:\n    ${(await this.graph()).join('\n    ')}`)
    if (waited) this.note(`one mesh ${(performance.now() - started).toFixed(0)} ms after the heal`)
  }

  /**
   * Heals everything and waits until every instance holds the truth, and until the instances form one mesh again;
   * fails with every difference if that does not come.
   */
  async settle (when: string): Promise<void> {
    await this.heal()
    const started = performance.now()
    const components = await this.components()
    const expect: Expected = this.log.expected(this.mode, KEYS)
    this.note(`settle (${when}): ${Object.keys(expect.keys).length} keys, ${this.log.count} writes; ${components} component(s) at the heal`)
    // A diagnostic only (it decides nothing): what still differs when a settle is slow, and how the graph looks then.
    const slow = setTimeout(() => { void this.noteSlow(expect) }, SLOW_SETTLE_MS)
    const replies = await Promise.all(this.hosts.map((h) => ask(h.child, { op: 'await-state', expect, guardMs: SETTLE_GUARD_MS }, SETTLE_GUARD_MS + 10_000))).finally(() => clearTimeout(slow))
    const differences = replies.flatMap((r) => (r.value as { ok: boolean, differences?: string[] }).differences ?? [])
    if (differences.length > 0) {
      const connections = await this.connections()
      this.fail(`not converged ${SETTLE_GUARD_MS} ms after the heal (${when}); ${components} component(s) at the heal, ${await this.components()} now; connections per instance ${connections.join(',')}; ${differences.length} differences:\n    ${differences.slice(0, 30).join('\n    ')}\n  the graph now:\n    ${(await this.graph()).join('\n    ')}`)
    }
    const ms = performance.now() - started
    this.summary.settleMs.push(Math.round(ms))
    this.summary.settleComponents.push(components)
    this.note(`settled in ${ms.toFixed(0)} ms`)
    await this.untilOneMesh(when, started)
    for (const h of this.hosts) h.dirty = false
    this.crashedSinceSettle = false
  }
}

export async function runPartialSeed (seed: number, options: PartialRunOptions = {}): Promise<PartialRunSummary> {
  const run = new Run(seed, options)
  try {
    await run.start()
    for (run.step = 1; run.step <= run.summary.steps; run.step++) await run.randomStep()
    await run.settle('end')
    run.summary.connectionsAtEnd = await run.connections()
    return run.summary
  } finally {
    await run.close()
  }
}
