/**
 * The source-of-truth checker (issue 16). The convergence suites check that
 * replicas agree with each other; this checks that what every instance serves
 * agrees with what it should serve:
 *
 * - invalidate mode: a simulated database is the source of truth, every read
 *   goes through `getOrLoad`, and a loader reads the database at one step and
 *   lands at a later random step. Writers change the database, then `set`
 *   (write-through), `invalidate`, `delete` or `invalidateTag`. After every
 *   heal, flush and sync, no instance may serve a value (or a remembered
 *   "not found") that differs from the database's current one.
 * - replicate mode: after every heal, flush and sync, every instance serves the
 *   highest-(HLC, writer) write of each key, or nothing when that write is not
 *   a live SET.
 *
 * Faults: drops, duplicates, reordering, partitions and heals; clock jumps
 * (also while loads are in flight); per-instance clock offsets below
 * `maxClockSkew`; restarts (a new origin on the same transport); GC sweeps.
 * Features: local-only values (excluded from the check on the instance that
 * holds them, by the local-only contract), dependencies (chains) and tags.
 *
 * Restarts lose nothing a peer could still need: an instance with writes not
 * yet settled everywhere restarts only after a heal, flush and sync (a
 * process that dies holding the only copy of a write loses it, and TTL is
 * then the only net: not what this checks); one without may crash at any
 * time, partitioned or not, one crash between settles. A write is any the
 * instance numbered, including the invalidation of a replicated dependent
 * that a remote change of its base made it write (SPEC §10).
 *
 * Everything is driven by one seed: the network, the clock and the choices.
 */
import * as prng from 'lib0/prng'
import { createMeshCache, type MeshCache } from '../../lib/index.ts'
import { createMemoryNetwork, createTestClock, type MemoryNetwork, type TestClock } from '../../lib/testing/index.ts'

const TTL = 2_000
const SKEW = 500
/** The cache's horizon (maxTtl + maxClockSkew): jumps around it reach the GC rules. */
const HORIZON = TTL + SKEW
/** Timers the checker does not drive run on real time: keep them out of a replayable run. */
const NEVER = 2 ** 31 - 1
/** Steps kept for the failure message: all of them when one seed is replayed. */
const TRACE_LINES = process.env.SEED === undefined ? 60 : 100_000

/** Plain rows, rows used as bases, and rows only read through a tagged list. */
const ROWS = ['r:a', 'r:b', 'b:x', 'b:y']
const GROUP = ['g:1', 'g:2']
/** Derived keys: views over bases (a chain) and a tagged list. */
const VIEWS = ['v:1', 'v:2', 'l:g']
const READ_KEYS = [...ROWS, ...VIEWS]
/**
 * Replicate mode: some runs give one instance a smaller maxValueBytes than
 * the others (another version, another config), and some values are larger
 * than it: that instance must merge them as invalidations (SPEC §3.4).
 */
const SMALL_VALUE_LIMIT = 48
const PADDING = ':' + 'p'.repeat(60)
/**
 * Some runs bound vectors and origin tables tightly, so restarts (each a new
 * origin) overflow them: vectors are folded and answers split (SPEC §4, §6).
 */
const TIGHT_LIMITS = { maxVectorEntries: 3, maxOrigins: 6 }
const ALL_KEYS = [...ROWS, ...GROUP, ...VIEWS]

export interface TruthSummary {
  mode: 'invalidate' | 'replicate'
  steps: number
  checks: number
  loads: number
  restarts: number
}

interface Node {
  name: string
  cache: MeshCache<string>
  offset: number
  /** Wrote something not yet settled everywhere. */
  dirty: boolean
  /** key → the local-only value this instance set (served by contract, not checked). */
  localHeld: Map<string, string>
}

interface PendingLoad {
  resolve: () => void
}

interface Write {
  hlc: number
  writer: string
  kind: string
  value: string | undefined
  ttl: number
}

export class TruthViolation extends Error {}

