/**
 * MeshCache: an in-process cache whose instances keep each other coherent.
 *
 * Reads touch only the local LRU. Writes (set, delete, invalidate) change
 * local state at once and leave, batched per synchronous run, as UPDATES
 * frames numbered by this instance's sequence. Incoming records are merged by
 * version vector by the replica (lib/core/replica.ts, the rule itself in
 * lib/core/merge.ts and SPEC.md §4); gaps in an origin's sequence and every
 * (re)connection start anti-entropy. This class is the public API and the
 * wiring: replica ↔ transport, anti-entropy, membership, loader and events.
 */
import { RecordKind, type RecordKindValue } from '../protocol/constants.ts'
import { newIncarnation } from './core/incarnation.ts'
import { Replica } from './core/replica.ts'
import type { Store, EvictReason } from './core/store.ts'
import { checkKey, checkOptionsArgument, checkSetArguments, checkTimeout, checkTtl } from './arguments.ts'
import { ErrorCode, MeshCacheError } from './errors.ts'
import type { ResolvedOptions } from './options.ts'
import { dispatchFrame, type FrameRoutes } from './sync/dispatch.ts'
import { Replication } from './sync/replication.ts'
import type { PeerInfo } from './sync/membership.ts'
import { Outbox } from './sync/outbox.ts'
import { Derived } from './loading/derived.ts'
import type { LoadFunction, LoadOptions } from './loading/loader.ts'
import { assertUserKey, tagKey } from './loading/tags.ts'
import type { Channel, FrameHandler, Transport } from './net/transport.ts'
import { MeshCacheEmitter } from './event-emitter.ts'
import { ReplicationAcks } from './sync/replication-acks.ts'
import { PeerWaiters } from './sync/peer-wait.ts'
import type { MeshLogger } from './observe/logger.ts'
import { allEntries, inspectEntry, metadataBytes, type EntryView } from './observe/inspect.ts'
import { Counters, type CacheStats } from './observe/stats.ts'
import { auditRunning, startAudit, type Audit, type AuditOptions, type AuditStats } from './observe/audit.ts'
import { addMetricSource } from './observe/exporter.ts'
import { tierMetricSource } from './observe/tier-metrics.ts'
import { attachTier, type TierLink } from './tiers/link.ts'
import type { Tier, TierFailure } from './tiers/tier.ts'
import { jsonCodec, resolveCodec, type ValueCodec } from './value-codec.ts'

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
  /** The replicated state of the namespace (lib/core/replica.ts): merges, local writes, retirement. */
  readonly #replica: Replica<V>
  readonly #store: Store<V>
  /** The store's LRU, held directly: one field load less on the read path. */
  readonly #lru: Store<V>['lru']
  /**
   * An injected clock does not drive timers: reads check deadlines
   * themselves (Store explains). Nor does a closed cache's stopped timer, so
   * close() turns this on: TTL stays exact on what it still serves (SPEC §9).
   */
  #readsCheckClock: boolean
  readonly #counters = new Counters()
  readonly #outbox: Outbox
  /** Anti-entropy and membership (lib/sync/replication.ts). */
  readonly #repl: Replication<V>
  /** Read-through loads and dependents (lib/loading/derived.ts). */
  readonly #derived: Derived<V>
  readonly #ownsTransport: boolean
  #transport: Transport
  #channel: Channel | undefined
  #closed = false
  #timers: NodeJS.Timeout[] = []
  /** Called with every hit that returns a value: a no-op unless an audit runs (lib/observe/audit.ts). */
  #onHit: (key: string, value: V) => void = NO_HIT_HOOK
  #audit: Audit<V> | undefined
  readonly #log: MeshLogger
  /** whenReplicated(): ACK_REQUEST / ACK (lib/sync/replication-acks.ts). */
  readonly #acks: ReplicationAcks
  /** ready(): waiting for peers (lib/sync/peer-wait.ts). */
  readonly #peerWait: PeerWaiters
  #stopPeerErrors: (() => void) | undefined
  /** The lower tier (an L2), if one is configured: lib/tiers/link.ts is all the cache knows of it. */
  readonly #link: TierLink<V> | undefined
  /** Run at close, before the transport goes: attached features (change sources) release their connections. */
  readonly #closeHooks = new Set<() => Promise<void>>()
  /** Where incoming frames go (lib/sync/dispatch.ts). */
  readonly #routes: FrameRoutes<V>
  /** What `set` checks its arguments against (lib/arguments.ts). */
  readonly #setLimits: { maxKeyBytes: number, ttl: number, maxTtl: number }

  /** Use `createMeshCache`; the constructor does not join the transport. */
  constructor (options: ResolvedOptions<V>, transport: Transport, ownsTransport: boolean) {
    super()
    this.#o = options
    this.#setLimits = { maxKeyBytes: options.limits.maxKeyBytes, ttl: options.ttl, maxTtl: options.maxTtl }
    this.namespace = options.namespace
    this.#transport = transport
    this.#ownsTransport = ownsTransport
    this.origin = `${options.nodeId}~${newIncarnation(options.now())}`
    this.#log = options.logger
    this.#replica = new Replica<V>(options, this.origin, this.#counters, {
      changed: (key, reason) => this.#derived.changed(key, reason),
      changedKeepingValue: (key) => this.#derived.changedKeepingValue(key),
      changedBeside: (key, reason) => this.#derived.changedBeside(key, reason),
      applied: (key, kind, source) => this.emitChange(key, kind, source),
      queue: (seq, record) => {
        this.#outbox.push(seq, record)
        // Every local delete and invalidation (cascades included) passes here; a set goes through in #set, with its value.
        if (this.#link !== undefined && record.kind !== RecordKind.SET) this.#link.removed(record.key, record.hlc, record.writer)
      },
      evicted: (key, reason) => this.#evicted(key, reason),
      refused: (from, error) => this.#protocolError(from, error),
      members: () => this.#repl.members(),
      clearing: () => this.#derived.changedAll(),
    })
    this.#store = this.#replica.store
    this.#lru = this.#store.lru
    this.#readsCheckClock = options.injectedClock
    this.#outbox = new Outbox(this.origin, options.limits.maxRecords, (frame) => this.#broadcast(frame), options.limits.maxOrigins)
    this.#repl = new Replication(this.#replica, options, {
      connected: () => this.#channel?.peers() ?? [],
      send: (peer, frame) => this.#send(peer, frame),
      broadcast: (frame) => this.#broadcast(frame),
      partial: () => this.#channel?.partial?.() === true,
    })
    this.#derived = new Derived<V>({
      now: options.now,
      maxTtl: options.maxTtl,
      maxKeyBytes: options.limits.maxKeyBytes,
      maxNegative: options.max,
      checkKey: (key) => {
        this.#assertOpen()
        checkKey(key, options.limits.maxKeyBytes)
        assertUserKey(key)
      },
      checkTtl: (ttl) => checkTtl(ttl, options.ttl, options.maxTtl),
      store: (key, value, lifeMs) => {
        if (this.#closed) return false
        this.#replica.storeLoaded(key, value, lifeMs)
        return true
      },
      drop: (key) => { this.#store.dropValue(key, 'local') },
      invalidate: (key) => {
        if (this.#closed) return false
        this.#remove(key, RecordKind.INVALIDATE)
        return true
      },
      dropHere: (key, reason) => {
        this.#replica.forgetPlaceholder(key)
        this.#store.dropValue(key, reason)
      },
      tier: undefined,
    })
    this.#peerWait = new PeerWaiters({ connected: () => this.connectedPeers().length, namespace: this.namespace, bootstrap: options.bootstrap })
    this.#acks = new ReplicationAcks({
      origin: this.origin,
      issued: () => this.#replica.seq,
      flush: () => this.#outbox.flush(),
      peers: () => this.connectedPeers(),
      send: (peer, frame) => this.#send(peer, frame),
      contiguous: (origin) => this.#replica.tracker.contiguous(origin),
    })
    this.#routes = { limits: options.limits, replica: this.#replica, repl: this.#repl, acks: this.#acks }
    this.#link = options.tier === undefined ? undefined : this.#attachTier(options.tier)
  }

  #attachTier (tier: Tier<V>): TierLink<V> {
    const link = attachTier(tier, {
      namespace: this.namespace,
      // The L2 keeps its own default, JSON (its records are read by any client); a named or custom codec applies to both.
      codec: this.#o.codec === undefined ? jsonCodec as ValueCodec<V> : resolveCodec(this.#o.codec),
      now: this.#o.now,
      maxTtl: this.#o.maxTtl,
      onFailure: (failure) => {
        if (this.listenerCount('tierError') > 0) this.emitSafely('tierError', failure satisfies TierFailure)
      },
      state: (key) => {
        const e = this.#store.meta.get(key)
        return e === undefined || e.isPlaceholder ? undefined : { hlc: e.hlc, writer: e.writer, removed: e.kind !== RecordKind.SET }
      },
      floor: () => this.#replica.clears.at, // the namespace clear horizon (SPEC §4.1): older L2 records are not served
    })
    this.#derived.useTier(link)
    addMetricSource(this, tierMetricSource({ name: tier.name, stats: () => link.stats() })) // its figures reach the exporters
    return link
  }

  /** The lower tier (the L2) this cache reads and writes through, if any. */
  get tier (): Tier<V> | undefined {
    return this.#link?.tier
  }

  /** Joins the namespace on the transport and starts the timers. Called by `createMeshCache`. */
  async start (): Promise<this> {
    const handler: FrameHandler = {
      onFrame: (from, frame) => this.#onFrame(from, frame),
      onPeerUp: (peer) => {
        if (this.#closed) return
        this.#repl.peerUp(peer)
        this.emitSafely('peer:join', { peer })
        this.#peerWait.joined()
      },
      onPeerDown: (peer) => {
        this.#repl.peerDown(peer)
        this.#acks.peerGone(peer)
        if (!this.#closed) this.emitSafely('peer:leave', { peer })
      },
    }
    this.#stopPeerErrors = this.#transport.onPeerError?.((event) => {
      if (this.#closed) return
      this.#peerWait.failed(event)
      this.#log.warn({ address: event.address, code: event.error.code }, event.error.message)
      this.emitSafely('peer:error', event)
    })
    try {
      this.#channel = await this.#transport.join(this.namespace, handler)
    } catch (cause) {
      throw new MeshCacheError(ErrorCode.TRANSPORT, `cannot join namespace ${JSON.stringify(this.namespace)}`, { cause })
    }
    this.#repl.start(this.namespace)
    this.#every(this.#o.gcInterval, () => this.purgeStale())
    this.#every(this.#o.announceInterval, () => this.#repl.announceTick())
    if (this.#o.syncInterval > 0) this.#every(this.#o.syncInterval, () => this.#repl.periodicRound())
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

  set (key: string, value: V, options?: SetOptions): this {
    return this.#derived.operation(() => this.#set(key, value, options))
  }

  #set (key: string, value: V, options?: SetOptions): this {
    this.#assertOpen()
    const ttl = checkSetArguments(key, value, options, this.#setLimits)
    // Checked before any state changes: a refused edge (a cycle) changes nothing.
    const bases = options === undefined ? undefined : this.#derived.basesOf(key, options.dependsOn, options.tags, this.#o.limits.maxKeyBytes)
    if (options?.local === true) {
      // The key's replicated state stays (without a value): dropping it would
      // leave sequence numbers counted here that no metadata stands for.
      this.#replica.forgetPlaceholder(key)
      this.#derived.changed(key, 'local')
      // Edges before the value: storing it may evict one of its bases for
      // capacity, and a base with a dependent keeps its own edges (chains).
      if (bases !== undefined) this.#derived.graph().link(key, bases, false)
      this.#store.setLocal(key, value, this.#o.now() + ttl)
      return this
    }
    // Encode before touching state: a value the codec refuses changes nothing.
    const bytes = this.#replica.replicate ? this.#replica.encode(key, value) : undefined
    const entry = this.#replica.write(key, RecordKind.SET, ttl, bytes)
    if (bases !== undefined) this.#derived.graph().link(key, bases, true) // before the value, as above
    this.#store.setWritten(key, value, entry)
    this.#link?.written(key, value, ttl, entry.hlc, this.origin, bases)
    this.emitChange(key, RecordKind.SET, 'local')
    return this
  }

  /** Deletes `key` here and everywhere. Returns whether a value was held here. */
  delete (key: string): boolean {
    assertUserKey(key)
    return this.#derived.operation(() => this.#remove(key, RecordKind.DELETE))
  }

  /** Drops every copy of `key` without writing a new value. Returns whether a value was held here. */
  invalidate (key: string): boolean {
    assertUserKey(key)
    return this.#derived.operation(() => this.#remove(key, RecordKind.INVALIDATE))
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
      this.#assertOpen() // SPEC §9: a closed cache neither loads nor serves through getOrLoad
      if (typeof key !== 'string' || key === '') checkKey(key, this.#o.limits.maxKeyBytes)
      checkOptionsArgument('getOrLoad', options)
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
    this.#derived.operation(() => this.#remove(tagKey(tag), RecordKind.INVALIDATE))
  }

  /** Size of this instance's dependency graph: dependents held and their edges (diagnostics, benchmarks). */
  dependencyStats (): { dependents: number, edges: number, loading: number } {
    return this.#derived.stats()
  }

  /** Starts anti-entropy with every connected peer now (it also runs on connect, on gaps and periodically). */
  sync (): void {
    this.#assertOpen()
    if (this.#channel === undefined) return
    for (const peer of this.#channel.peers()) this.#repl.request(peer, true)
  }

  /** Drops expired values, tombstones older than the horizon and departed origins now (a timer also does it). */
  purgeStale (): void {
    this.#repl.forgetDeparted()
    this.#replica.collect(this.#repl.liveOrigins())
  }

  /**
   * This instance's counters and sizes. `metadataBytes` walks every key's
   * metadata (~1 ms per 100k keys); `{ metadataBytes: false }` skips the
   * walk and reports -1, for callers that read often (shareStats, once a
   * second).
   */
  stats (options?: { metadataBytes?: boolean }): CacheStats {
    const store = this.#store
    return {
      ...this.#counters.snapshot(),
      syncRequests: this.#repl.requests,
      liveKeys: store.lru.size,
      tombstones: store.tombstones,
      origins: this.#replica.tracker.size,
      metadataBytes: options?.metadataBytes === false ? -1 : metadataBytes(store),
      ...this.#derived.loadStats(),
      propagation: this.#replica.lag.snapshot(),
      tier: this.#link?.stats() ?? null, // null, not undefined: stats() stays JSON-safe (JSON drops undefined)
    }
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
    this.#assertOpen()
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
    if (this.#closed) return []
    return this.#repl.peers(new Set(this.connectedPeers()))
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
    this.#assertOpen()
    this.#repl.advertise(name, value)
  }

  /** Peers reachable in this namespace (transport ids). */
  connectedPeers (): string[] {
    if (this.#closed) return []
    return this.#channel?.peers() ?? []
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
  ready (options: { peers?: number | undefined, timeout?: number | undefined } = {}): Promise<void> {
    try {
      this.#assertOpen()
      checkOptionsArgument('ready', options)
    } catch (error) {
      return Promise.reject(error)
    }
    return this.#peerWait.wait(options)
  }

  /**
   * Resolves once every peer connected at the call has applied every write
   * this instance made before the call (SPEC §5.1): then no instance serves
   * an older value of those keys. Rejects after `timeout` ms (default
   * 5,000) with E_REPLICATION_TIMEOUT naming the peers that did not confirm.
   */
  whenReplicated (options: { timeout?: number | undefined } = {}): Promise<void> {
    let timeout: number
    try {
      this.#assertOpen()
      checkOptionsArgument('whenReplicated', options)
      timeout = checkTimeout('whenReplicated', options.timeout, 5_000)
    } catch (error) {
      return Promise.reject(error)
    }
    return this.#acks.whenReplicated(timeout)
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
      this.#assertOpen()
      this.#replica.clear()
      this.#link?.cleared(this.#replica.clears.at) // the L2 drops what it holds, best effort (the floor guards reads)
    })
  }

  /** The logger this cache writes to (the `logger` option, or the `debug` default), for plug-ins such as change sources. */
  get logger (): MeshLogger {
    return this.#log
  }

  /** Addresses other nodes can dial, when the transport has any. */
  multiaddrs (): string[] {
    return this.#transport.multiaddrs?.() ?? []
  }

  /**
   * Runs `hook` when the cache closes, before its transport goes (a change
   * source stops reading and releases its database connections); `close()`
   * waits for it. Returns a function that removes the hook.
   */
  onClose (hook: () => Promise<void>): () => void {
    this.#closeHooks.add(hook)
    return () => { this.#closeHooks.delete(hook) }
  }

  /**
   * Leaves the mesh. Afterwards reads (`get`, `has`, `peek`, `size`, `keys`)
   * still serve what is held, each checking expiry itself (the timers are
   * stopped), so nothing outlives its TTL; diagnostics (`stats`, `inspect`,
   * `metadata`) work; `peers()` and `connectedPeers()` are empty; every
   * write, `getOrLoad`, `sync`, `clear`, `ready` and `whenReplicated` fails
   * with E_CLOSED (SPEC §9). Calling it again does nothing.
   */
  async close (): Promise<void> {
    if (this.#closed) return
    const hooks = [...this.#closeHooks]
    this.#closeHooks.clear()
    // Before #closed: a source stopping gracefully may still apply what it holds.
    await Promise.allSettled(hooks.map(async (hook) => { await hook() }))
    if (this.#closed) return
    this.#outbox.flush()
    this.#closed = true
    this.#audit?.stop()
    this.#readsCheckClock = true
    this.#stopPeerErrors?.()
    this.#acks.close()
    this.#peerWait.failAll(new MeshCacheError(ErrorCode.CLOSED, `cache ${JSON.stringify(this.namespace)} was closed while waiting for peers`))
    this.#derived.close()
    for (const t of this.#timers) clearInterval(t)
    this.#timers = []
    this.#store.close()
    this.#repl.close() // tells peers we left, while the channel is still open
    await this.#channel?.close()
    if (this.#ownsTransport) await this.#transport.close?.()
    await this.#link?.tier.close() // sends what it still queues, briefly
  }

  #remove (key: string, kind: RecordKindValue): boolean {
    this.#assertOpen()
    checkKey(key, this.#o.limits.maxKeyBytes)
    return this.#replica.remove(key, kind)
  }

  /** A value left the LRU (any reason): its edges and grace state go, and so does a loaded value's placeholder. */
  #evicted (key: string, reason: EvictReason): void {
    this.#counters.evicted(reason)
    this.#derived.evicted(key)
    this.#replica.forgetPlaceholder(key)
    this.emitEvict(key, reason)
  }

  // ---- incoming frames ----

  #onFrame (from: string, frame: Uint8Array): void {
    if (this.#closed) return
    this.#counters.framesReceived++
    this.#derived.operation(() => this.#handleFrame(from, frame))
  }

  #handleFrame (from: string, frame: Uint8Array): void {
    try {
      dispatchFrame(from, frame, this.#routes)
    } catch (error) {
      this.#protocolError(from, error)
    }
  }

  #protocolError (from: string, error: unknown): void {
    const refused = error instanceof MeshCacheError
      ? error
      : new MeshCacheError(ErrorCode.FRAME_MALFORMED, `frame could not be handled: ${(error as Error)?.message ?? String(error)}`, { cause: error })
    this.#counters.refused(refused.code)
    this.#log.debug({ peer: from, code: refused.code }, `frame refused: ${refused.message}`)
    if (this.listenerCount('frameError') > 0) this.emitSafely('frameError', { peer: from, error: refused })
  }

  // ---- plumbing ----

  #broadcast (frame: Uint8Array): void {
    if (this.#channel === undefined) return
    this.#counters.framesSent++
    this.#channel.broadcast(frame)
  }

  #send (peer: string, frame: Uint8Array): void {
    if (this.#channel === undefined || this.#closed) return
    this.#counters.framesSent++
    this.#channel.send(peer, frame)
  }

  #every (ms: number, fn: () => void): void {
    const t = setInterval(fn, ms)
    t.unref()
    this.#timers.push(t)
  }

  #assertOpen (): void {
    if (this.#closed) throw new MeshCacheError(ErrorCode.CLOSED, `cache ${JSON.stringify(this.namespace)} is closed`)
  }
}
