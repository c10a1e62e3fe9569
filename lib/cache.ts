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
import { EventEmitter } from 'node:events'
import { debuglog } from 'node:util'
import { decodeFrame, encodeFrame } from '../protocol/frame.ts'
import { MessageType, RecordKind, type RecordKindValue } from '../protocol/constants.ts'
import { Replica, type ReplicaHost } from './core/replica.ts'
import type { Store, EvictEvent, EvictReason } from './core/store.ts'
import { ErrorCode, MeshCacheError } from './errors.ts'
import type { ResolvedOptions } from './options.ts'
import { AntiEntropy } from './sync/anti-entropy.ts'
import { Membership, type PeerInfo } from './sync/membership.ts'
import { Outbox } from './sync/outbox.ts'
import { DependencyGraph, resolveBases } from './loading/dependencies.ts'
import { Loads, type LoadFunction, type LoadOptions } from './loading/loader.ts'
import { assertUserKey, tagKey } from './loading/tags.ts'
import type { Channel, FrameHandler, Transport } from './net/transport.ts'
import { allEntries, inspectEntry, KIND_NAMES, metadataBytes, type EntryView } from './observe/inspect.ts'
import { Counters, type CacheStats } from './observe/stats.ts'

export type { EntryView } from './observe/inspect.ts'

const log = debuglog('meshcache')

export interface SetOptions {
  /** Milliseconds this value lives; at most the cache's `maxTtl`. @default the cache's `ttl` */
  ttl?: number
  /** Keep the key on this instance only: it is never sent, and no remote message touches it. @default false */
  local?: boolean
  /**
   * Keys this value is derived from. A write, delete or invalidation of any
   * of them (here or on any instance) evicts this value, transitively. An
   * edge that would close a cycle is refused with E_DEPENDENCY_CYCLE and
   * nothing changes. @default none
   */
  dependsOn?: string[]
  /** Tags: `invalidateTag(t)` on any instance evicts every value tagged `t`. @default none */
  tags?: string[]
}

/**
 * Emitted as `change` whenever a key's replicated state moves to a newer
 * version: a local write, or a remote record that was applied (not for TTL
 * or capacity evictions, which change no version).
 */
export interface ChangeEvent {
  key: string
  kind: 'set' | 'delete' | 'invalidate'
  /** 'local' for this instance's writes, 'remote' for updates, 'repair' for anti-entropy. */
  source: 'local' | 'remote' | 'repair'
}

export class MeshCache<V extends {} = {}> extends EventEmitter {
  /** This instance's origin id: node id and incarnation. */
  readonly origin: string
  readonly namespace: string
  readonly #o: ResolvedOptions<V>
  /** The replicated state of the namespace (lib/core/replica.ts): merges, local writes, retirement. */
  readonly #replica: Replica<V>
  readonly #store: Store<V>
  /** The store's LRU, held directly: one field load less on the read path. */
  readonly #lru: Store<V>['lru']
  /** An injected clock does not drive timers: reads check deadlines themselves (Store explains). */
  readonly #readsCheckClock: boolean
  readonly #counters = new Counters()
  readonly #outbox: Outbox
  readonly #sync: AntiEntropy
  readonly #ownsTransport: boolean
  #transport: Transport
  #channel: Channel | undefined
  #announcedSeq = 0
  /** The peer the last periodic round asked (rounds go through the peers in id order). */
  #lastPeriodicPeer = ''
  #membership: Membership | undefined
  #closed = false
  #timers: NodeJS.Timeout[] = []
  /** Read-through loading and the dependency graph, created on first use (lib/loading/loader.ts, lib/loading/dependencies.ts). */
  #loads: Loads<V> | undefined
  #deps: DependencyGraph | undefined
  #cascadeReason: EvictReason = 'local'
  /** Dependents detached by a change, to drop when the outermost operation is done (see #changed). */
  readonly #cascade: Array<[string, boolean, EvictReason]> = []
  /** Nesting of #operation. */
  #depth = 0

