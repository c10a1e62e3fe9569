/**
 * Read-through loading behind `cache.getOrLoad` (docs/loading.md has the
 * rules). One flight per key: however many callers miss on a key, the
 * loader runs once, and every caller waits on that flight.
 *
 * The race guard (a reservation, as in Hazelcast's near cache): a flight
 * watches its key and the bases it will be stored under. Any change of one
 * of them (a write, delete or invalidation, local or remote, or a cascade)
 * detaches the flight: its value still reaches its callers, but it is not
 * stored, and a later caller starts a new flight instead of joining it.
 *
 * A loaded value is not a write: the host stores it locally, with no
 * sequence number and no broadcast.
 */
import { ErrorCode, MeshCacheError } from '../errors.ts'
import type { DependencyGraph } from './dependencies.ts'
import { abortedError, Flight, waitFor } from './flight.ts'
import { resolveLoadSettings, type LoadFunction, type LoadOptions, type LoadSettings } from './load-options.ts'

export type { LoadContext, LoadFunction, LoadOptions } from './load-options.ts'

/** What the cache lends the loader. */
export interface LoaderHost<V> {
  now: () => number
  maxTtl: number
  maxKeyBytes: number
  /** Most negative entries remembered at once (the cache's `max`). */
  maxNegative: number
  /** Throws like `set` does for a bad or reserved key, or a closed cache. */
  checkKey: (key: string) => void
  /** Validates a ttl (1 to maxTtl) and applies the default. */
  checkTtl: (ttl: number | undefined) => number
  /** The graph, created on first use. */
  graph: () => DependencyGraph
  /** The graph if it exists. */
  graphIfAny: () => DependencyGraph | undefined
  /** Stores a loaded value locally (not a write); false when the cache is closed. */
  store: (key: string, value: V, lifeMs: number) => boolean
  /** Drops a loaded value locally (the loader found nothing). */
  drop: (key: string) => void
  /**
   * A lower tier (an L2, through lib/tiers/link.ts): a flight reads it before
   * calling the loader, and fills it with what the loader returned (unless
   * the race guard kept the value out). Absent: the loader alone.
   */
  tier?: LoaderTier<V> | undefined
}

export interface LoaderTier<V> {
  /** Called as a load begins: what its fill will carry (SPEC §14.3). */
  begin (key: string, bases: string[] | undefined): TierLoadStart
  read (key: string, bases: string[] | undefined): Promise<{ value: V, expiresAt: number } | undefined>
  /** `expiresAt`: when the value stops being fresh (epoch ms): the tier copy must not outlive it. */
  fill (key: string, value: V, expiresAt: number, started: TierLoadStart, bases: string[] | undefined): void
}

export interface TierLoadStart { hlc: number, at: number, state: string }

const noop = (): void => {}

export class Loads<V extends {}> {
  readonly #host: LoaderHost<V>
  readonly #flights = new Map<string, Flight>()
  /** base → flights that will be stored under it. */
  readonly #watch = new Map<string, Set<Flight>>()
  /** key → when its loaded value stops being fresh (only values loaded with `grace`). */
  readonly #fresh = new Map<string, number>()
  /** key → until when "not found" is remembered, oldest first. */
  readonly #negative = new Map<string, number>()
  /** Loader calls made (each flight calls once). */
  calls = 0
  /** Callers that joined a load already running instead of starting one. */
  coalesced = 0
  /** Loads that failed (the error reached their callers; nothing was cached). */
  failed = 0
  /** Loads whose value was returned but not cached: the key or a base changed while they ran (the race rule). */
  discarded = 0
  /** Stale values served during their grace window while a refresh ran. */
  staleServed = 0

  /** Counts a stale value served at a caller's soft timeout (flight.ts). */
  readonly #servedStale = (): void => { this.staleServed++ }

  constructor (host: LoaderHost<V>) {
    this.#host = host
  }

  /** Flights running and still attached to their key. */
  get inFlight (): number {
    return this.#flights.size
  }

