/**
 * MeshCache: an in-process cache whose instances keep each other coherent.
 *
 * Reads touch only the local LRU. Writes (set, delete, invalidate) change
 * local state at once and leave, batched per synchronous run, as UPDATES
 * frames numbered by this instance's sequence. Incoming records are merged by
 * version vector (lib/merge rules in SPEC.md §4); gaps in an origin's
 * sequence and every (re)connection start anti-entropy.
 */
import { EventEmitter } from 'node:events'
import { decodeFrame } from '../protocol/frame.ts'
import { CLEAR_KEY, MessageType, RecordKind, type RecordKindValue } from '../protocol/constants.ts'
import { encodeFrame } from '../protocol/frame.ts'
import type { WireRecord } from '../protocol/record.ts'
import type { StateVector } from '../protocol/sync.ts'
import type { UpdatesMessage } from '../protocol/updates.ts'
import { AntiEntropy } from './anti-entropy.ts'
import { HybridClock, physicalMs } from './clock.ts'
import { LagHistogram } from './lag-histogram.ts'
import { Entry, wins } from './entry.ts'
import { ErrorCode, MeshCacheError } from './errors.ts'
import type { ResolvedOptions } from './options.ts'
import { Outbox } from './outbox.ts'
import { SequenceTracker } from './sequence-tracker.ts'
import { Membership, type PeerInfo } from './membership.ts'
import { Counters, type CacheStats } from './stats.ts'
import { DependencyGraph, resolveBases } from './dependencies.ts'
import { Loads, type LoadFunction, type LoadOptions } from './loader.ts'
import { assertUserKey, tagKey } from './tags.ts'
import { Store, type EvictEvent, type EvictReason } from './store.ts'
import type { Channel, FrameHandler, PeerErrorEvent, Transport } from './transport.ts'
import type { ChangeEvent, MeshCacheEvents } from './events.ts'
import { ReplicationAcks } from './sync/replication-acks.ts'
import { PeerWaiters } from './sync/peer-wait.ts'
import type { MeshLogger } from './observe/logger.ts'
import { decodeValue, encodeValue, type ValueCodec } from './value-codec.ts'
import { EMPTY_VECTOR, Order, mergeVectors, vectorGet, vectorWithout, type VersionVector } from './version-vector.ts'


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

export type { ChangeEvent, FrameErrorEvent, MeshCacheEvents, PeerEvent } from './events.ts'

/** A key's replicated state, for diagnostics and tests. */
export interface EntryView {
  kind: 'set' | 'delete' | 'invalidate'
  hlc: number
  writer: string
  vv: VersionVector
  hasValue: boolean
}

const KIND_NAMES = ['set', 'delete', 'invalidate'] as const

/**
 * Estimates behind `stats().metadataBytes`, measured on Node 24 with
 * bench/core (1M keys): a live key's metadata (entry, Map slot, expiry-queue
 * slots) and a tombstone (entry, Map and GC-queue slots), plus the key
 * string a tombstone alone keeps alive.
 */
const LIVE_ENTRY_BYTES = 130
const DEAD_ENTRY_BYTES = 139
const KEY_STRING_BYTES = 24
/** A vector with several origins: the array, plus per origin two slots. */
const VECTOR_BASE_BYTES = 32
const VECTOR_ENTRY_BYTES = 16

export class MeshCache<V extends {} = {}> extends EventEmitter<MeshCacheEvents> {
  /** This instance's origin id: node id and incarnation. */
  readonly origin: string
  readonly namespace: string
  readonly #o: ResolvedOptions<V>
  readonly #store: Store<V>
  /** The store's LRU, held directly: one field load less on the read path. */
  readonly #lru: Store<V>['lru']
  /** An injected clock does not drive timers: reads check deadlines themselves (Store explains); so do reads after close(). */
  #readsCheckClock: boolean
  readonly #clock: HybridClock
  readonly #tracker = new SequenceTracker()
  /** Incoming origin ids become the tracker's copies: entries share one string per origin (SequenceTracker.canonical). */
  readonly #canonicalOrigin = (id: string): string => this.#tracker.canonical(id)
  readonly #counters = new Counters()
  readonly #lag = new LagHistogram()
  readonly #codec: ValueCodec<V>
  readonly #replicate: boolean
  readonly #outbox: Outbox
  readonly #sync: AntiEntropy
  readonly #ownsTransport: boolean
  #transport: Transport
  #channel: Channel | undefined
  #seq = 0
  #announcedSeq = 0
  /** The peer the last periodic round asked (rounds go through the peers in id order). */
  #lastPeriodicPeer = ''
  #membership: Membership | undefined
  #closed = false
  #timers: NodeJS.Timeout[] = []
  /** Read-through loading and the dependency graph, created on first use (lib/loader.ts, lib/dependencies.ts). */
  #loads: Loads<V> | undefined
  #deps: DependencyGraph | undefined
  #cascadeReason: EvictReason = 'local'
  /** Dependents detached by a change, to drop when the outermost operation is done (see #changed). */
  readonly #cascade: Array<[string, boolean, EvictReason]> = []
  /** Nesting of #operation. */
  #depth = 0
  readonly #log: MeshLogger
  /** whenReplicated(): ACK_REQUEST / ACK (lib/sync/replication-acks.ts). */
  readonly #acks: ReplicationAcks
  /** The HLC of the latest namespace clear applied here: writes stamped before it hold no value (SPEC §4.1). */
  #clearedAt = 0
  #stopPeerErrors: (() => void) | undefined
  /** ready(): waiting for peers (lib/sync/peer-wait.ts). */
  readonly #peerWait: PeerWaiters