  /** Use `createMeshCache`; the constructor does not join the transport. */
  constructor (options: ResolvedOptions<V>, transport: Transport, ownsTransport: boolean) {
    super()
    this.#o = options
    this.namespace = options.namespace
    this.#transport = transport
    this.#ownsTransport = ownsTransport
    this.origin = `${options.nodeId}~${newIncarnation(options.now())}`
    const host: ReplicaHost = {
      changed: (key, reason) => this.#changed(key, reason),
      changedKeepingValue: (key) => this.#loads?.changed(key),
      applied: (key, kind, source) => this.#emitChange(key, kind, source),
      queue: (seq, record) => this.#outbox.push(seq, record),
      evicted: (key, reason) => this.#evicted(key, reason),
      refused: (from, error) => this.#protocolError(from, error),
      members: () => this.#membership?.liveOrigins() ?? new Set(),
    }
    this.#replica = new Replica<V>(options, this.origin, this.#counters, host)
    this.#store = this.#replica.store
    this.#lru = this.#store.lru
    this.#readsCheckClock = options.injectedClock
    this.#outbox = new Outbox(this.origin, options.limits.maxRecords, (frame) => this.#broadcast(frame))
    const replica = this.#replica
    this.#sync = new AntiEntropy({
      stateVector: () => replica.stateVector(),
      reportedStateVector: () => replica.reportedStateVector(this.#liveOrigins()),
      flowing: () => this.#flowing(),
      recordsBeyond: (sv) => replica.recordsBeyond(sv),
      applyRepair: (records, from) => replica.applyRecords(records, 'repair', from),
      advance: (sv, skipped) => replica.advance(sv, skipped),
      send: (peer, frame) => this.#send(peer, frame),
      now: options.now,
    }, options.limits.maxRecords, sessionTimeout(options))
  }

  /** Joins the namespace on the transport and starts the timers. Called by `createMeshCache`. */
  async start (): Promise<this> {
    const handler: FrameHandler = {
      onFrame: (from, frame) => this.#onFrame(from, frame),
      onPeerUp: (peer) => {
        if (this.#closed) return
        this.#membership?.greet(peer)
        this.#sync.request(peer, true)
      },
      onPeerDown: (peer) => this.#sync.peerGone(peer),
    }
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
    if (value === undefined) this.#counters.misses++
    else this.#counters.hits++
    return value
  }

  /** Whether `key` has a live value here (does not refresh its recency). */
  has (key: string): boolean {
    this.#beforeRead()
    const found = this.#lru.has(key)
    if (found) this.#counters.hits++
    else this.#counters.misses++
    return found
  }

  /**
   * The value of `key` as `get` returns it, but as lru-cache's `peek` does:
   * its recency is not refreshed and no hit or miss is counted, so
   * diagnostics and tests can look without changing what is evicted next.
   */
  peek (key: string): V | undefined {
    this.#beforeRead()
    return this.#lru.peek(key)
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
      this.#replica.forgetPlaceholder(key)
      this.#changed(key, 'local')
      // Edges before the value: storing it may evict one of its bases for
      // capacity, and a base with a dependent keeps its own edges (chains).
      if (bases !== undefined) this.#graph().link(key, bases, false)
      this.#store.setLocal(key, value, this.#o.now() + ttl)
      return this
    }
    // Encode before touching state: a value the codec refuses changes nothing.
    const bytes = this.#replica.replicate ? this.#replica.encode(key, value) : undefined
    const entry = this.#replica.write(key, RecordKind.SET, ttl, bytes)
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
    if (this.#closed || this.#channel === undefined) return
    for (const peer of this.#channel.peers()) this.#sync.request(peer, true)
  }

  /** This instance and the live members: origins never retired, and always reported. */
  #liveOrigins (): Set<string> {
    const live = this.#membership?.liveOrigins() ?? new Set<string>()
    live.add(this.origin)
    return live
  }

  /** Drops expired values, tombstones older than the horizon and departed origins now (a timer also does it). */
  purgeStale (): void {
    this.#membership?.forgetDeparted()
    this.#replica.collect(this.#liveOrigins())
  }

  stats (): CacheStats {
    const c = this.#counters
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
      origins: this.#replica.tracker.size,
      metadataBytes: metadataBytes(this.#store),
      loads: this.#loads?.calls ?? 0,
      loadsCoalesced: this.#loads?.coalesced ?? 0,
      loadErrors: this.#loads?.failed ?? 0,
      loadsDiscarded: this.#loads?.discarded ?? 0,
      staleServed: this.#loads?.staleServed ?? 0,
      propagation: this.#replica.lag.snapshot(),
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

  /** Live members of this namespace (announced within the last 30 s), with their region and sequence summary. */
  peers (): PeerInfo[] {
    return this.#membership?.peers() ?? []
  }

  /** Peers reachable in this namespace (transport ids). */
  connectedPeers (): string[] {
    return this.#channel?.peers() ?? []
  }

  /** Addresses other nodes can dial, when the transport has any. */
  multiaddrs (): string[] {
    return this.#transport.multiaddrs?.() ?? []
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#outbox.flush()
    this.#closed = true
    this.#loads?.close()
    for (const t of this.#timers) clearInterval(t)
    this.#timers = []
    this.#store.close()
    this.#membership?.destroy() // tells peers we left, while the channel is still open
    await this.#channel?.close()
    if (this.#ownsTransport) await this.#transport.close?.()
  }

  #remove (key: string, kind: RecordKindValue): boolean {
    this.#assertOpen()
    this.#checkKey(key)
    return this.#replica.remove(key, kind)
  }

  // ---- incoming frames ----

  #onFrame (from: string, frame: Uint8Array): void {
    if (this.#closed) return
    this.#counters.framesReceived++
    this.#operation(() => this.#handleFrame(from, frame))
  }

  #handleFrame (from: string, frame: Uint8Array): void {
    try {
      const msg = decodeFrame(frame, this.#o.limits, this.#replica.canonicalOrigin)
      switch (msg.type) {
        case MessageType.UPDATES: if (this.#replica.applyUpdates(from, msg)) this.#sync.request(from); break
        case MessageType.SYNC_STEP1: this.#sync.onStep1(from, msg); break
        case MessageType.SYNC_STEP2: this.#sync.onStep2(from, msg); break
        case MessageType.AWARENESS: this.#membership?.apply(msg.update, from); break
      }
    } catch (error) {
      this.#protocolError(from, error)
    }
  }

  #protocolError (from: string, error: unknown): void {
    this.#counters.protocolErrors++
    log('frame from %s refused: %s', from, (error as Error)?.message)
    if (this.listenerCount('frameError') > 0) this.#emitSafely('frameError', { peer: from, error })
  }

  // ---- anti-entropy and membership wiring ----

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
    const t = this.#replica.tracker
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
      { origin: this.origin, nodeId, incarnation, region: this.#o.region, namespaces: [this.namespace], seq: this.#replica.seq },
      {
        broadcast: (update) => this.#broadcast(frame(update)),
        send: (peer, update) => this.#send(peer, frame(update)),
        // A member that issued more than we have seen lost us its last frames: repair now.
        onSummary: (origin, seq, peer) => {
          if (origin !== this.origin && seq > this.#replica.tracker.contiguous(origin)) this.#sync.request(peer)
        },
      },
    )
  }

  /** Re-announces our sequence summary when it moved since the last announcement. */
  #announce (): void {
    const seq = this.#replica.seq
    if (seq === this.#announcedSeq || this.#closed) return
    this.#announcedSeq = seq
    this.#membership?.announce(seq)
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

  // ---- loading and dependencies (lib/loading/loader.ts, lib/loading/dependencies.ts) ----

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
    this.#replica.forgetPlaceholder(key)
    this.#store.dropValue(key, this.#cascadeReason)
    if (this.#loads !== undefined) this.#loads.changed(key)
  }

  /** A value left the LRU (any reason): its edges and grace state go, and so does a loaded value's placeholder. */
  #evicted (key: string, reason: EvictReason): void {
    if (this.#deps !== undefined) this.#deps.release(key)
    if (this.#loads !== undefined) this.#loads.forget(key)
    this.#replica.forgetPlaceholder(key)
    this.#emitEvict(key, reason)
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
      store: (key, value, lifeMs) => {
        if (this.#closed) return false
        this.#replica.storeLoaded(key, value, lifeMs)
        return true
      },
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
  #emitSafely (name: string, payload: unknown): void {
    try {
      this.emit(name, payload)
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
    if (typeof key !== 'string') throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `key must be a string, got ${typeof key}`)
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
