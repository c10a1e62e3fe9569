/**
 * A seeded history against a simulated database, shared by the source-of-
 * truth checkers (truth.ts over the mesh alone, l2-truth.ts with a Redis
 * L2): the rows and derived keys, what each one's truth is now, and the
 * operations on them (reads through `getOrLoad` whose loads land at a later
 * step, writes, partitions, clock jumps, restarts). Each checker brings its
 * instances, its clock, its faults and its settling.
 *
 * The order of the generator's calls is part of every seed: the checkers'
 * pinned seeds replay the histories they were found in.
 */
import * as prng from 'lib0/prng'
import type { MeshCache, Transport } from '../../lib/index.ts'
import type { MemoryNetwork } from '../../lib/testing/index.ts'
import { TAG_PREFIX } from '../../lib/loading/tags.ts'

/** Timers the checker does not drive run on real time: keep them out of a replayable run. */
const NEVER = 2 ** 31 - 1
/** Steps kept for the failure message: all of them when one seed is replayed. */
const TRACE_LINES = process.env.SEED === undefined ? 80 : 100_000

/** Plain rows, rows used as bases, and rows only read through a tagged list. */
export const ROWS = ['r:a', 'r:b', 'b:x', 'b:y']
export const GROUP = ['g:1', 'g:2']
/** Derived keys: views over bases (a chain) and a tagged list. */
export const VIEWS = ['v:1', 'v:2', 'l:g']
export const READ_KEYS = [...ROWS, ...VIEWS]

/** The current truth of a key: a row, or what a derived key's loader would compute now. */
export function truthOf (db: ReadonlyMap<string, string>, key: string): string | undefined {
  switch (key) {
    case 'v:1': return `${db.get('b:x') ?? '-'}|${db.get('b:y') ?? '-'}`
    case 'v:2': return `w(${truthOf(db, 'v:1') as string})`
    case 'l:g': return GROUP.map((g) => db.get(g) ?? '-').join(',')
    default: return db.get(key)
  }
}

/** The bases a derived key is loaded (and, in replicate mode, written) under. */
export function basesOf (key: string): { dependsOn?: string[], tags?: string[] } {
  switch (key) {
    case 'v:1': return { dependsOn: ['b:x', 'b:y'] }
    // The chain v:2 → v:1 → bases; the bases are named too, since the
    // edges of v:1 are known here only while v:1 is held (SPEC §10).
    case 'v:2': return { dependsOn: ['v:1', 'b:x', 'b:y'] }
    case 'l:g': return { tags: ['g'] }
    default: return {}
  }
}

/**
 * Replicate mode: some runs give one instance a smaller maxValueBytes than
 * the others (another version, another config), and some values are larger
 * than it: that instance must merge them as invalidations (SPEC §3.4).
 */
export const SMALL_VALUE_LIMIT = 48
const PADDING = ':' + 'p'.repeat(60)

export class TruthViolation extends Error {}

export interface HistoryNode {
  name: string
  cache: MeshCache<string>
  /** Wrote something not yet settled everywhere. */
  dirty: boolean
  /** key → the local-only value this instance set (served by contract, not checked). */
  localHeld: Map<string, string>
}

export interface PendingLoad {
  resolve: () => void
}

export interface HistorySetup {
  gen: prng.PRNG
  net: MemoryNetwork
  mode: 'invalidate' | 'replicate'
  /** The caches' ttl (and maxTtl) and their horizon (maxTtl + maxClockSkew): clock jumps reach around both. */
  ttl: number
  horizon: number
  /** The network's faults between settles. */
  dropRate: number
  duplicateRate: number
}

export abstract class History<N extends HistoryNode> {
  readonly gen: prng.PRNG
  readonly net: MemoryNetwork
  readonly mode: 'invalidate' | 'replicate'
  readonly ttl: number
  readonly horizon: number
  readonly dropRate: number
  readonly duplicateRate: number
  readonly nodes: N[] = []
  readonly db = new Map<string, string>()
  readonly pending: PendingLoad[] = []
  /** Reads not answered yet. */
  readonly reads = new Set<Promise<unknown>>()
  readonly trace: string[] = []
  /** An instance crashed since the last settle. */
  crashed = false
  /** The instance whose `close()` runs now (a restart): what it writes meanwhile is its handover (SPEC §10). */
  closing: N | undefined
  /** Replicate mode: the instance with the smaller maxValueBytes, if any. */
  small: string | undefined
  step = 0
  counter = 0
  loads = 0
  restarts = 0
  checks = 0
  /** The ttl of the write being made (replicate mode logs it with the write; cascades use the default). */
  lastTtl: number
  /** The bases (`dependsOn` keys, tags as their internal keys) of the `set` being made; none for any other write. */
  lastBases: string[] = []

  constructor (setup: HistorySetup) {
    this.gen = setup.gen
    this.net = setup.net
    this.mode = setup.mode
    this.ttl = setup.ttl
    this.horizon = setup.horizon
    this.dropRate = setup.dropRate
    this.duplicateRate = setup.duplicateRate
    this.lastTtl = setup.ttl
  }

  /** Starts `n` instances, then runs between `minSteps` and `maxSteps` random steps; returns how many. */
  async play (n: number, minSteps: number, maxSteps: number): Promise<number> {
    for (let i = 0; i < n; i++) await this.start(`n${i}`)
    const steps = prng.int32(this.gen, minSteps, maxSteps)
    for (let step = 0; step < steps; step++) {
      this.step = step
      await this.randomStep()
    }
    return steps
  }

  abstract randomStep (): Promise<void>