  /** Use `createMeshCache`; the constructor does not join the transport. */
  constructor (options: ResolvedOptions<V>, codec: ValueCodec<V>, transport: Transport, ownsTransport: boolean) {
    super()
    this.#o = options
    this.namespace = options.namespace
    this.#transport = transport
    this.#ownsTransport = ownsTransport
    this.origin = `${options.nodeId}~${newIncarnation(options.now())}`
    this.#log = options.logger
    this.#clock = new HybridClock(options.now, options.maxClockSkew)
    this.#replicate = options.mode === 'replicate'
    this.#codec = codec
    this.#store = new Store<V>({
      max: options.max,
      now: options.now,
      exactClock: options.injectedClock,
      onEvict: (key, reason) => this.#evicted(key, reason),
    })
    this.#lru = this.#store.lru
    this.#readsCheckClock = options.injectedClock
    this.#outbox = new Outbox(this.origin, options.limits.maxRecords, (frame) => this.#broadcast(frame))
    this.#sync = new AntiEntropy({
      stateVector: () => this.#stateVector(),
      reportedStateVector: () => this.#tracker.reportedStateVector(this.#liveOrigins()),
      flowing: () => this.#flowing(),
      recordsBeyond: (sv) => this.#recordsBeyond(sv),
      applyRepair: (records, from) => this.#applyRecords(records, 'repair', from),
      advance: (sv, skipped) => this.#advance(sv, skipped),
      send: (peer, frame) => this.#send(peer, frame),
      now: options.now,
    }, options.limits.maxRecords, sessionTimeout(options))
    this.#peerWait = new PeerWaiters({ connected: () => this.connectedPeers().length, namespace: this.namespace, bootstrap: options.bootstrap })
    this.#acks = new ReplicationAcks({
      origin: this.origin,
      issued: () => this.#seq,
      flush: () => this.#outbox.flush(),
      peers: () => this.connectedPeers(),
      send: (peer, frame) => this.#send(peer, frame),
      contiguous: (origin) => this.#tracker.contiguous(origin),
    })
  }

  /** Joins the namespace on the transport and starts the timers. Called by `createMeshCache`. */
  async start (): Promise<this> {
    const handler: FrameHandler = {
      onFrame: (from, frame) => this.#onFrame(from, frame),
      onPeerUp: (peer) => {
        if (this.#closed) return
        this.#membership?.greet(peer)
        this.#sync.request(peer, true)
        this.#emitSafely('peer:join', { peer })
        this.#peerWait.joined()
      },
      onPeerDown: (peer) => {
        this.#sync.peerGone(peer)
        this.#acks.peerGone(peer)
        if (!this.#closed) this.#emitSafely('peer:leave', { peer })
      },
    }
    this.#stopPeerErrors = this.#transport.onPeerError?.((event) => {
      if (this.#closed) return
      this.#peerWait.failed(event)
      this.#log.warn({ address: event.address, code: event.error.code }, event.error.message)
      this.#emitSafely('peer:error', event)
    })
    try {
      this.#channel = await this.#transport.join(this.namespace, handler)
    } catch (cause) {
      throw new MeshCacheError(ErrorCode.TRANSPORT, `cannot join namespace ${JSON.stringify(this.namespace)}`, { cause })
    }
    this.#membership = this.#startMembership()
    this.#every(this.#o.gcInterval, () => this.purgeStale())
    this.#every(this.#o.announceInterval, () => {
      this.#announce()
      this.#sync.retryStalled()
    })
    if (this.#o.syncInterval > 0) this.#every(this.#o.syncInterval, () => this.#periodicSync())
    for (const peer of this.#channel.peers()) this.#sync.request(peer, true)
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
      if (typeof key !== 'string' || key === '') this.#checkKey(key)
      this.#counters.misses++
    } else {
      this.#counters.hits++
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
      if (typeof key !== 'string' || key === '') this.#checkKey(key)
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
    if (value === undefined && (typeof key !== 'string' || key === '')) this.#checkKey(key)
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
    return this.#operation(() => this.#set(key, value, options))
  }

  #set (key: string, value: V, options?: SetOptions): this {
    this.#assertOpen()
    this.#checkKey(key)
    assertUserKey(key)
    if (value === undefined || value === null) {
      throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `value of key ${JSON.stringify(key)} is ${String(value)}: use delete() to remove a key`)
    }
    checkOptionsArgument('set', options)
    const ttl = this.#checkTtl(options?.ttl)
    // Checked before any state changes: a refused edge (a cycle) changes nothing.
    const bases = options === undefined ? undefined : this.#basesOf(key, options)
    if (options?.local === true) {
      // The key's replicated state stays (without a value): dropping it would
      // leave sequence numbers counted here that no metadata stands for.
      if (this.#store.meta.get(key)?.isPlaceholder === true) this.#forgetReplicated(key)
      this.#changed(key, 'local')
      // Edges before the value: storing it may evict one of its bases for
      // capacity, and a base with a dependent keeps its own edges (chains).
      if (bases !== undefined) this.#graph().link(key, bases, false)
      this.#store.setLocal(key, value, this.#o.now() + ttl)
      return this
    }
    // Encode before touching state: a value the codec refuses changes nothing.
    const bytes = this.#replicate ? encodeValue(this.#codec, key, value) : undefined
    const entry = this.#write(key, RecordKind.SET, ttl, bytes)
    if (bases !== undefined) this.#graph().link(key, bases, true) // before the value, as above
    this.#store.setWritten(key, value, entry)
    this.#emitChange(key, RecordKind.SET, 'local')
    return this
  }

  /** Deletes `key` here and everywhere. Returns whether a value was held here. */
  delete (key: string): boolean {
    assertUserKey(key)
    return this.#operation(() => this.#remove(key, RecordKind.DELETE))
  }

  /** Drops every copy of `key` without writing a new value. Returns whether a value was held here. */
  invalidate (key: string): boolean {
    assertUserKey(key)
    return this.#operation(() => this.#remove(key, RecordKind.INVALIDATE))
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
      this.#assertOpen()
      if (typeof key !== 'string' || key === '') this.#checkKey(key)
      checkOptionsArgument('getOrLoad', options)
    } catch (error) {
      return Promise.reject(error)
    }
    this.#beforeRead()
    const value = this.#store.lru.get(key)
    if (value !== undefined) {
      this.#counters.hits++
      if (this.#loads === undefined || !this.#loads.graced(key)) return Promise.resolve(value as R)
    } else {
      this.#counters.misses++
    }
    return this.#loader().load(key, loader, options, value) as Promise<R>
  }

  /** Evicts every value tagged `tag`, here and, through a replicated invalidation of the tag, on every instance. */
  invalidateTag (tag: string): void {
    this.#operation(() => this.#remove(tagKey(tag), RecordKind.INVALIDATE))
  }

  /** Size of this instance's dependency graph: dependents held and their edges (diagnostics, benchmarks). */
  dependencyStats (): { dependents: number, edges: number, loading: number } {
    return { dependents: this.#deps?.size ?? 0, edges: this.#deps?.edges ?? 0, loading: this.#loads?.inFlight ?? 0 }
  }

  /** Starts anti-entropy with every connected peer now (it also runs on connect, on gaps and periodically). */
  sync (): void {
    this.#assertOpen()
    if (this.#channel === undefined) return
    for (const peer of this.#channel.peers()) this.#sync.request(peer, true)
  }

  /** This instance and the live members: origins never retired, and always reported. */
  #liveOrigins (): Set<string> {
    const live = this.#membership?.liveOrigins() ?? new Set<string>()
    live.add(this.origin)
    return live
  }

  /** Drops expired values and tombstones older than the horizon now (a timer also does it). */
  purgeStale (): void {
    this.#store.collect(this.#o.horizon)
    this.#membership?.forgetDeparted()
    const keep = this.#liveOrigins()
    const now = this.#o.now()
    const tracker = this.#tracker
    tracker.forgetSilent(now - this.#o.horizon, keep, now)
    if (tracker.retired.size === 0 && tracker.forgotten.size === 0) return
    const named = this.#forgetRetired()
    tracker.retainRetired(named)
    // Every peer forgets an origin within about two horizons of us (SPEC §7).
    tracker.retainForgotten(named, now - 2 * this.#o.horizon - this.#o.gcInterval)
  }

  /**
   * Drops the vector entries of retired origins from every key (SPEC §7: a
   * retired origin's writes are older than the horizon, so its entries order
   * nothing that is still alive anywhere) and returns every origin some
   * vector still names. One pass over the metadata, run only while some
   * origin is retired or forgotten.
   */
  #forgetRetired (): Set<string> {
    const named = new Set<string>()
    const forgotten = this.#tracker.forgotten
    for (const e of this.#store.meta.values()) {
      // A one-origin vector is kept inline (Entry): its origin is the writer, no array to build.
      if (e.vectorSize === 1) {
        named.add(e.writer)
        continue
      }
      e.forget(forgotten)
      const vv = e.vv
      for (let i = 0; i < vv.length; i += 2) named.add(vv[i] as string)
    }
    return named
  }

  stats (): CacheStats {
    const c = this.#counters
    let metadataBytes = 0
    for (const [key, entry] of this.#store.meta) {
      metadataBytes += entry.hasValue ? LIVE_ENTRY_BYTES : DEAD_ENTRY_BYTES + KEY_STRING_BYTES + key.length
      if (entry.vectorSize > 1) metadataBytes += VECTOR_BASE_BYTES + entry.vectorSize * VECTOR_ENTRY_BYTES
    }
    return {
      hits: c.hits,
      misses: c.misses,
      localUpdates: c.localUpdates,
      remoteUpdates: c.remoteUpdates,
      duplicates: c.duplicates,
      conflicts: c.conflicts,
      repairs: c.repairs,
      protocolErrors: c.protocolErrors,
      expiredDropped: c.expiredDropped,
      framesSent: c.framesSent,
      framesReceived: c.framesReceived,
      syncRequests: this.#sync.requests,
      gapsDetected: c.gapsDetected,
      liveKeys: this.#store.lru.size,
      tombstones: this.#store.dead.size,
      origins: this.#tracker.size,
      metadataBytes,
      loads: this.#loads?.calls ?? 0,
      loadsCoalesced: this.#loads?.coalesced ?? 0,
      loadErrors: this.#loads?.failed ?? 0,
      loadsDiscarded: this.#loads?.discarded ?? 0,
      staleServed: this.#loads?.staleServed ?? 0,
      propagation: this.#lag.snapshot(),
    }
  }

  /** The replicated state of `key`, or undefined for an unknown key (a local-only value is not replicated state; the key's state beside it is). */
  inspect (key: string): EntryView | undefined {
    const e = this.#store.meta.get(key)
    if (e === undefined || e.isPlaceholder) return undefined // unknown, or a loaded value's placeholder
    return { kind: KIND_NAMES[e.kind], hlc: e.hlc, writer: e.writer, vv: e.vv.slice(), hasValue: e.hasValue && this.#store.lru.has(key) }
  }

  /** Every replicated key's state, sorted by key: what replicas compare after they converge. */
  metadata (): Array<[string, EntryView]> {
    const keys = [...this.#store.meta.keys()].filter((k) => this.#store.meta.get(k)?.isPlaceholder !== true).sort()
    return keys.map((k) => [k, this.inspect(k) as EntryView])
  }

  /** Live members of this namespace (announced within the last 30 s), with their region and sequence summary. */
  peers (): PeerInfo[] {
    if (this.#closed) return []
    return this.#membership?.peers(new Set(this.connectedPeers())) ?? []
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
   * E_READY_TIMEOUT, listing the peers connected and the addresses tried with
   * why they failed (`peer:error`).
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
    try {
      this.#assertOpen()
      checkOptionsArgument('whenReplicated', options)
    } catch (error) {
      return Promise.reject(error)
    }
    const timeout = options.timeout ?? 5_000
    if (!Number.isSafeInteger(timeout) || timeout <= 0) return Promise.reject(new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `whenReplicated: timeout must be a positive integer of ms, got ${String(timeout)}`))
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
    this.#operation(() => {
      this.#assertOpen()
      const entry = this.#write(CLEAR_KEY, RecordKind.INVALIDATE, this.#o.maxTtl, undefined)
      this.#store.bury(CLEAR_KEY, entry, 'local') // a tombstone like any other: collected after the horizon
      this.#applyClear(entry.hlc, 'local')
    })
  }

  /** Raises the clear horizon to `hlc` and drops every value written before it, and every loaded one. */
  #applyClear (hlc: number, reason: EvictReason): void {
    if (hlc <= this.#clearedAt) return
    this.#clearedAt = hlc
    this.#loads?.changedAll()
    for (const key of [...this.#lru.keys()]) {
      // A local-only value is outside the mesh: no remote message touches it (SetOptions.local), a clear neither.
      if (this.#store.isLocal(key)) continue
      const e = this.#store.meta.get(key)
      if (e !== undefined && !e.isPlaceholder && e.hlc >= hlc) continue
      this.#changed(key, reason)
      if (e?.isPlaceholder === true) this.#forgetReplicated(key)
      this.#store.dropValue(key, reason)
    }
  }

  /** Addresses other nodes can dial, when the transport has any. */
  multiaddrs (): string[] {
    return this.#transport.multiaddrs?.() ?? []
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
    this.#outbox.flush()
    this.#closed = true
    this.#readsCheckClock = true
    this.#stopPeerErrors?.()
    this.#acks.close()
    this.#peerWait.failAll(new MeshCacheError(ErrorCode.CLOSED, `cache ${JSON.stringify(this.namespace)} was closed while waiting for peers`))
    this.#loads?.close()
    for (const t of this.#timers) clearInterval(t)
    this.#timers = []
    this.#store.close()
    this.#membership?.destroy() // tells peers we left, while the channel is still open
    await this.#channel?.close()
    if (this.#ownsTransport) await this.#transport.close?.()
  }

  // ---- local writes ----

  #remove (key: string, kind: RecordKindValue): boolean {
    this.#assertOpen()
    this.#checkKey(key)
    if (this.#store.isLocal(key)) {
      this.#changed(key, 'local')
      return this.#store.dropValue(key, 'local') // a local-only key stays local
    }
    const held = this.#store.bury(key, this.#write(key, kind, this.#o.ttl, undefined), 'local')
    this.#emitChange(key, kind, 'local')
    return held
  }

  /** Numbers a local write, records its state and queues it for peers. */
  #write (key: string, kind: RecordKindValue, ttl: number, value: Uint8Array | undefined): Entry {
    const seq = ++this.#seq
    const hlc = this.#clock.tick()
    const previous = this.#store.meta.get(key)
    const vv: VersionVector = previous === undefined ? [this.origin, seq] : previous.vectorWith(this.origin, seq)
    const entry = new Entry(kind, hlc, this.origin, vv, ttl)
    this.#store.meta.set(key, entry)
    this.#tracker.advance(this.origin, seq, physicalMs(hlc)) // the clock was just read: no second read
    this.#counters.localUpdates++
    const record: WireRecord = { key, kind, hlc, writer: this.origin, vv }
    if (value !== undefined) {
      record.ttl = ttl
      record.value = value
    }
    this.#outbox.push(seq, record)
    this.#changed(key, 'local')
    return entry // the caller stores or drops the value, then emits 'change'
  }

  #forgetReplicated (key: string): void {
    if (this.#store.meta.delete(key)) this.#store.dead.delete(key)
  }

  // ---- incoming frames ----

  #onFrame (from: string, frame: Uint8Array): void {
    if (this.#closed) return
    this.#counters.framesReceived++
    this.#operation(() => this.#handleFrame(from, frame))
  }

  #handleFrame (from: string, frame: Uint8Array): void {
    try {
      const msg = decodeFrame(frame, this.#o.limits, this.#canonicalOrigin)
      switch (msg.type) {
        case MessageType.UPDATES: this.#onUpdates(from, msg); break
        case MessageType.SYNC_STEP1: this.#sync.onStep1(from, msg); break
        case MessageType.SYNC_STEP2: this.#sync.onStep2(from, msg); break
        case MessageType.AWARENESS: this.#membership?.apply(msg.update, from); break
        case MessageType.ACK_REQUEST: this.#acks.onRequest(from, msg); break
        case MessageType.ACK: this.#acks.onAck(from, msg); break
      }
      this.#acks.recheck()
    } catch (error) {
      this.#protocolError(from, error)
    }
  }

  #protocolError (from: string, error: unknown): void {
    this.#counters.protocolErrors++
    const refused = error instanceof MeshCacheError
      ? error
      : new MeshCacheError(ErrorCode.FRAME_MALFORMED, `frame could not be handled: ${(error as Error)?.message ?? String(error)}`, { cause: error })
    this.#log.debug({ peer: from }, `frame refused: ${refused.message}`)
    if (this.listenerCount('frameError') > 0) this.#emitSafely('frameError', { peer: from, error: refused })
  }

  #onUpdates (from: string, msg: UpdatesMessage): void {
    const { origin, firstSeq, records } = msg
    if (origin === this.origin) {
      // Our own frame echoed back; claiming numbers we never issued is an impostor.
      if (firstSeq + records.length - 1 > this.#seq) throw new MeshCacheError(ErrorCode.FRAME_MALFORMED, `frame claims our origin ${origin} with numbers we never issued`)
      this.#counters.duplicates += records.length
      return
    }
    const values = this.#decodeValues(records)
    const issued = this.#seq // before any listener can write
    const forged = this.#forgedRecords(records)
    const gapBefore = this.#tracker.hasGap(origin)
    const now = this.#o.now() // one clock read per frame
    for (let i = 0; i < records.length; i++) {
      // Merged even when the number was seen: the merge is idempotent (a true
      // duplicate is dominated and dropped there), and numbers alone must not
      // decide, or one bad frame reusing a number would hide the real write.
      const r = records[i] as WireRecord
      if (forged !== undefined && forged.has(i)) this.#refuseForged(r, 'remote')
      else if (this.#apply(r, values?.[i], 'remote', now)) this.#lag.record(physicalMs(r.hlc), now)
      this.#tracker.mark(origin, firstSeq + i, now)
    }
    if (forged !== undefined) this.#reportForged(from, records, forged, issued)
    if (this.#tracker.hasGap(origin)) {
      if (!gapBefore) this.#counters.gapsDetected++
      this.#sync.request(from)
    }
  }

  /** Decodes every value of a frame first, so a bad value refuses the whole frame. */
  #decodeValues (records: WireRecord[]): Array<V | undefined> | undefined {
    if (!this.#replicate) return undefined
    return records.map((r) => r.value === undefined ? undefined : decodeValue(this.#codec, r.key, r.value))
  }

  #applyRecords (records: WireRecord[], reason: EvictReason, from: string): void {
    const values = this.#decodeValues(records)
    const issued = this.#seq // before any listener can write
    const forged = this.#forgedRecords(records)
    const now = this.#o.now()
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as WireRecord
      if (forged !== undefined && forged.has(i)) this.#refuseForged(r, reason)
      else if (this.#apply(r, values?.[i], reason, now) && reason === 'repair') this.#counters.repairs++
    }
    if (forged !== undefined) this.#reportForged(from, records, forged, issued)
  }

  // A record whose vector credits our origin with a number we never issued
  // (SPEC §3.4) would poison the key: our next write of it would carry the
  // forged counter and every peer would refuse that frame. Such a record is
  // refused on its own, not with its frame: an honest peer may be relaying
  // it in anti-entropy, and refusing its whole answer would stall repair
  // between honest nodes until the record ages out.

  /**
   * The indices of forged records, decided once before any record is
   * applied (a listener may write meanwhile and raise our count); undefined
   * when there are none, the usual case, without allocating.
   */
  #forgedRecords (records: WireRecord[]): Set<number> | undefined {
    let forged: Set<number> | undefined
    for (let i = 0; i < records.length; i++) {
      if (vectorGet((records[i] as WireRecord).vv, this.origin) > this.#seq) (forged ??= new Set()).add(i)
    }
    return forged
  }

  /** Skips a forged record, dropping the key's copy here: its state is unknown now, and a miss is always correct. */
  #refuseForged (r: WireRecord, reason: EvictReason): void {
    if (this.#store.isLocal(r.key)) return
    this.#changed(r.key, reason)
    this.#store.dropValue(r.key, reason)
  }

  #reportForged (from: string, records: WireRecord[], forged: Set<number>, issued: number): void {
    const first = records[forged.values().next().value as number] as WireRecord
    this.#protocolError(from, new MeshCacheError(ErrorCode.FRAME_MALFORMED,
      `${forged.size} record(s) refused, first for key ${JSON.stringify(first.key)}: its vector credits our origin ${this.origin} with ${vectorGet(first.vv, this.origin)}, above the ${issued} we issued`))
  }

  /**
   * The merge rule (SPEC.md §4). Returns whether local state changed.
   * A dominated or equal record is dropped; a dominating one replaces the
   * state; a concurrent one merges vectors (pointwise max) and keeps the
   * winner by (hlc, writer): in invalidate mode the value is dropped, since
   * a miss is always correct.
   */
  #apply (r: WireRecord, value: V | undefined, reason: EvictReason, now: number): boolean {
    if (physicalMs(r.hlc) + this.#o.horizon < now) {
      this.#counters.expiredDropped++
      return false
    }
    // A retired origin's entries are forgotten here (SPEC §7); a peer that
    // has not retired it yet still sends them, and they must not count as news.
    const forgotten = this.#tracker.forgotten
    if (forgotten.size !== 0 && r.vv.length > 2) r.vv = vectorWithout(r.vv, forgotten, r.writer)
    const store = this.#store
    let entry = store.meta.get(r.key)
    this.#clock.observe(r.hlc, now)
    const ttl = Math.min(r.ttl ?? this.#o.ttl, this.#o.maxTtl)
    const hadValue = entry?.hasValue === true
    let oursWon = false
    if (entry === undefined) {
      entry = Entry.fromRecord(r, ttl)
      store.meta.set(r.key, entry)
    } else {
      const order = entry.compare(r.vv)
      if (order === Order.EQUAL || order === Order.BEFORE) {
        this.#counters.duplicates++
        return false
      }
      // Updated in place: the entry keeps its slots in the store's maps.
      if (order === Order.AFTER) {
        entry.assign(r, ttl)
      } else {
        this.#counters.conflicts++
        const merged = mergeVectors(r.vv, entry.vv)
        oursWon = !wins(r.hlc, r.writer, entry.hlc, entry.writer)
        if (!oursWon) entry.assign(r, ttl)
        entry.vv = merged
      }
    }
    // The numbers other origins' entries name, for their retirement (SPEC §7).
    // Only news: a dropped duplicate names nothing the state here did not.
    if (r.vv.length > 2) for (let i = 0; i < r.vv.length; i += 2) this.#tracker.noteNamed(r.vv[i] as string, r.vv[i + 1] as number, now)
    this.#counters.remoteUpdates++
    if (store.isLocal(r.key)) {
      // A local-only value: the record merges into the key's replicated
      // state, kept beside the value without touching it (no event, no
      // cascade), so this instance can answer for every number it counts.
      store.markDead(r.key, entry)
      return true
    }
    if (oursWon && this.#replicate) {
      // Our state won a conflict and keeps its value: nothing derived from it
      // changed, so its dependents and its own edges stay; a load in flight
      // for the key is still kept out (the key's state did change).
      this.#loads?.changed(r.key)
    } else {
      this.#changed(r.key, reason)
      // A winning SET with a value replaces ours (replicate mode, not yet
      // expired); anything else drops it: a DELETE or INVALIDATE, a conflict
      // in invalidate mode (a miss is always correct), or no value.
      // A write older than the latest namespace clear seen here keeps its
      // state (its vector still orders later writes) but not its value (SPEC §4.1).
      const replace = !oursWon && this.#replicate && entry.kind === RecordKind.SET && value !== undefined && entry.expiresAt > now && entry.hlc >= this.#clearedAt
      if (replace) store.setWritten(r.key, value, entry)
      else store.bury(r.key, entry, reason, hadValue)
    }
    if (r.key === CLEAR_KEY && !oursWon) this.#applyClear(entry.hlc, reason)
    // After the store reflects the record: a listener reads the new state.
    this.#emitChange(r.key, entry.kind, reason === 'repair' ? 'repair' : 'remote')
    return true
  }

  // ---- anti-entropy host ----

  #stateVector (): StateVector {
    return this.#tracker.stateVector()
  }

  #recordsBeyond (requested: StateVector): WireRecord[] {
    const out: WireRecord[] = []
    const store = this.#store
    // Entries of origins retired here count as seen by a requester that no
    // longer tracks them either (SequenceTracker.retired); one that still
    // does gets what it lacks.
    let sv = requested
    const retired = this.#tracker.retired
    if (retired.size !== 0) {
      sv = new Map(requested)
      for (const [origin, last] of retired) if (!sv.has(origin)) sv.set(origin, last)
    }
    let live: Set<string> | undefined
    for (const [key, e] of store.meta) {
      if (!e.exceeds(sv)) continue
      const vv = e.vv // built once: an inline vector is a new array each time
      if (this.#onlyUnknownAhead(vv, sv, live ??= this.#membership?.liveOrigins() ?? new Set())) continue
      const record: WireRecord = { key, kind: e.kind, hlc: e.hlc, writer: e.writer, vv }
      // Only the value this write stored travels with it: a loaded or
      // local-only value in its place is this instance's own, and the
      // record goes without a value (a miss at the receiver, always correct).
      const value = this.#replicate && e.kind === RecordKind.SET ? store.writtenValue(key, e) : undefined
      if (value !== undefined) {
        try {
          record.value = encodeValue(this.#codec, key, value)
          record.ttl = e.ttl
        } catch (error) {
          // The value was changed in place since its set(): send the state
          // without it rather than fail the whole answer.
          this.#log.debug({ key }, `sent without its value: ${(error as Error).message}`)
        }
      }
      out.push(record)
    }
    return out
  }

  /**
   * Whether every entry of `vv` ahead of `sv` names an origin that neither
   * side tracks nor this side retired, and that is not a live member: one
   * retired everywhere before this instance joined (it holds its entries
   * only through others' repairs). Such entries count as seen, as retired
   * ones do (SPEC §7); otherwise an instance that joined late would re-send
   * every key naming a departed incarnation in every answer.
   */
  #onlyUnknownAhead (vv: VersionVector, sv: StateVector, live: ReadonlySet<string>): boolean {
    for (let i = 0; i < vv.length; i += 2) {
      const origin = vv[i] as string
      if ((vv[i + 1] as number) <= (sv.get(origin) ?? 0)) continue
      if (sv.has(origin) || this.#tracker.tracks(origin) || live.has(origin) || origin === this.origin) return false
    }
    return true
  }

  #advance (sv: StateVector, skipped: ReadonlySet<string> | undefined): void {
    const now = this.#o.now()
    // A retired origin's old numbers are ignored by the tracker, so a peer
    // that still reports one does not bring it back (SPEC §7). An origin the
    // request left out was not answered for: its frames in flight to us must
    // not be counted as received.
    for (const [origin, seq] of sv) {
      if (origin !== this.origin && skipped?.has(origin) !== true) this.#tracker.advance(origin, seq, now)
    }
  }

  /**
   * Origins a periodic round may leave out (SPEC §6): live members on a
   * connection of ours whose UPDATES arrived within two announcement periods
   * and show no gap. A loss of theirs shows as a gap in their next frame or
   * in their next announcement, each of which starts a full repair.
   */
  #flowing (): Set<string> {
    const out = new Set<string>()
    const members = this.#membership?.peers()
    if (members === undefined || members.length === 0 || this.#channel === undefined) return out
    const connected = new Set(this.#channel.peers())
    const since = this.#o.now() - 2 * this.#o.announceInterval
    const t = this.#tracker
    for (const m of members) {
      const heard = t.lastFrame(m.origin) // 0: no frame of its own yet
      if (heard !== 0 && heard >= since && connected.has(m.peer) && !t.hasGap(m.origin)) out.add(m.origin)
    }
    return out
  }

  #startMembership (): Membership {
    const [nodeId, incarnation] = this.origin.split('~') as [string, string]
    const frame = (update: Uint8Array) => encodeFrame({ type: MessageType.AWARENESS, update })
    return new Membership(
      { origin: this.origin, nodeId, incarnation, region: this.#o.region, namespaces: [this.namespace], seq: this.#seq },
      {
        broadcast: (update) => this.#broadcast(frame(update)),
        send: (peer, update) => this.#send(peer, frame(update)),
        // A member that issued more than we have seen lost us its last frames: repair now.
        onSummary: (origin, seq, peer) => {
          if (origin !== this.origin && seq > this.#tracker.contiguous(origin)) this.#sync.request(peer)
        },
      },
    )
  }

  /** Re-announces our sequence summary when it moved since the last announcement. */
  #announce (): void {
    if (this.#seq === this.#announcedSeq || this.#closed) return
    this.#announcedSeq = this.#seq
    this.#membership?.announce(this.#seq)
  }

  /**
   * The last line of repair, for losses nothing else revealed: asks one
   * peer a round, in turn, so every peer is asked within n−1 rounds (a
   * random pick left a 3-node mesh unrepaired for rounds on end, when only
   * the writer held what was lost). Not every peer each round: under
   * saturation every answer is a scan of all metadata plus the records that
   * arrived meanwhile, and asking all peers made bench:mesh saturation
   * collapse in some runs.
   */
  #periodicSync (): void {
    const peers = this.#channel?.peers() ?? []
    if (peers.length === 0) return
    peers.sort()
    const next = peers.find((p) => p > this.#lastPeriodicPeer) ?? peers[0] as string
    this.#lastPeriodicPeer = next
    this.#sync.request(next, false, true)
  }

  // ---- loading and dependencies (lib/loader.ts, lib/dependencies.ts) ----

  /**
   * `key`'s state changed (a write, delete or invalidation, local or
   * remote): loads of it or based on it must not be cached, and its
   * transitive dependents go. Two field checks when neither feature is used.
   */
  #changed (key: string, reason: EvictReason): void {
    if (this.#loads !== undefined) this.#loads.changed(key)
    if (this.#deps !== undefined) {
      // Detached from the graph now, dropped once the operation has stored
      // the key's new state: dropping fires events, and a listener must not
      // see (or write over) the state being replaced.
      this.#deps.changed(key, (dependent, replicated) => { this.#cascade.push([dependent, replicated, reason]) })
    }
  }

  /**
   * Runs a public write or a frame: dependents detached meanwhile are
   * dropped when the outermost one is done (see #changed).
   */
  #operation<T> (fn: () => T): T {
    this.#depth++
    try {
      return fn()
    } finally {
      if (--this.#depth === 0 && this.#cascade.length !== 0) this.#runCascade()
    }
  }

  #runCascade (): void {
    this.#depth++ // writes made by the drops (or their listeners) queue behind
    try {
      let next: [string, boolean, EvictReason] | undefined
      while ((next = this.#cascade.shift()) !== undefined) {
        this.#cascadeReason = next[2]
        this.#dropDependent(next[0], next[1])
      }
    } finally {
      this.#cascadeReason = 'local'
      this.#depth--
    }
  }

  /** A dependent of a changed base: a replicated one is invalidated everywhere, any other dropped here. */
  readonly #dropDependent = (key: string, replicated: boolean): void => {
    if (replicated && !this.#closed) {
      this.#remove(key, RecordKind.INVALIDATE) // its own #changed tells the loader
      return
    }
    if (this.#store.meta.get(key)?.isPlaceholder === true) this.#forgetReplicated(key) // a loaded value's placeholder
    this.#store.dropValue(key, this.#cascadeReason)
    if (this.#loads !== undefined) this.#loads.changed(key)
  }

  /** A value left the LRU (any reason): its edges and grace state go, and so does a loaded value's placeholder. */
  #evicted (key: string, reason: EvictReason): void {
    if (this.#deps !== undefined) this.#deps.release(key)
    if (this.#loads !== undefined) this.#loads.forget(key)
    if (this.#store.meta.get(key)?.isPlaceholder === true) this.#forgetReplicated(key)
    this.#emitEvict(key, reason)
  }

  /**
   * Stores a loaded value without writing: no sequence number, no frame.
   * It hangs on the key's current state, so any newer record evicts it; a
   * key with no state gets a placeholder with an empty vector, which every
   * record dominates and which is never sent.
   */
  #storeLoaded (key: string, value: V, lifeMs: number): boolean {
    if (this.#closed) return false
    let entry = this.#store.meta.get(key)
    if (entry === undefined) {
      entry = new Entry(RecordKind.SET, 0, '', EMPTY_VECTOR, lifeMs)
      this.#store.meta.set(key, entry)
    }
    this.#store.setLoaded(key, value, this.#o.now() + lifeMs, entry)
    return true
  }

  #basesOf (key: string, options: SetOptions): string[] | undefined {
    const bases = resolveBases(options.dependsOn, options.tags, this.#o.limits.maxKeyBytes)
    if (bases !== undefined) this.#graph().assertAcyclic(key, bases)
    return bases
  }

  #graph (): DependencyGraph {
    return (this.#deps ??= new DependencyGraph())
  }

  #loader (): Loads<V> {
    return (this.#loads ??= new Loads<V>({
      now: this.#o.now,
      maxTtl: this.#o.maxTtl,
      maxKeyBytes: this.#o.limits.maxKeyBytes,
      maxNegative: this.#o.max,
      checkKey: (key) => {
        this.#assertOpen()
        this.#checkKey(key)
        assertUserKey(key)
      },
      checkTtl: (ttl) => this.#checkTtl(ttl),
      graph: () => this.#graph(),
      graphIfAny: () => this.#deps,
      store: (key, value, lifeMs) => this.#storeLoaded(key, value, lifeMs),
      drop: (key) => { this.#store.dropValue(key, 'local') },
    }))
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

  #emitEvict (key: string, reason: EvictReason): void {
    if (this.listenerCount('evict') > 0) this.#emitSafely('evict', { key, reason } satisfies EvictEvent)
  }

  #emitChange (key: string, kind: RecordKindValue, source: ChangeEvent['source']): void {
    if (this.listenerCount('change') > 0) this.#emitSafely('change', { key, kind: KIND_NAMES[kind], source } satisfies ChangeEvent)
  }

  /**
   * Events fire in the middle of an operation (a merge, an LRU eviction, the
   * expiry timer). A listener that throws must not leave it half done (an
   * entry updated but its old value still held), nor pass for a bad frame:
   * its error is rethrown on its own once the operation is over, where it
   * surfaces as an uncaught exception like any listener error in Node.
   */
  #emitSafely<K extends keyof MeshCacheEvents> (name: K, ...payload: MeshCacheEvents[K]): void {
    try {
      (this.emit as (name: K, ...args: MeshCacheEvents[K]) => boolean)(name, ...payload)
    } catch (error) {
      queueMicrotask(() => { throw error })
    }
  }

  #every (ms: number, fn: () => void): void {
    const t = setInterval(fn, ms)
    t.unref()
    this.#timers.push(t)
  }

  #assertOpen (): void {
    if (this.#closed) throw new MeshCacheError(ErrorCode.CLOSED, `cache ${JSON.stringify(this.namespace)} is closed`)
  }

  #checkKey (key: string): void {
    if (typeof key !== 'string') throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `key must be a string, got ${key === null ? 'null' : typeof key}`)
    if (key === '') throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, 'key must not be empty')
    const limit = this.#o.limits.maxKeyBytes
    if (key.length * 3 > limit && Buffer.byteLength(key) > limit) {
      throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `key of ${Buffer.byteLength(key)} bytes exceeds maxKeyBytes ${limit}`)
    }
  }

  #checkTtl (ttl: number | undefined): number {
    if (ttl === undefined) return this.#o.ttl
    if (!Number.isSafeInteger(ttl) || ttl <= 0 || ttl > this.#o.maxTtl) {
      throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `ttl must be an integer from 1 to maxTtl (${this.#o.maxTtl}), got ${String(ttl)}`)
    }
    return ttl
  }
}

/** A call's options: absent, or an object (null or a number there is a caller's mistake, not "no options"). */
function checkOptionsArgument (method: string, options: unknown): void {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `${method}: options must be an object, got ${options === null ? 'null' : typeof options}`)
  }
}

/**
 * How long an anti-entropy session waits for its answer before a parked
 * request runs anyway: a periodic round (two announcement periods when
 * rounds are off), at least 1 s. Not shorter: under saturation an answer
 * can take seconds, and restarting it sooner made every retry another full
 * scan and answer (bench:mesh saturation fell from ~90,000 to ~27,000
 * writes/s with 4 s).
 */
function sessionTimeout (o: ResolvedOptions<unknown>): number {
  return Math.max(1_000, o.syncInterval === 0 ? 2 * o.announceInterval : o.syncInterval)
}

/**
 * A new incarnation for every start: the start time plus random bits, so a
 * restarted process never reuses its earlier sequence numbers even when it
 * keeps its node id.
 */
function newIncarnation (now: number): string {
  return `${now.toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0')}`
}