  /** On an L1 hit: whether the value is in its grace window (stale, to refresh). Cheap when no value has grace. */
  graced (key: string): boolean {
    if (this.#fresh.size === 0) return false
    const until = this.#fresh.get(key)
    return until !== undefined && this.#host.now() >= until
  }

  /** A miss (`stale` undefined) or a graced hit (`stale` the value to serve meanwhile). */
  load (key: string, fn: LoadFunction<unknown>, options: LoadOptions | undefined, stale: V | undefined): Promise<unknown> {
    let flight: Flight | undefined
    let s: LoadSettings
    try {
      this.#host.checkKey(key)
      if (typeof fn !== 'function') throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `loader of key ${JSON.stringify(key)} must be a function`)
      s = resolveLoadSettings(options, this.#host)
      if (s.signal?.aborted === true) return Promise.reject(abortedError(key, s.signal))
      if (stale === undefined && this.#negativeHit(key)) return Promise.resolve(undefined)
      flight = this.#flights.get(key)
      if (flight !== undefined) this.coalesced++
      else flight = this.#start(key, fn, s, stale !== undefined)
    } catch (error) {
      return Promise.reject(error)
    }
    if (stale !== undefined) {
      flight.firm = true // the refresh serves the cache, not only its callers
      if (s.softTimeout === 0) {
        this.staleServed++
        return Promise.resolve(stale)
      }
      return waitFor(flight, s, stale, this.#servedStale, (reason) => this.#abort(flight, reason))
    }
    if (s.signal === undefined && s.timeout === undefined) {
      flight.firm = true
      return flight.promise
    }
    return waitFor(flight, s, undefined, this.#servedStale, (reason) => this.#abort(flight, reason))
  }

  /**
   * `key` changed (write, delete, invalidation, cascade; local or remote):
   * flights of it or based on it are detached (returned, never stored), and
   * its freshness and negative entry are forgotten.
   */
  changed (key: string): void {
    if (this.#fresh.size !== 0) this.#fresh.delete(key)
    if (this.#negative.size !== 0) this.#negative.delete(key)
    if (this.#flights.size === 0) return
    const own = this.#flights.get(key)
    if (own !== undefined) this.#detach(own)
    const watching = this.#watch.get(key)
    if (watching !== undefined) for (const f of [...watching]) this.#detach(f)
  }

  /** Every key changed (a namespace clear): no flight in the air may store its result. */
  changedAll (): void {
    for (const f of [...this.#flights.values()]) this.#detach(f)
    this.#fresh.clear()
    this.#negative.clear()
  }

  /** `key`'s value left the cache (TTL, capacity, eviction). */
  forget (key: string): void {
    if (this.#fresh.size !== 0) this.#fresh.delete(key)
  }

  /** Cache closed: callers still waiting get their loader's result, nothing is stored. */
  close (): void {
    for (const f of [...this.#flights.values()]) this.#detach(f)
    this.#fresh.clear()
    this.#negative.clear()
  }

  #start (key: string, fn: LoadFunction<unknown>, s: LoadSettings, refresh: boolean): Flight {
    if (s.bases !== undefined) this.#host.graph().assertAcyclic(key, s.bases)
    const flight = new Flight(key, s, this.#host.now())
    this.#flights.set(key, flight)
    if (s.bases !== undefined) {
      const graph = this.#host.graph()
      for (const b of s.bases) {
        let set = this.#watch.get(b)
        if (set === undefined) {
          set = new Set()
          this.#watch.set(b, set)
        }
        set.add(flight)
        // A base evicted while we load must keep its own edges, or the chain
        // through it breaks before we link to it.
        graph.pin(b)
      }
      flight.pinned = true
    }
    const tier = this.#host.tier
    let result: unknown
    if (tier !== undefined && refresh) {
      // A refresh in the grace window goes to the loader: the tier's copy is as old as the one being refreshed.
      flight.started = tier.begin(key, s.bases)
      result = this.#call(flight, fn)
    } else if (tier === undefined) {
      result = this.#call(flight, fn)
    } else {
      // The tier's lookup is part of the flight: however many callers miss, one tier read.
      flight.started = tier.begin(key, s.bases)
      result = tier.read(key, s.bases).then((hit) => {
        if (flight.cancelled) return undefined // every caller left while the tier was read: no loader call for nobody
        if (hit === undefined || flight.stale) return this.#call(flight, fn)
        flight.fromTier = true
        flight.tierExpiresAt = hit.expiresAt
        return hit.value
      })
    }
    flight.promise = Promise.resolve(result).then(
      (value) => this.#landed(flight, value),
      (error: unknown) => {
        this.#unhook(flight)
        this.failed++
        throw error
      },
    )
    flight.promise.catch(noop) // callers that left (timeout, abort, stale served) must not leave it unhandled
    return flight
  }

  /** Calls the loader once for the flight. */
  #call (flight: Flight, fn: LoadFunction<unknown>): unknown {
    this.calls++
    try {
      return fn(flight.key, { signal: flight.controller.signal })
    } catch (error) {
      return Promise.reject(error)
    }
  }

  #landed (flight: Flight, loaded: unknown): unknown {
    // The pins go only once the value is linked (or not stored): until then a
    // base evicted meanwhile must keep its edges.
    this.#unhook(flight, true)
    try {
      return this.#store(flight, loaded)
    } finally {
      this.#unpin(flight)
    }
  }

  #store (flight: Flight, loaded: unknown): unknown {
    const value = loaded === null ? undefined : loaded
    if (flight.stale) {
      this.discarded++
      return value
    }
    const { key, s } = flight
    const graph = s.bases === undefined ? this.#host.graphIfAny() : this.#host.graph()
    if (s.bases !== undefined) {
      // The graph moved while loading: a value that would close a cycle is returned, not stored.
      try { graph?.assertAcyclic(key, s.bases) } catch { return value }
    }
    // Lifetimes run from the load's start (see Flight.startedAt).
    const now = this.#host.now()
    const started = flight.startedAt
    if (value === undefined) {
      this.#host.drop(key) // a stale value in grace: the source says it is gone
      if (s.negativeTtl > 0 && started + s.negativeTtl > now) this.#storeNegative(key, s, graph, started)
      return value
    }
    if (this.#negative.size !== 0) this.#negative.delete(key)
    // A value from the tier was read from the source earlier, by whoever filled it: it ends with its tier copy.
    const lifeMs = flight.fromTier ? Math.min(started + s.ttl + s.grace, flight.tierExpiresAt) - now : started + s.ttl + s.grace - now
    if (lifeMs <= 0) {
      this.#host.drop(key) // a stale value in grace must not outlive its refresh either
      return value
    }
    // Edges before the value: storing it may evict one of its bases for
    // capacity, and a base with a dependent keeps its own edges (chains).
    if (s.bases !== undefined) graph?.link(key, s.bases, false)
    else graph?.unlink(key)
    if (!this.#host.store(key, value as V, lifeMs)) return value
    // The tier gets the fresh part of the value's life only, from the load's start: no instance may
    // read it from there once it is stale, nor keep it past ttl after the source was read.
    if (!flight.fromTier && flight.started !== undefined && started + s.ttl > now) this.#host.tier?.fill(key, value as V, started + s.ttl, flight.started, s.bases)
    if (s.grace > 0) this.#fresh.set(key, started + s.ttl)
    else if (this.#fresh.size !== 0) this.#fresh.delete(key)
    return value
  }

  #storeNegative (key: string, s: LoadSettings, graph: DependencyGraph | undefined, started: number): void {
    if (!this.#negative.delete(key) && this.#negative.size >= this.#host.maxNegative) {
      const oldest = this.#negative.keys().next().value as string
      this.#negative.delete(oldest)
      graph?.release(oldest)
    }
    this.#negative.set(key, started + s.negativeTtl)
    if (s.bases !== undefined) graph?.link(key, s.bases, false)
    else graph?.unlink(key)
  }

  #negativeHit (key: string): boolean {
    if (this.#negative.size === 0) return false
    const until = this.#negative.get(key)
    if (until === undefined) return false
    if (this.#host.now() < until) return true
    this.#negative.delete(key)
    this.#host.graphIfAny()?.release(key)
    return false
  }

  /** Every caller aborted: cancel the loader and forget the flight. */
  #abort (flight: Flight, reason: unknown): void {
    this.#detach(flight)
    flight.cancelled = true
    flight.controller.abort(reason)
  }

  /**
   * A detached flight's value is stale, so flights that will be stored
   * under its key (it is in their declared bases) are stale too.
   */
  #detach (flight: Flight): void {
    flight.stale = true
    this.#unhook(flight)
    const watching = this.#watch.get(flight.key)
    if (watching !== undefined) for (const f of [...watching]) if (!f.stale) this.#detach(f)
  }

  #unhook (flight: Flight, keepPins = false): void {
    if (this.#flights.get(flight.key) === flight) this.#flights.delete(flight.key)
    const bases = flight.s.bases
    if (bases === undefined) return
    for (const b of bases) {
      const set = this.#watch.get(b)
      if (set !== undefined && set.delete(flight) && set.size === 0) this.#watch.delete(b)
    }
    if (!keepPins) this.#unpin(flight)
  }

  /** Releases the flight's pins on its bases (once). */
  #unpin (flight: Flight): void {
    if (!flight.pinned) return
    flight.pinned = false
    const graph = this.#host.graphIfAny()
    for (const b of flight.s.bases ?? []) graph?.unpin(b)
  }
}