  /** What every checker's caches share: its ttl and skew, its clock, no timer it does not drive, its network. */
  cacheOptions (name: string, now: () => number): { nodeId: string, ttl: number, maxClockSkew: number, now: () => number, syncInterval: number, announceInterval: number, gcInterval: number, transport: Transport } {
    return { nodeId: name, ttl: this.ttl, maxClockSkew: this.horizon - this.ttl, now, syncInterval: 0, announceInterval: NEVER, gcInterval: NEVER, transport: this.net.transport(name) }
  }

  /** Puts a started instance in place of the one of its name (a restart), or beside the others. */
  place (node: N, offset: number): N {
    const i = this.nodes.findIndex((x) => x.name === node.name)
    if (i >= 0) this.nodes[i] = node
    else this.nodes.push(node)
    this.log(`start ${node.name} as ${node.cache.origin} offset ${offset}`)
    return node
  }

  /** Heals the mesh and runs anti-entropy rounds, without drops or duplicates, until every instance holds every write. */
  async syncAll (): Promise<void> {
    this.net.heal()
    this.net.setFaults({ dropRate: 0, duplicateRate: 0 })
    for (let round = 0; round < 3; round++) {
      await this.net.flush()
      for (const node of this.nodes) node.cache.sync()
    }
    await this.net.flush()
  }

  /** Checks what one instance serves, after a settle. */
  abstract check (node: N): Promise<void> | void

  async settleAndCheck (when: string): Promise<void> {
    await this.settle()
    this.log(`check (${when})`)
    this.checks++
    for (const node of this.nodes) {
      const checking = this.check(node)
      if (checking !== undefined) await checking // a synchronous check runs for every instance in one turn, nothing between
    }
  }

  /** After a settle: no write is held by one instance alone; the faults come back. */
  settled (): void {
    for (const node of this.nodes) node.dirty = false
    this.crashed = false
    this.net.setFaults({ dropRate: this.dropRate, duplicateRate: this.duplicateRate })
  }

  /** Starts (or, after `previous`, restarts) the instance `name`. */
  abstract start (name: string, previous?: N): Promise<N>
  /** Heals every fault and waits until every instance holds every write. */
  abstract settle (): Promise<void>
  /** Moves every instance's clock forward. */
  abstract advance (ms: number): void
  /** Where the run is, for each line of the trace (its clock). */
  abstract when (): string
  /** What a failure message adds before the steps. */
  context (): string {
    return ''
  }

  log (line: string): void {
    this.trace.push(`#${this.step} ${this.when()} ${line}`)
    if (this.trace.length > TRACE_LINES) this.trace.shift()
    if (process.env.TRUTH_VERBOSE !== undefined) console.error(this.trace.at(-1))
  }

  truth (key: string): string | undefined {
    return truthOf(this.db, key)
  }

  bases (key: string): { dependsOn?: string[], tags?: string[] } {
    return basesOf(key)
  }


  pick<T> (list: readonly T[]): T {
    return prng.oneOf(this.gen, list as T[])
  }

  read (): void {
    const node = this.pick(this.nodes)
    const key = this.pick(READ_KEYS)
    const options: Record<string, unknown> = { ...this.bases(key) }
    if (prng.bool(this.gen)) options.ttl = prng.int32(this.gen, 200, this.ttl)
    if (prng.real53(this.gen) < 0.3) options.negativeTtl = prng.int32(this.gen, 200, this.ttl)
    const loader = (): Promise<string | undefined> => {
      const snapshot = this.truth(key)
      this.loads++
      this.log(`${node.name} loads ${key} reading ${String(snapshot)}`)
      return new Promise((resolve) => { this.pending.push({ resolve: () => resolve(snapshot) }) })
    }
    const read = node.cache.getOrLoad(key, loader, options).catch(() => {})
    this.reads.add(read)
    void read.finally(() => this.reads.delete(read))
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
    const ttl = prng.bool(this.gen) ? this.ttl : prng.int32(this.gen, 200, this.ttl)
    this.lastTtl = ttl
    const r = prng.real53(this.gen)
    if (r < 0.15) {
      const row = this.pick(GROUP)
      const value = `${node.name}#${++this.counter}`
      this.db.set(row, value)
      this.log(`${node.name} writes ${row}=${value}, invalidateTag g`)
      c.invalidateTag('g')
      this.lastTtl = this.ttl
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
      this.log(`${node.name} sets ${key}=${value.slice(0, 24)} ttl ${ttl}${extra.dependsOn !== undefined || extra.tags !== undefined ? ` over ${JSON.stringify(extra)}` : ''}`)
      this.lastBases = [...(extra.dependsOn ?? []), ...(extra.tags ?? []).map((t) => TAG_PREFIX + t)]
      try {
        c.set(key, value, { ttl, ...extra })
      } finally {
        this.lastBases = []
      }
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
    this.lastTtl = this.ttl
  }

  /** Replicate mode: a written value may depend on other keys or carry the tag. */
  randomBases (key: string): { dependsOn?: string[], tags?: string[] } {
    const r = prng.real53(this.gen)
    if (r < 0.3) return { tags: ['g'] }
    const candidates = ROWS.filter((k) => k !== key && k.startsWith('b:'))
    if (candidates.length === 0 || key.startsWith('b:')) return {}
    return { dependsOn: [this.pick(candidates)] }
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
    const ms = r < 0.7 ? prng.int32(this.gen, 0, 300) : r < 0.9 ? prng.int32(this.gen, this.ttl / 2, this.horizon) : prng.int32(this.gen, this.horizon, 3 * this.horizon)
    this.advance(ms)
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
    this.closing = node
    try {
      await node.cache.close()
    } finally {
      this.closing = undefined
    }
    this.restarts++
    await this.start(node.name, node)
  }

  fail (message: string): never {
    throw new TruthViolation(`${message}${this.context()}\n  recent steps:\n    ${this.trace.join('\n    ')}`)
  }
}