export async function runTruthSeed (seed: number): Promise<TruthSummary> {
  const gen = prng.create(seed)
  const mode = prng.bool(gen) ? 'replicate' : 'invalidate'
  const n = prng.int32(gen, 3, 5)
  const dropRate = prng.real53(gen) * 0.2
  const duplicateRate = prng.real53(gen) * 0.1
  const net = createMemoryNetwork({ seed, dropRate, duplicateRate })
  const clock = createTestClock()
  const sim = new Simulation(gen, net, clock, mode, dropRate, duplicateRate)
  if (mode === 'replicate' && prng.real53(gen) < 0.4) sim.small = 'n0'
  sim.tight = prng.real53(gen) < 0.3
  try {
    for (let i = 0; i < n; i++) await sim.start(`n${i}`)
    const steps = prng.int32(gen, 40, 160)
    for (let step = 0; step < steps; step++) {
      sim.step = step
      await sim.randomStep()
    }
    sim.landAll()
    await sim.settleAndCheck('end')
    return { mode, steps, checks: sim.checks, loads: sim.loads, restarts: sim.restarts }
  } finally {
    await sim.closeAll()
  }
}

class Simulation {
  readonly gen: prng.PRNG
  readonly net: MemoryNetwork
  readonly clock: TestClock
  readonly mode: 'invalidate' | 'replicate'
  readonly dropRate: number
  readonly duplicateRate: number
  readonly nodes: Node[] = []
  readonly db = new Map<string, string>()
  readonly pending: PendingLoad[] = []
  /** Replicate mode: every write of each key, logged from the writers' local 'change' events. */
  readonly writes = new Map<string, Write[]>()
  /** Replicate mode: keys some instance ever held local-only (its state may travel without a value). */
  readonly everLocal = new Set<string>()
  readonly trace: string[] = []
  /** Every instance runs with TIGHT_LIMITS. */
  tight = false
  /** An instance crashed since the last settle. */
  crashed = false
  /** Replicate mode: the instance with the smaller maxValueBytes, if any. */
  small: string | undefined
  step = 0
  counter = 0
  checks = 0
  loads = 0
  restarts = 0

  constructor (gen: prng.PRNG, net: MemoryNetwork, clock: TestClock, mode: 'invalidate' | 'replicate', dropRate: number, duplicateRate: number) {
    this.gen = gen
    this.net = net
    this.clock = clock
    this.mode = mode
    this.dropRate = dropRate
    this.duplicateRate = duplicateRate
  }

  log (line: string): void {
    this.trace.push(`#${this.step} t=${this.clock.now() - 1_700_000_000_000} ${line}`)
    if (this.trace.length > TRACE_LINES) this.trace.shift()
  }

  async start (name: string): Promise<Node> {
    const offset = prng.int32(this.gen, 0, SKEW - 1)
    const clock = this.clock
    const cache = await createMeshCache<string>({
      namespace: 'truth',
      nodeId: name,
      mode: this.mode,
      ttl: TTL,
      maxClockSkew: SKEW,
      now: () => clock.now() + offset,
      syncInterval: 0,
      announceInterval: NEVER,
      gcInterval: NEVER,
      limits: { ...(this.tight ? TIGHT_LIMITS : {}), ...(name === this.small ? { maxValueBytes: SMALL_VALUE_LIMIT } : {}) },
      transport: this.net.transport(name),
    })
    const node: Node = { name, cache, offset, dirty: false, localHeld: new Map() }
    if (this.mode === 'replicate') {
      cache.on('change', (e: { key: string, source: string }) => {
        if (e.source !== 'local') return
        // Every local write counts, a cascade too: a remote change of a base makes the instance holding
        // a replicated dependent's edge invalidate it, and that write is then only here (seed 901097).
        node.dirty = true
        const view = cache.inspect(e.key)
        if (view === undefined) return
        const list = this.writes.get(e.key) ?? []
        list.push({ hlc: view.hlc, writer: view.writer, kind: view.kind, value: view.kind === 'set' ? cache.peek(e.key) : undefined, ttl: this.lastTtl })
        this.writes.set(e.key, list)
      })
    }
    const i = this.nodes.findIndex((x) => x.name === name)
    if (i >= 0) this.nodes[i] = node
    else this.nodes.push(node)
    this.log(`start ${name} as ${cache.origin} offset ${offset}`)
    return node
  }

