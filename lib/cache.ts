/**
 * MeshCache: an in-process cache whose instances keep each other coherent.
 *
 * Reads touch only the local LRU. Writes (set, delete, invalidate) change
 * local state at once and leave, batched per synchronous run, as UPDATES
 * frames numbered by this instance's sequence. Incoming records are merged by
 * version vector by the replica (lib/core/replica.ts, the rule itself in
 * lib/core/merge.ts and SPEC.md §4); gaps in an origin's sequence and every
 * (re)connection start anti-entropy. This class is the public API and
 * its docs; its parts and their wiring (replica ↔ transport, anti-entropy,
 * membership, loads, tier, events) are in lib/wiring.ts.
 */
import { RecordKind, type RecordKindValue } from '../protocol/constants.ts'
import type { Store } from './core/store.ts'
import { READY_OPTION_NAMES, TIMEOUT_OPTION_NAMES, checkKey, checkOptionsArgument, checkSetArguments, checkTimeout, type ReadyOptions, type TimeoutOptions } from './arguments.ts'
import { LOAD_OPTION_NAMES } from './loading/load-options.ts'
import type { ResolvedOptions } from './options.ts'
import type { PeerInfo } from './sync/membership.ts'
import type { Derived } from './loading/derived.ts'
import type { LoadFunction, LoadOptions } from './loading/loader.ts'
import { assertUserKey, tagKey } from './loading/tags.ts'
import type { Transport } from './net/transport.ts'
import { MeshCacheEmitter } from './event-emitter.ts'
import type { MeshLogger } from './observe/logger.ts'
import { allEntries, inspectEntry, type EntryView } from './observe/inspect.ts'
import type { CacheStats, Counters } from './observe/stats.ts'
import { auditRunning, startAudit, type Audit, type AuditOptions, type AuditStats } from './observe/audit.ts'
import type { Tier } from './tiers/tier.ts'
import { Wiring } from './wiring.ts'

/** The read path's hook while no audit runs (lru-cache style: a no-op field, replaced when the feature is on). */
const NO_HIT_HOOK = (_key: string, _value: unknown): void => {}

export type { EntryView } from './observe/inspect.ts'

export interface SetOptions {
  /** Milliseconds this value lives; at most the cache's `maxTtl`. @default the cache's `ttl` */
  ttl?: number | undefined
  /** Keep the key on this instance only: it is never sent, and no remote message touches it. @default false */
  local?: boolean | undefined
  /**
   * Keys this value is derived from. A write, delete or invalidation of any
   * of them (here or on any instance) evicts this value, transitively. An
   * edge that would close a cycle is refused with E_DEPENDENCY_CYCLE and
   * nothing changes. @default none
   */
  dependsOn?: string[] | undefined
  /** Tags: `invalidateTag(t)` on any instance evicts every value tagged `t`. @default none */
  tags?: string[] | undefined
}

export type { ChangeEvent, FrameErrorEvent, MeshCacheEventPayloads, MeshCacheEvents, PeerEvent } from './events.ts'

export class MeshCache<V extends {} = {}> extends MeshCacheEmitter {
  /** This instance's origin id: node id and incarnation. */
  readonly origin: string
  readonly namespace: string
  readonly #o: ResolvedOptions<V>
  /** The parts and their wiring (lib/wiring.ts): replica, sync, loads, tier, transport. */
  readonly #w: Wiring<V>
  // The parts the API uses most, held directly: one field load less per call.
  readonly #store: Store<V>
  /** The store's LRU: the read path's one lookup. */
  readonly #lru: Store<V>['lru']
  readonly #counters: Counters
  readonly #derived: Derived<V>
  /**
   * An injected clock does not drive timers: reads check deadlines
   * themselves (Store explains). Nor does a closed cache's stopped timer, so
   * close() turns this on: TTL stays exact on what it still serves (SPEC §9).
   */
  #readsCheckClock: boolean
  /** Called with every hit that returns a value: a no-op unless an audit runs (lib/observe/audit.ts). */
  #onHit: (key: string, value: V) => void = NO_HIT_HOOK
  #audit: Audit<V> | undefined
  /** What `set` checks its arguments against (lib/arguments.ts). */
  readonly #setLimits: { maxKeyBytes: number, ttl: number, maxTtl: number }

