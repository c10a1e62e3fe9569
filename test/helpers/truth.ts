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
 *   a live SET. And a winning SET written over bases (`dependsOn`, tags) must
 *   not outlive a later write of a base while its writer lives: only the
 *   writer knows the edges, and its invalidation of the dependent would be
 *   the winning write (SPEC §10). Even seeds give every instance `max: 2`, so
 *   values leave LRUs for capacity (a miss of a key some instance evicted is
 *   allowed: its state travels without the value).
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
 * that a remote change of its base made it write (SPEC §10). What a closing
 * instance writes (its handover of replicated dependents, SPEC §10) is best
 * effort: a node either dropped the dependent or serves the write it replaced.
 *
 * Everything is driven by one seed: the network, the clock and the choices.
 */
import * as prng from 'lib0/prng'
import { createMeshCache } from '../../lib/index.ts'
import { createMemoryNetwork, createTestClock, type TestClock } from '../../lib/testing/index.ts'
import { vectorGet } from '../../lib/core/version-vector.ts'
import { GROUP, History, READ_KEYS, ROWS, SMALL_VALUE_LIMIT, VIEWS, type HistoryNode, type HistorySetup } from './history.ts'

const TTL = 2_000
const SKEW = 500
/** The cache's horizon (maxTtl + maxClockSkew): jumps around it reach the GC rules. */
const HORIZON = TTL + SKEW

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
  /** Replicated dependents invalidated by a closing instance (SPEC §10). */
  handovers: number
}

interface Node extends HistoryNode {
  offset: number
}

/** Replicate mode, even seeds (chosen by the seed, not the generator, so the rest of a history is drawn as before): an LRU this small evicts. */
const SMALL_MAX = 2

interface Write {
  hlc: number
  writer: string
  kind: string
  value: string | undefined
  ttl: number
  /**
   * Made by `close()`: the invalidation of a replicated dependent whose edges only the closing
   * instance held (SPEC §10). Best effort: its frame may be lost with no one left to repair it.
   */
  handover: boolean
  /** The writer's counter for the key in this write's vector: an instance knows the write when its vector reaches it. */
  counter: number
  /** A `set`'s bases (`dependsOn`, tags as their keys): only its writer knows them (SPEC §10). */
  bases: string[]
}

/** The write every instance must end with: the highest (hlc, writer). */
function winnerOf (writes: Write[] | undefined): Write | undefined {
  return writes?.reduce((a, b) => (b.hlc > a.hlc || (b.hlc === a.hlc && b.writer > a.writer)) ? b : a)
}

export async function runTruthSeed (seed: number): Promise<TruthSummary> {
  const gen = prng.create(seed)
  const mode = prng.bool(gen) ? 'replicate' : 'invalidate'
  const n = prng.int32(gen, 3, 5)
  const dropRate = prng.real53(gen) * 0.2
  const duplicateRate = prng.real53(gen) * 0.1
  const net = createMemoryNetwork({ seed, dropRate, duplicateRate })
  const clock = createTestClock()
  const sim = new Simulation({ gen, net, mode, ttl: TTL, horizon: HORIZON, dropRate, duplicateRate }, clock)
  if (mode === 'replicate' && prng.real53(gen) < 0.4) sim.small = 'n0'
  sim.tight = prng.real53(gen) < 0.3
  sim.smallMax = mode === 'replicate' && seed % 2 === 0
  try {
    const steps = await sim.play(n, 40, 160)
    sim.landAll()
    await sim.settleAndCheck('end')
    return { mode, steps, checks: sim.checks, loads: sim.loads, restarts: sim.restarts, handovers: sim.handovers }
  } finally {
    await sim.closeAll()
  }
}

class Simulation extends History<Node> {
  readonly clock: TestClock
  /** Replicate mode: every write of each key, logged from the writers' local 'change' events. */
  readonly writes = new Map<string, Write[]>()
  /** Replicate mode: keys some instance ever held local-only (its state may travel without a value). */
  readonly everLocal = new Set<string>()
  /** Writes made by `close()` (its handover, SPEC §10). */
  handovers = 0
  /** Every instance runs with `max: SMALL_MAX`. */
  smallMax = false
  /** Keys whose value some instance evicted for capacity: their states may travel without it since. */
  readonly everEvicted = new Set<string>()
  /** Every instance runs with TIGHT_LIMITS. */
  tight = false

  constructor (setup: HistorySetup, clock: TestClock) {
    super(setup)
    this.clock = clock
  }

  when (): string {
    return `t=${this.clock.now() - 1_700_000_000_000}`
  }

  advance (ms: number): void {
    this.clock.advance(ms)
  }