  /** The ttl of the write being made (replicate mode logs it with the write; cascades use the default). */
  lastTtl = TTL

  async closeAll (): Promise<void> {
    for (const p of this.pending.splice(0)) p.resolve()
    for (const node of this.nodes) await node.cache.close()
  }

  pick<T> (list: readonly T[]): T {
    return prng.oneOf(this.gen, list as T[])
  }

  async randomStep (): Promise<void> {
    const r = prng.real53(this.gen)
    if (r < 0.24) { if (this.mode === 'invalidate') this.read() }
    else if (r < 0.36) this.land()
    else if (r < 0.52) this.write()
    else if (r < 0.57) this.setLocal()
    else if (r < 0.70) { for (let i = prng.int32(this.gen, 1, 8); i > 0; i--) this.net.step() }
    else if (r < 0.74) this.partition()
    else if (r < 0.77) { this.net.heal(); this.log('heal') }
    else if (r < 0.85) this.jump()
    else if (r < 0.88) { const node = this.pick(this.nodes); node.cache.purgeStale(); this.log(`purge ${node.name}`) }
    else if (r < 0.91) await this.restart()
    else if (r < 0.96) await this.net.flush()
    else await this.settleAndCheck(`step ${this.step}`)
    await Promise.resolve()
  }

  // ---- the database ----

  /** The current truth of a key: a row, or what a derived key's loader would compute now. */
  truth (key: string): string | undefined {
    switch (key) {
      case 'v:1': return `${this.db.get('b:x') ?? '-'}|${this.db.get('b:y') ?? '-'}`
      case 'v:2': return `w(${this.truth('v:1') as string})`
      case 'l:g': return GROUP.map((g) => this.db.get(g) ?? '-').join(',')
      default: return this.db.get(key)
    }
  }

  bases (key: string): { dependsOn?: string[], tags?: string[] } {
    switch (key) {
      case 'v:1': return { dependsOn: ['b:x', 'b:y'] }
      // The chain v:2 → v:1 → bases; the bases are named too, since the
      // edges of v:1 are known here only while v:1 is held (SPEC §10).
      case 'v:2': return { dependsOn: ['v:1', 'b:x', 'b:y'] }
      case 'l:g': return { tags: ['g'] }
      default: return {}
    }
  }

  // ---- operations ----

  read (): void {
    const node = this.pick(this.nodes)
    const key = this.pick(READ_KEYS)
    const options: Record<string, unknown> = { ...this.bases(key) }
    if (prng.bool(this.gen)) options.ttl = prng.int32(this.gen, 200, TTL)
    if (prng.real53(this.gen) < 0.3) options.negativeTtl = prng.int32(this.gen, 200, TTL)
    const loader = (): Promise<string | undefined> => {
      const snapshot = this.truth(key)
      this.loads++
      this.log(`${node.name} loads ${key} reading ${String(snapshot)}`)
      return new Promise((resolve) => { this.pending.push({ resolve: () => resolve(snapshot) }) })
    }
    node.cache.getOrLoad(key, loader, options).catch(() => {})
  }

  land (): void {
    if (this.pending.length === 0) return
    const i = prng.int32(this.gen, 0, this.pending.length - 1)
    const [p] = this.pending.splice(i, 1)
    this.log('a load lands')
    p?.resolve()
  }

  landAll (): void {
    for (const p of this.pending.splice(0)) p.resolve()
  }