  /** Use `createMeshCache`; the constructor does not join the transport. */
  constructor (options: ResolvedOptions<V>, transport: Transport, ownsTransport: boolean) {
    super()
    this.#o = options
    this.#setLimits = { maxKeyBytes: options.limits.maxKeyBytes, ttl: options.ttl, maxTtl: options.maxTtl }
    this.namespace = options.namespace
    this.#w = new Wiring<V>(options, transport, ownsTransport, this, this.eventSink())
    this.origin = this.#w.origin
    this.#store = this.#w.store
    this.#lru = this.#store.lru
    this.#counters = this.#w.counters
    this.#derived = this.#w.derived
    this.#readsCheckClock = options.injectedClock
  }

  /** The lower tier (the L2) this cache reads and writes through, if any. */
  get tier (): Tier<V> | undefined {
    return this.#w.link?.tier
  }

  /** Joins the namespace on the transport and starts the timers. Called by `createMeshCache`. */
  async start (): Promise<this> {
    await this.#w.start()
    return this
  }

  // ---- reads: the hot path allocates nothing ----

  /** With an injected clock, a read first drops what is due (Store explains why only then). */
  #beforeRead (): void {
    if (this.#readsCheckClock) this.#store.expireIfDue()
  }

  /** The value of `key`, or `undefined`. Synchronous: one local LRU lookup. */
  get (key: string): V | undefined {
    this.#beforeRead()
    const value = this.#lru.get(key)
    if (value === undefined) {
      // Checked on a miss only: a key that is not a non-empty string is never held, so hits pay nothing.
      if (typeof key !== 'string' || key === '') checkKey(key, this.#o.limits.maxKeyBytes)
      this.#counters.misses++
    } else {
      this.#counters.hits++
      this.#onHit(key, value)
    }
    return value
  }

  /** Whether `key` has a live value here (does not refresh its recency). */
  has (key: string): boolean {
    this.#beforeRead()
    const found = this.#lru.has(key)
    if (found) {
      this.#counters.hits++
    } else {
      if (typeof key !== 'string' || key === '') checkKey(key, this.#o.limits.maxKeyBytes)
      this.#counters.misses++
    }
    return found
  }

  /**
   * The value of `key` as `get` returns it, but as lru-cache's `peek` does:
   * its recency is not refreshed and no hit or miss is counted, so
   * diagnostics and tests can look without changing what is evicted next.
   */
  peek (key: string): V | undefined {
    this.#beforeRead()
    const value = this.#lru.peek(key)
    if (value === undefined && (typeof key !== 'string' || key === '')) checkKey(key, this.#o.limits.maxKeyBytes)
    return value
  }

  /** How many values are held here (local-only and loaded ones included; tombstones are not values). */
  get size (): number {
    this.#beforeRead()
    return this.#lru.size
  }

  /**
   * The keys whose value is held here, most recently used first (as
   * lru-cache's `keys`). A live view: spread it (`[...cache.keys()]`) before
   * writing or deleting while going through it.
   */
  keys (): Generator<string, void, unknown> {
    this.#beforeRead()
    return this.#lru.keys()
  }

  // ---- writes: local at once, propagation asynchronous ----

  /** Stores `value` under `key` here at once; peers hear of it with the next batch (unless `local`). */
  set (key: string, value: V, options?: SetOptions): this {
    return this.#derived.operation(() => this.#set(key, value, options))
  }

  #set (key: string, value: V, options?: SetOptions): this {
    this.#w.assertOpen()
    const ttl = checkSetArguments(key, value, options, this.#setLimits)
    // Checked before any state changes: a refused edge (a cycle) changes nothing.
    const bases = options === undefined ? undefined : this.#derived.basesOf(key, options.dependsOn, options.tags, this.#o.limits.maxKeyBytes)
    this.#w.write(key, value, ttl, bases, options?.local === true)
    return this
  }

  /** Deletes `key` here and everywhere. Returns whether a value was held here. */
  delete (key: string): boolean {
    assertUserKey(key)
    return this.#remove(key, RecordKind.DELETE)
  }

  /** Drops every copy of `key` without writing a new value. Returns whether a value was held here. */
  invalidate (key: string): boolean {
    assertUserKey(key)
    return this.#remove(key, RecordKind.INVALIDATE)
  }

  /**
   * The value of `key`; on a miss, `loader` reads it (once per key however
   * many callers wait) and it is stored here only: a load is not a write, no
   * peer hears of it. A write or invalidation of the key (or of a base)
   * made while the load runs keeps its result out of the cache.
   * docs/loading.md has every rule.
   */
  getOrLoad<R extends V | undefined = V> (key: string, loader: LoadFunction<R>, options?: LoadOptions): Promise<R> {
    try {
      this.#w.assertOpen() // SPEC §9: a closed cache neither loads nor serves through getOrLoad
      if (typeof key !== 'string' || key === '') checkKey(key, this.#o.limits.maxKeyBytes)
      checkOptionsArgument('getOrLoad', options, LOAD_OPTION_NAMES)
    } catch (error) {
      return Promise.reject(error)
    }
    this.#beforeRead()
    const value = this.#lru.get(key)
    if (value !== undefined) {
      this.#counters.hits++
      this.#onHit(key, value)
      if (!this.#derived.graced(key)) return Promise.resolve(value as R)
    } else {
      this.#counters.misses++
    }
    return this.#derived.load(key, loader, options, value) as Promise<R>
  }

  /** Evicts every value tagged `tag`, here and, through a replicated invalidation of the tag, on every instance. */
  invalidateTag (tag: string): void {
    this.#remove(tagKey(tag), RecordKind.INVALIDATE)
  }

  /** Size of this instance's dependency graph: dependents held and their edges (diagnostics, benchmarks). */
  dependencyStats (): { dependents: number, edges: number, loading: number } {
    return this.#derived.stats()
  }

  /** Starts anti-entropy with every connected peer now (it also runs on connect, on gaps and periodically). */
  sync (): void {
    this.#w.assertOpen()
    for (const peer of this.#w.connectedPeers()) this.#w.repl.request(peer, true)
  }

  /** Drops expired values, tombstones older than the horizon and departed origins now (a timer also does it). */
  purgeStale (): void {
    this.#w.purgeStale()
  }

  /**
   * This instance's counters and sizes. `metadataBytes` walks every key's
   * metadata (~1 ms per 100k keys); `{ metadataBytes: false }` skips the
   * walk and reports -1, for callers that read often (shareStats, once a
   * second).
   */
  stats (options?: { metadataBytes?: boolean }): CacheStats {
    return this.#w.stats(options?.metadataBytes !== false)
  }

  /** The replicated state of `key`, or undefined for an unknown key (a local-only value is not replicated state; the key's state beside it is). */
  inspect (key: string): EntryView | undefined {
    return inspectEntry(this.#store, key)
  }

  /** Every replicated key's state, sorted by key: what replicas compare after they converge. */
  metadata (): Array<[string, EntryView]> {
    return allEntries(this.#store)
  }

  /**
   * Starts the staleness audit (lib/observe/audit.ts): a sample of hits is
   * re-read from `options.source` in the background, and a hit that served
   * a value the source had replaced more than `grace` ms before emits
   * `stale`. One audit at a time; `stop()` it to start another.
   */
  audit (options: AuditOptions<V>): Audit<V> {
    this.#w.assertOpen()
    if (this.#audit !== undefined) throw auditRunning()
    const audit = startAudit(this, options, this.#o.now, (event) => this.emitSafely('stale', event), () => {
      if (this.#audit !== audit) return
      this.#audit = undefined
      this.#onHit = NO_HIT_HOOK
    })
    this.#audit = audit
    this.#onHit = audit.onHit
    return audit
  }

  /** The running audit's counters, or undefined when none runs. */
  auditStats (): AuditStats | undefined {
    return this.#audit === undefined ? undefined : { ...this.#audit.counts }
  }

  /** The region this instance announces (the `region` option). */
  get region (): string {
    return this.#o.region
  }

  /** Live members of this namespace (announced within the last 30 s), with their region and sequence summary. */
  peers (): PeerInfo[] {
    if (this.#w.closed) return []
    return this.#w.repl.peers(new Set(this.connectedPeers()))
  }

  /**
   * Puts `meta[name] = value` into this instance's membership state, which
   * every peer then sees in its `peers()` (at once, and with every renewal);
   * `undefined` removes the name. For what other instances should know of
   * this one: an address, a role, a version. The value must be
   * JSON-serializable, and all names and values together at most 2 KiB as
   * JSON: E_INVALID_ARGUMENT otherwise, and nothing changes.
   */
  advertise (name: string, value: unknown): void {
    this.#w.assertOpen()
    this.#w.repl.advertise(name, value)
  }

  /** Peers reachable in this namespace (transport ids). */
  connectedPeers (): string[] {
    return this.#w.connectedPeers()
  }

  /** `await using cache = await createMeshCache(…)` closes it at the end of the scope. */
  async [Symbol.asyncDispose] (): Promise<void> {
    await this.close()
  }

  /**
   * Resolves once at least `peers` peers are connected in this namespace
   * (default 1). Otherwise rejects after `timeout` ms (default 10,000) with
   * E_READY_TIMEOUT, listing the bootstrap addresses and the failed attempts
   * (`peer:error`) with their codes.
   */
  ready (options: ReadyOptions = {}): Promise<void> {
    try {
      this.#w.assertOpen()
      checkOptionsArgument('ready', options, READY_OPTION_NAMES)
    } catch (error) {
      return Promise.reject(error)
    }
    return this.#w.peerWait.wait(options)
  }

  /**
   * Resolves once every peer connected at the call has applied every write
   * this instance made before the call (SPEC §5.1): then no instance serves
   * an older value of those keys. Rejects after `timeout` ms (default
   * 5,000) with E_REPLICATION_TIMEOUT naming the peers that did not confirm.
   */
  whenReplicated (options: TimeoutOptions = {}): Promise<void> {
    let timeout: number
    try {
      this.#w.assertOpen()
      checkOptionsArgument('whenReplicated', options, TIMEOUT_OPTION_NAMES)
      timeout = checkTimeout('whenReplicated', options.timeout, 5_000)
    } catch (error) {
      return Promise.reject(error)
    }
    return this.#w.acks.whenReplicated(timeout)
  }

  /**
   * Drops every key of the namespace, here and on every instance, as one
   * replicated write (SPEC §4.1): every key whose winning write is older
   * than the clear goes; writes made after it stay. Loads in flight are not
   * cached; loaded values held go too. Local-only values (`set(…, { local:
   * true })`) are outside the mesh and stay: delete them yourself.
   */
  clear (): void {
    this.#derived.operation(() => {
      this.#w.assertOpen()
      this.#w.clear()
    })
  }

  /** The logger this cache writes to (the `logger` option, or the `debug` default), for plug-ins such as change sources. */
  get logger (): MeshLogger {
    return this.#o.logger
  }

  /** Addresses other nodes can dial, when the transport has any. */
  multiaddrs (): string[] {
    return this.#w.transport.multiaddrs?.() ?? []
  }

  /**
   * Runs `hook` when the cache closes, before its transport goes (a change
   * source stops reading and releases its database connections); `close()`
   * waits for it. Returns a function that removes the hook.
   */
  onClose (hook: () => Promise<void>): () => void {
    return this.#w.onClose(hook)
  }

  /**
   * Leaves the mesh. Afterwards reads (`get`, `has`, `peek`, `size`, `keys`)
   * still serve what is held, each checking expiry itself (the timers are
   * stopped), so nothing outlives its TTL; diagnostics (`stats`, `inspect`,
   * `metadata`) work; `peers()` and `connectedPeers()` are empty; every
   * write, `getOrLoad`, `sync`, `clear`, `ready` and `whenReplicated` fails
   * with E_CLOSED (SPEC §9). A second call settles when the first does. In
   * replicate mode it first invalidates, everywhere, the replicated
   * dependents whose edges only this instance knows, and waits up to
   * `timeout` ms (default 2,000) for the connected peers to confirm that
   * (SPEC §10); one that does not is named in a warning in the log.
   */
  async close (options: TimeoutOptions = {}): Promise<void> {
    checkOptionsArgument('close', options, TIMEOUT_OPTION_NAMES)
    const timeout = checkTimeout('close', options.timeout, 2_000)
    await this.#w.close(() => {
      this.#audit?.stop()
      this.#readsCheckClock = true
    }, timeout)
  }

  /** A delete or invalidation, as one operation (Derived.operation, without its closure: every such write runs this). */
  #remove (key: string, kind: RecordKindValue): boolean {
    this.#w.assertOpen()
    checkKey(key, this.#o.limits.maxKeyBytes)
    const derived = this.#derived
    derived.enter()
    try {
      return this.#w.replica.remove(key, kind)
    } finally {
      derived.leave()
    }
  }
}