  async start (name: string): Promise<Node> {
    const offset = prng.int32(this.gen, 0, SKEW - 1)
    const clock = this.clock
    const cache = await createMeshCache<string>({
      ...this.cacheOptions(name, () => clock.now() + offset),
      namespace: 'truth',
      mode: this.mode,
      limits: { ...(this.tight ? TIGHT_LIMITS : {}), ...(name === this.small ? { maxValueBytes: SMALL_VALUE_LIMIT } : {}) },
      ...(this.smallMax ? { max: SMALL_MAX } : {}),
    })
    const node: Node = { name, cache, offset, dirty: false, localHeld: new Map() }
    if (this.mode === 'replicate') {
      cache.on('evict', (e: { key: string, reason: string }) => { if (e.reason === 'capacity') this.everEvicted.add(e.key) })
      cache.on('change', (e: { key: string, source: string }) => {
        if (e.source !== 'local') return
        // Every local write counts, a cascade too: a remote change of a base makes the instance holding
        // a replicated dependent's edge invalidate it, and that write is then only here (seed 901097).
        node.dirty = true
        const view = cache.inspect(e.key)
        if (view === undefined) return
        const list = this.writes.get(e.key) ?? []
        const handover = this.closing === node
        if (handover) {
          this.handovers++
          this.log(`${name} hands ${e.key} over: invalidated`)
        }
        list.push({ hlc: view.hlc, writer: view.writer, kind: view.kind, value: view.kind === 'set' ? cache.peek(e.key) : undefined, ttl: this.lastTtl, handover, counter: vectorGet(view.vv, view.writer), bases: this.lastBases })
        this.writes.set(e.key, list)
      })
    }
    return this.place(node, offset)
  }

  async closeAll (): Promise<void> {
    for (const p of this.pending.splice(0)) p.resolve()
    for (const node of this.nodes) await node.cache.close()
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

  // ---- operations ----

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

  // ---- settling and the check ----

  async settle (): Promise<void> {
    await this.syncAll()
    this.settled()
  }

  check (node: Node): void {
    for (const [key, value] of node.localHeld) if (node.cache.peek(key) !== value) node.localHeld.delete(key)
    if (this.mode === 'invalidate') this.checkAgainstDb(node)
    else this.checkAgainstWinner(node)
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
      let winner = winnerOf(writes)
      if (winner?.handover === true) {
        // Dropped, as the handover says; or, where its frame never came, judged by the write it replaced.
        if (served === undefined) continue
        winner = winnerOf(writes?.filter((w) => !w.handover))
      }
      if (winner === undefined || winner.kind !== 'set') {
        if (served !== undefined) this.fail(`${node.name} (${c.origin}) serves ${key}=${served}, the winning write is ${winner?.kind ?? 'none'}`)
        continue
      }
      this.checkBases(key, winner, latest)
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
      // (or by the instance that could not take the value, or one that evicted it for capacity).
      if (served === undefined && !expired && !this.everLocal.has(key) && !this.everEvicted.has(key) && !(tooLarge && this.small !== undefined)) {
        this.fail(`${node.name} (${c.origin}) lacks ${key}=${String(winner.value)}, the winning write`)
      }
    }
  }

  /**
   * A winning `set` made over bases must not outlive a later write of one of them (SPEC §10): its
   * writer, the only instance knowing the edges, invalidates it for everyone when the change
   * reaches it, which would be the winning write. A base write with a higher HLC is one the
   * dependent's writer had not seen when it wrote (its HLC would have followed it). Exempt: the
   * writer is gone (a crash, or a close whose handover is judged above), or the value has expired
   * on some instance's clock. A base write that was a closing instance's handover counts only where
   * some instance holds it: its frame may have been lost with no one left to repair it.
   */
  checkBases (key: string, winner: Write, latest: number): void {
    if (winner.bases.length === 0 || Math.floor(winner.hlc / 1000) + winner.ttl <= latest) return
    if (!this.nodes.some((n) => n.cache.origin === winner.writer)) return
    const arrived = (base: string, w: Write): boolean => !w.handover || this.nodes.some((n) => vectorGet(n.cache.inspect(base)?.vv ?? [], w.writer) >= w.counter)
    for (const base of winner.bases) {
      const later = this.writes.get(base)?.find((w) => w.hlc > winner.hlc && arrived(base, w))
      if (later !== undefined) {
        this.fail(`${key}=${String(winner.value)} (by ${winner.writer}, over ${JSON.stringify(base)}) outlived a later write of its base: ${later.kind} by ${later.writer}`)
      }
    }
  }
}