  write (): void {
    const node = this.pick(this.nodes)
    node.dirty = true
    const c = node.cache
    const ttl = prng.bool(this.gen) ? TTL : prng.int32(this.gen, 200, TTL)
    this.lastTtl = ttl
    const r = prng.real53(this.gen)
    if (r < 0.15) {
      const row = this.pick(GROUP)
      const value = `${node.name}#${++this.counter}`
      this.db.set(row, value)
      this.log(`${node.name} writes ${row}=${value}, invalidateTag g`)
      c.invalidateTag('g')
      this.lastTtl = TTL
      return
    }
    const key = r < 0.25 && this.mode === 'replicate' ? this.pick(VIEWS.slice(0, 2)) : this.pick(ROWS)
    const k = prng.real53(this.gen)
    if (k < 0.5) {
      const big = this.small !== undefined && prng.real53(this.gen) < 0.3
      const value = `${node.name}#${++this.counter}${big ? PADDING : ''}`
      const extra = this.mode === 'replicate' && prng.bool(this.gen) ? this.randomBases(key) : {}
      if (big && node.name === this.small) {
        // The writer refuses what its own peers would not take (E_VALUE_TOO_LARGE).
        let code: unknown
        try { c.set(key, value, { ttl, ...extra }) } catch (error) { code = (error as { code?: unknown }).code }
        if (code !== 'E_VALUE_TOO_LARGE') this.fail(`${node.name} accepted a value over its maxValueBytes (${String(code)})`)
        this.log(`${node.name} refused ${key}=${value.slice(0, 12)}… (too large)`)
        return
      }
      node.localHeld.delete(key)
      this.db.set(key, value)
      this.log(`${node.name} sets ${key}=${value.slice(0, 24)} ttl ${ttl}`)
      c.set(key, value, { ttl, ...extra })
    } else if (k < 0.75) {
      node.localHeld.delete(key)
      const value = `${node.name}#${++this.counter}`
      this.db.set(key, value)
      this.log(`${node.name} updates ${key}=${value} and invalidates it`)
      c.invalidate(key)
    } else {
      node.localHeld.delete(key)
      this.db.delete(key)
      this.log(`${node.name} deletes ${key}`)
      c.delete(key)
    }
    this.lastTtl = TTL
  }

  /** Replicate mode: a written value may depend on other keys or carry the tag. */
  randomBases (key: string): { dependsOn?: string[], tags?: string[] } {
    const r = prng.real53(this.gen)
    if (r < 0.3) return { tags: ['g'] }
    const candidates = ROWS.filter((k) => k !== key && k.startsWith('b:'))
    if (candidates.length === 0 || key.startsWith('b:')) return {}
    return { dependsOn: [this.pick(candidates)] }
  }

  setLocal (): void {
    const node = this.pick(this.nodes)
    // Not replicated itself, but over a base it invalidates the values derived from it, and those
    // invalidations are replicated writes (SPEC §10): a crash before they settle would lose them.
    node.dirty = true
    const key = this.pick(ROWS)
    const value = `${node.name}#local#${++this.counter}`
    this.log(`${node.name} sets ${key}=${value} local-only`)
    node.cache.set(key, value, { local: true })
    node.localHeld.set(key, value)
    this.everLocal.add(key)
  }

  partition (): void {
    const names = this.nodes.map((x) => x.name)
    const shuffled = names.slice().sort(() => prng.real53(this.gen) - 0.5)
    const cut = prng.int32(this.gen, 1, names.length - 1)
    this.net.partition(shuffled.slice(0, cut), shuffled.slice(cut))
    this.log(`partition ${shuffled.slice(0, cut).join(',')} | ${shuffled.slice(cut).join(',')}`)
  }

  jump (): void {
    const r = prng.real53(this.gen)
    const ms = r < 0.7 ? prng.int32(this.gen, 0, 300) : r < 0.9 ? prng.int32(this.gen, TTL / 2, HORIZON) : prng.int32(this.gen, HORIZON, 3 * HORIZON)
    this.clock.advance(ms)
    this.log(`clock +${ms} (${this.pending.length} loads in flight)`)
  }

  async restart (): Promise<void> {
    const node = this.pick(this.nodes)
    // A crash loses nothing only if every write it holds is held elsewhere:
    // it wrote nothing since the last settle, and no other instance crashed
    // since (a fresh instance holds nothing until it has synced).
    const crash = !node.dirty && !this.crashed
    if (crash) this.crashed = true
    else await this.settle()
    this.log(`restart ${node.name}${crash ? ' (crash)' : ' after settling'}`)
    await node.cache.close()
    this.restarts++
    await this.start(node.name)
  }

