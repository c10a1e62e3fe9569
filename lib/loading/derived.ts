/**
 * Values derived from others: read-through loads (loader.ts) and
 * dependents (dependencies.ts), and the cascade that drops dependents when a
 * base changes. Both are created on first use, so a cache that uses neither
 * pays two field checks per change.
 *
 * The cascade is deferred: a change detaches its dependents at once, and
 * they are dropped when the outermost operation (a public write or a frame)
 * is done, because dropping fires events and a listener must not see (or
 * write over) the state being replaced.
 */
import type { EvictReason } from '../core/store.ts'
import { DependencyGraph, resolveBases, type DependentVisitor } from './dependencies.ts'
import { Loads, type LoaderHost, type LoaderTier, type LoadFunction, type LoadOptions } from './loader.ts'

/** What MeshCache lends: the loader's needs, and how to drop a dependent. */
export interface DerivedHost<V> extends Omit<LoaderHost<V>, 'graph' | 'graphIfAny'> {
  /** Invalidates a replicated dependent everywhere; false when the cache is closed (it is then dropped here). */
  invalidate: (key: string) => boolean
  /** Drops a dependent's value here, with its loaded placeholder. */
  dropHere: (key: string, reason: EvictReason) => void
  /**
   * Until when (epoch ms) other replicas may hold the value `key` was
   * written with here: its deadline in replicate mode, 0 in invalidate mode
   * (no other replica holds a value).
   */
  heldElsewhereUntil: (key: string) => number
  /** At most this many evicted replicated dependents keep their edges (the cache's `max`). */
  maxKept: number
}

export class Derived<V extends {}> {
  readonly #host: DerivedHost<V>
  #loads: Loads<V> | undefined
  #deps: DependencyGraph | undefined
  #cascadeReason: EvictReason = 'local'
  /**
   * Dependents detached by a change, to drop when the outermost operation is
   * done: flat triples (key, replicated, reason), so a fan-out of 10,000
   * allocates no tuple per dependent.
   */
  readonly #cascade: Array<string | boolean> = []
  /** The reason of the change being walked, read by #enqueue. */
  #walkReason: EvictReason = 'local'
  /** The one visitor of every walk (no closure per change: every write and every cascaded drop passes here). */
  readonly #enqueue: DependentVisitor = (dependent, replicated) => { this.#cascade.push(dependent, replicated, this.#walkReason) }
  /** Nesting of `operation`. */
  #depth = 0

  constructor (host: DerivedHost<V>) {
    this.#host = host
  }