  // ---- settling and the check ----

  async settle (): Promise<void> {
    this.net.heal()
    this.net.setFaults({ dropRate: 0, duplicateRate: 0 })
    for (let round = 0; round < 3; round++) {
      await this.net.flush()
      for (const node of this.nodes) node.cache.sync()
    }
    await this.net.flush()
    for (const node of this.nodes) node.dirty = false
    this.crashed = false
    this.net.setFaults({ dropRate: this.dropRate, duplicateRate: this.duplicateRate })
  }

  async settleAndCheck (when: string): Promise<void> {
    await this.settle()
    this.log(`check (${when})`)
    this.checks++
    for (const node of this.nodes) {
      for (const [key, value] of node.localHeld) if (node.cache.peek(key) !== value) node.localHeld.delete(key)
      if (this.mode === 'invalidate') this.checkAgainstDb(node)
      else this.checkAgainstWinner(node)
    }
  }

  fail (message: string): never {
    throw new TruthViolation(`${message}\n  recent steps:\n    ${this.trace.join('\n    ')}`)
  }

  checkAgainstDb (node: Node): void {
    const c = node.cache
    for (const key of READ_KEYS) {
      if (node.localHeld.has(key)) continue
      const served = c.peek(key)
      const truth = this.truth(key)
      if (served !== undefined && served !== truth) {
        this.fail(`${node.name} (${c.origin}) serves ${key}=${served}, the database holds ${String(truth)}`)
      }
      if (served === undefined && truth !== undefined) this.probeNegative(node, key)
    }
  }

  /** A remembered "not found" (negativeTtl) for a row the database holds is a stale read too. */
  probeNegative (node: Node, key: string): void {
    const c = node.cache
    const coalesced = c.stats().loadsCoalesced
    let called = false
    c.getOrLoad(key, () => { called = true; throw new Error('probe') }, this.bases(key)).catch(() => {})
    if (called || c.stats().loadsCoalesced !== coalesced) return // loaded (and failed), or joined a load in flight
    this.fail(`${node.name} (${c.origin}) remembers ${key} as not found, the database holds ${String(this.truth(key))}`)
  }

  checkAgainstWinner (node: Node): void {
    const c = node.cache
    const latest = this.clock.now() + SKEW // the clock of the instance furthest ahead, or later
    for (const key of ALL_KEYS) {
      if (node.localHeld.has(key)) continue
      const served = c.peek(key)
      const writes = this.writes.get(key)
      const winner = writes?.reduce((a, b) => (b.hlc > a.hlc || (b.hlc === a.hlc && b.writer > a.writer)) ? b : a)
      if (winner === undefined || winner.kind !== 'set') {
        if (served !== undefined) this.fail(`${node.name} (${c.origin}) serves ${key}=${served}, the winning write is ${winner?.kind ?? 'none'}`)
        continue
      }
      const tooLarge = winner.value !== undefined && JSON.stringify(winner.value).length > SMALL_VALUE_LIMIT
      if (tooLarge && node.name === this.small) {
        if (served !== undefined) this.fail(`${node.name} (${c.origin}) serves ${key}=${served}, a value over its maxValueBytes`)
        continue
      }
      if (served === winner.value) continue
      if (served !== undefined) this.fail(`${node.name} (${c.origin}) serves ${key}=${served}, the winning write is ${String(winner.value)}`)
      // A miss is allowed only where the winning value may be gone for a reason:
      // expired on some instance's clock (its state then travels without it),
      // relayed by an instance holding a local-only value in its place.
      const expired = Math.floor(winner.hlc / 1000) + winner.ttl <= latest
      // (or by the instance that could not take the value).
      if (served === undefined && !expired && !this.everLocal.has(key) && !(tooLarge && this.small !== undefined)) {
        this.fail(`${node.name} (${c.origin}) lacks ${key}=${String(winner.value)}, the winning write`)
      }
    }
  }
}