  /**
   * `key`'s state changed (a write, delete or invalidation, local or
   * remote): loads of it or based on it must not be cached, and its
   * transitive dependents go.
   */
  changed (key: string, reason: EvictReason): void {
    if (this.#loads !== undefined) this.#loads.changed(key)
    if (this.#deps !== undefined) {
      this.#walkReason = reason
      this.#deps.changed(key, this.#enqueue)
    }
  }

  /**
   * `key`'s replicated state changed beside a local-only value that stays
   * (SPEC §4 rule 2): as a base it changed, so loads based on it are kept out
   * and its dependents go, but its own edges stay with its value.
   */
  changedBeside (key: string, reason: EvictReason): void {
    if (this.#loads !== undefined) this.#loads.changed(key)
    if (this.#deps !== undefined) {
      this.#walkReason = reason
      this.#deps.changed(key, this.#enqueue, true)
    }
  }

  /** Every key changed (a namespace clear): no load in flight may store its result. */
  changedAll (): void {
    this.#loads?.changedAll()
  }

  /** `key`'s state changed but its value stays (our write won a conflict): only a load in flight is kept out. */
  changedKeepingValue (key: string): void {
    if (this.#loads !== undefined) this.#loads.changed(key)
  }

  /**
   * A value left the store: its edges and grace state go. Except a
   * replicated dependent's edges on a capacity eviction: the other replicas
   * still hold it and only this instance knows its edges, so they stay
   * until its deadline (dependencies.ts).
   */
  evicted (key: string, reason: EvictReason): void {
    const deps = this.#deps
    if (deps !== undefined) {
      const over = deps.release(key, reason === 'capacity' && deps.replicated(key) ? this.#host.heldElsewhereUntil(key) : 0)
      // Too many kept: the oldest is invalidated everywhere, as a cascade would (now, unless an operation runs).
      if (over !== undefined) this.operation(() => { this.#cascade.push(over, true, 'capacity') })
    }
    if (this.#loads !== undefined) this.#loads.forget(key)
  }

  /**
   * A local-only value replaces `key`'s here. If it was a replicated
   * dependent written here, the other replicas hold it and only this
   * instance knows its edges, which the new value replaces: it is
   * invalidated everywhere first, as `handOver` does at close.
   */
  replacedHere (key: string): void {
    if (this.#onlyEdgesHere(key)) this.#host.invalidate(key)
  }

  /** The periodic sweep, at `now`: edges kept for evicted replicated dependents go once those expired. */
  expire (now: number): void {
    this.#deps?.expire(now)
  }

  /**
   * The cache is closing: the replicated dependents whose edges only this
   * instance knows could not be invalidated by their bases' changes any
   * more, so they are invalidated everywhere now (SPEC §10). Returns how
   * many were (the closing cache then waits for its peers to confirm them).
   */
  handOver (): number {
    const deps = this.#deps
    if (deps === undefined) return 0
    const keys = deps.replicatedKeys().filter((key) => this.#onlyEdgesHere(key))
    if (keys.length === 0) return 0
    // One of them may be a base of another: its cascade invalidates that one first, and once is enough.
    this.operation(() => { for (const key of keys) if (deps.replicated(key)) this.#host.invalidate(key) })
    return keys.length
  }

  /**
   * Whether `key` is a replicated dependent written here whose value other
   * replicas may still hold (none do in invalidate mode: there a value lives
   * where it was written): only this instance's edges can reach them.
   */
  #onlyEdgesHere (key: string): boolean {
    return this.#deps?.replicated(key) === true && this.#host.heldElsewhereUntil(key) > this.#host.now()
  }

  /** Runs a public write or a frame: dependents detached meanwhile are dropped when the outermost one is done. */
  operation<T> (fn: () => T): T {
    this.enter()
    try {
      return fn()
    } finally {
      this.leave()
    }
  }

  /**
   * `operation` without its closure, for the paths every write and frame take (a closure and two calls fewer on
   * a cold CPU): `enter()`, then the work, then `leave()` in a `finally`.
   */
  enter (): void {
    this.#depth++
  }

  leave (): void {
    if (--this.#depth === 0 && this.#cascade.length !== 0) this.#runCascade()
  }

  /** The bases of a value (`dependsOn` and tags), checked for cycles before any state changes. */
  basesOf (key: string, dependsOn: string[] | undefined, tags: string[] | undefined, maxKeyBytes: number): string[] | undefined {
    const bases = resolveBases(dependsOn, tags, maxKeyBytes)
    if (bases !== undefined) this.graph().assertAcyclic(key, bases)
    return bases
  }

  graph (): DependencyGraph {
    return (this.#deps ??= new DependencyGraph(this.#host.maxKept))
  }

  /** Whether `key`'s value is served stale while it reloads (a hit must still go through the loader). */
  graced (key: string): boolean {
    return this.#loads !== undefined && this.#loads.graced(key)
  }

  load (key: string, fn: LoadFunction<unknown>, options: LoadOptions | undefined, stale: V | undefined): Promise<unknown> {
    return this.#loader().load(key, fn, options, stale)
  }

  /** Loads read (and fill) this tier from now on (lib/tiers/link.ts). */
  useTier (tier: LoaderTier<V>): void {
    this.#host.tier = tier
  }

  /** Size of the dependency graph and loads in flight (diagnostics, benchmarks). */
  stats (): { dependents: number, edges: number, loading: number } {
    return { dependents: this.#deps?.size ?? 0, edges: this.#deps?.edges ?? 0, loading: this.#loads?.inFlight ?? 0 }
  }

  /** The loader's counters for `stats()`. */
  loadStats (): { loads: number, loadsCoalesced: number, loadErrors: number, loadsDiscarded: number, staleServed: number } {
    const l = this.#loads
    return { loads: l?.calls ?? 0, loadsCoalesced: l?.coalesced ?? 0, loadErrors: l?.failed ?? 0, loadsDiscarded: l?.discarded ?? 0, staleServed: l?.staleServed ?? 0 }
  }

  close (): void {
    this.#loads?.close()
  }

  #runCascade (): void {
    this.#depth++ // writes made by the drops (or their listeners) queue behind
    const queue = this.#cascade
    // Taken by index, not shift(): shifting a queue of 10,000 dependents moved it once per dependent.
    let taken = 0
    try {
      while (taken < queue.length) {
        const key = queue[taken] as string
        const replicated = queue[taken + 1] as boolean
        this.#cascadeReason = queue[taken + 2] as EvictReason
        taken += 3
        this.#dropDependent(key, replicated)
      }
    } finally {
      if (taken === queue.length) queue.length = 0
      else queue.splice(0, taken)
      this.#cascadeReason = 'local'
      this.#depth--
    }
  }

  /** A dependent of a changed base: a replicated one is invalidated everywhere, any other dropped here. */
  #dropDependent (key: string, replicated: boolean): void {
    if (replicated && this.#host.invalidate(key)) return // its own change tells the loader
    this.#host.dropHere(key, this.#cascadeReason)
    if (this.#loads !== undefined) this.#loads.changed(key)
  }

  #loader (): Loads<V> {
    return (this.#loads ??= new Loads<V>({
      ...this.#host,
      graph: () => this.graph(),
      graphIfAny: () => this.#deps,
    }))
  }
}
