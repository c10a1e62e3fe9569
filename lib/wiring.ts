/**
 * The parts a MeshCache is made of and how they are connected: the replica
 * (lib/core/replica.ts), the outbox, anti-entropy and membership
 * (lib/sync/), loads and dependents (lib/loading/derived.ts), the lower tier
 * (lib/tiers/link.ts), acknowledgements and peer waits; and their life on
 * the transport: joining the namespace, frames in and out, timers, closing.
 * MeshCache (lib/cache.ts) is the public API over these parts and holds
 * none of this plumbing.
 */
import { RecordKind } from '../protocol/constants.ts'
import { newIncarnation } from './core/incarnation.ts'
import { Replica } from './core/replica.ts'
import type { Store, EvictReason } from './core/store.ts'
import { checkKey, checkTtl } from './arguments.ts'
import { ErrorCode, MeshCacheError } from './errors.ts'
import type { EventSink } from './event-emitter.ts'
import type { ResolvedOptions } from './options.ts'
import type { WireRecord } from '../protocol/record.ts'
import { dispatchFrame, dispatchLone, type FrameRoutes } from './sync/dispatch.ts'
import { Replication } from './sync/replication.ts'
import { Outbox } from './sync/outbox.ts'
import { ReplicationAcks, farMembers } from './sync/replication-acks.ts'
import { transportOf } from './sync/incarnations.ts'
import { PeerWaiters } from './sync/peer-wait.ts'
import { Derived } from './loading/derived.ts'
import { assertUserKey } from './loading/tags.ts'
import type { Channel, FrameHandler, Transport } from './net/transport.ts'
import type { MeshLogger } from './observe/logger.ts'
import { Counters, type CacheStats } from './observe/stats.ts'
import { ClockSkew } from './observe/clock-skew.ts'
import { metadataBytes } from './observe/inspect.ts'
import { addMetricSource } from './observe/exporter.ts'
import { tierMetricSource } from './observe/tier-metrics.ts'
import { transportMetricSource } from './observe/transport-metrics.ts'
import { attachTier, type TierLink } from './tiers/link.ts'
import type { Tier, TierFailure } from './tiers/tier.ts'
import { jsonCodec, resolveCodec, type ValueCodec } from './value-codec.ts'

/**
 * Tombstones the periodic sweep looks at per event-loop turn: ~0.5-1 ms of
 * deletes on this project's test host, where a whole sweep under 20,000 new
 * keys a second was ~200,000 of them in one run (Store.collect).
 */
const COLLECT_CHUNK = 4096

export class Wiring<V extends {}> {
  /** This instance's origin id: node id and incarnation. */
  readonly origin: string
  readonly counters = new Counters()
  /** The replicated state of the namespace (lib/core/replica.ts): merges, local writes, retirement. */
  readonly replica: Replica<V>
  readonly store: Store<V>
  readonly outbox: Outbox
  /** Anti-entropy and membership (lib/sync/replication.ts). */
  readonly repl: Replication<V>
  /** Read-through loads and dependents (lib/loading/derived.ts). */
  readonly derived: Derived<V>
  /** whenReplicated(): ACK_REQUEST / ACK (lib/sync/replication-acks.ts). */
  readonly acks: ReplicationAcks
  /** ready(): waiting for peers (lib/sync/peer-wait.ts). */
  readonly peerWait: PeerWaiters
  /** The lower tier (an L2), if one is configured: lib/tiers/link.ts is all the cache knows of it. */
  readonly link: TierLink<V> | undefined
  readonly transport: Transport
  /** Set once close() has flushed the outbox: no frame goes out or comes in, and no write is taken. */
  closed = false
  readonly #o: ResolvedOptions<V>
  readonly #events: EventSink
  readonly #log: MeshLogger
  readonly #ownsTransport: boolean
  #channel: Channel | undefined
  #timers: NodeJS.Timeout[] = []
  #stopPeerErrors: (() => void) | undefined
  /** Run at close, before the transport goes: attached features (change sources) release their connections. */
  readonly #closeHooks = new Set<() => Promise<void>>()
  /** The close in progress or done: every call returns it. */
  #closing: Promise<void> | undefined
  /** Where incoming frames go (lib/sync/dispatch.ts). */
  readonly #routes: FrameRoutes<V>
  /** Peers' timestamps too far ahead of our clock: counted, logged and the `clockSkew` event (lib/observe/clock-skew.ts). */
  readonly #skew: ClockSkew

  /** `cache` keys the tier's metric source (lib/observe/exporter.ts); `events` is how the parts speak through it. */
  constructor (options: ResolvedOptions<V>, transport: Transport, ownsTransport: boolean, cache: object, events: EventSink) {
    this.#o = options
    this.#events = events
    this.#log = options.logger
    this.transport = transport
    this.#ownsTransport = ownsTransport
    // the transport's counters reach the exporters beside the cache's (lib/observe/transport-metrics.ts)
    if (typeof transport.stats === 'function') addMetricSource(cache, transportMetricSource(() => transport.stats?.() ?? {}))
    this.origin = `${options.nodeId}~${newIncarnation(options.now())}`
    this.#skew = new ClockSkew(options.maxClockSkew, (event) => {
      this.#log.warn(event, `clock skew: a timestamp from ${event.origin} (${event.seenIn}) is ${event.aheadMs} ms ahead of this instance's clock, ` +
        `past maxClockSkew (${event.maxClockSkew} ms): deletes may not hold and dead members may stay listed until the clocks agree (SPEC §9)`)
      if (this.#events.listening('clockSkew')) this.#events.safely('clockSkew', event)
    }, options.now)
    this.replica = new Replica<V>(options, this.origin, this.counters, {
      changed: (key, reason) => this.derived.changed(key, reason),
      changedKeepingValue: (key) => this.derived.changedKeepingValue(key),
      changedBeside: (key, reason) => this.derived.changedBeside(key, reason),
      applied: (key, kind, source) => events.change(key, kind, source),
      queue: (seq, record) => {
        this.outbox.push(seq, record)
        // Every local delete and invalidation (cascades included) passes here; a set goes through write(), with its value.
        if (this.link !== undefined && record.kind !== RecordKind.SET) this.link.removed(record.key, record.hlc, record.writer)
      },
      evicted: (key, reason) => this.#evicted(key, reason),
      refused: (from, error) => this.#protocolError(from, error),
      members: () => this.repl.members(),
      clearing: () => this.derived.changedAll(),
      clockAhead: (origin, aheadMs) => { this.#skew.ahead(origin, aheadMs, 'record') },
    })
    this.store = this.replica.store
    this.outbox = new Outbox(this.origin, options.limits.maxRecords, (frame) => this.#broadcast(frame), options.limits.maxOrigins,
      (seq, r) => this.#broadcastLone(seq, r))
    this.repl = new Replication(this.replica, options, {
      connected: () => this.#channel?.peers() ?? [],
      send: (peer, frame) => this.#send(peer, frame),
      broadcast: (frame) => this.#broadcast(frame),
      relays: () => this.#channel?.relays?.() === true,
      clockAhead: (origin, aheadMs) => { this.#skew.ahead(origin, aheadMs, 'membership') },
      localPeer: () => this.#channel?.localPeer,
    })
    this.derived = new Derived<V>({
      now: options.now,
      maxTtl: options.maxTtl,
      maxKeyBytes: options.limits.maxKeyBytes,
      maxNegative: options.max,
      checkKey: (key) => {
        this.assertOpen()
        checkKey(key, options.limits.maxKeyBytes)
        assertUserKey(key)
      },
      checkTtl: (ttl) => checkTtl(ttl, options.ttl, options.maxTtl),
      store: (key, value, lifeMs) => {
        if (this.closed) return false
        this.replica.storeLoaded(key, value, lifeMs)
        return true
      },
      drop: (key) => { this.store.dropValue(key, 'local') },
      invalidate: (key) => {
        if (this.closed) return false
        // No checkKey: a dependent is a key `set` or a load stored, checked then.
        this.replica.remove(key, RecordKind.INVALIDATE)
        return true
      },
      dropHere: (key, reason) => {
        this.replica.forgetPlaceholder(key)
        this.store.dropValue(key, reason)
      },
      heldElsewhereUntil: (key) => {
        if (!this.replica.replicate) return 0
        const slot = this.store.meta.get(key)
        return slot === undefined ? 0 : this.store.table.expiresAt(slot)
      },
      maxKept: options.max,
      tier: undefined,
    })
    this.peerWait = new PeerWaiters({ connected: () => this.connectedPeers().length, namespace: options.namespace, bootstrap: options.bootstrap })
    this.acks = new ReplicationAcks({
      origin: this.origin,
      issued: () => this.replica.seq,
      flush: () => this.outbox.flush(),
      peers: () => this.connectedPeers(),
      far: () => {
        const neighbours = new Set(this.connectedPeers())
        return farMembers(this.repl.peers(neighbours), neighbours, this.#channel?.localPeer, this.#channel?.relays?.() === true)
      },
      self: () => this.#channel?.localPeer,
      nodeIdOf: (transportId) => this.repl.peers().find((m) => transportOf(m) === transportId)?.nodeId,
      send: (peer, frame) => this.#send(peer, frame),
      contiguous: (origin) => this.replica.tracker.contiguous(origin),
    })
    this.#routes = { limits: options.limits, replica: this.replica, repl: this.repl, acks: this.acks }
    this.link = options.tier === undefined ? undefined : this.#attachTier(options.tier, cache)
  }

  #attachTier (tier: Tier<V>, cache: object): TierLink<V> {
    const link = attachTier(tier, {
      namespace: this.#o.namespace,
      // The L2 keeps its own default, JSON (its records are read by any client); a named or custom codec applies to both.
      codec: this.#o.codec === undefined ? jsonCodec as ValueCodec<V> : resolveCodec(this.#o.codec),
      now: this.#o.now,
      maxTtl: this.#o.maxTtl,
      onFailure: (failure) => {
        if (this.#events.listening('tierError')) this.#events.safely('tierError', failure satisfies TierFailure)
      },
      state: (key) => {
        const e = this.store.meta.get(key)
        const table = this.store.table
        return e === undefined || table.isPlaceholder(e) ? undefined : { hlc: table.hlc(e), writer: table.writer(e), removed: table.kind(e) !== RecordKind.SET, vv: table.vv(e) }
      },
      floor: () => this.replica.clears.at, // the namespace clear horizon (SPEC §4.1): older L2 records are not served
    })
    this.derived.useTier(link)
    addMetricSource(cache, tierMetricSource({ name: tier.name, stats: () => link.stats() })) // its figures reach the exporters
    return link
  }

  /** Joins the namespace on the transport and starts the timers. */
  async start (): Promise<void> {
    const events = this.#events
    const handler: FrameHandler = {
      onFrame: this.#onFrame,
      onLone: this.#onLone,
      onPeerUp: (peer) => {
        if (this.closed) return
        this.repl.peerUp(peer)
        events.safely('peer:join', { peer })
        this.peerWait.joined()
      },
      onPeerDown: (peer) => {
        this.repl.peerDown(peer)
        this.acks.peerGone(peer)
        if (!this.closed) events.safely('peer:leave', { peer })
      },
      regionOf: (origin) => origin === this.origin ? this.#o.region : this.repl.regionOf(origin),
    }
    this.#stopPeerErrors = this.transport.onPeerError?.((event) => {
      if (this.closed) return
      this.peerWait.failed(event)
      this.#log.warn({ address: event.address, code: event.error.code }, event.error.message)
      events.safely('peer:error', event)
    })
    const namespace = this.#o.namespace
    try {
      this.#channel = await this.transport.join(namespace, handler)
    } catch (cause) {
      throw new MeshCacheError(ErrorCode.TRANSPORT, `cannot join namespace ${JSON.stringify(namespace)}`, { cause })
    }
    this.repl.start(namespace)
    // The periodic sweep drops due tombstones a chunk per turn, never ~gcInterval's worth of writes in one run.
    this.#every(this.#o.gcInterval, () => this.purgeStale(COLLECT_CHUNK))
    this.#every(this.#o.announceInterval, () => this.repl.announceTick())
    if (this.#o.syncInterval > 0) this.#every(this.#o.syncInterval, () => this.repl.periodicRound())
  }

  /**
   * A `set` whose arguments are checked and whose `bases` were refused a
   * cycle: the value, its edges, its record for peers and its copy in the L2.
   */
  write (key: string, value: V, ttl: number, bases: string[] | undefined, local: boolean): void {
    if (local) {
      // The key's replicated state stays (without a value): dropping it would
      // leave sequence numbers counted here that no metadata stands for.
      this.replica.forgetPlaceholder(key)
      this.derived.replacedHere(key)
      this.derived.changed(key, 'local')
      // Edges before the value: storing it may evict one of its bases for
      // capacity, and a base with a dependent keeps its own edges (chains).
      if (bases !== undefined) this.derived.graph().link(key, bases, false)
      this.store.setLocal(key, value, this.#o.now() + ttl)
      return
    }
    // Encode before touching state: a value the codec refuses changes nothing.
    const bytes = this.replica.replicate ? this.replica.encode(key, value) : undefined
    const slot = this.replica.write(key, RecordKind.SET, ttl, bytes)
    if (bases !== undefined) this.derived.graph().link(key, bases, true) // before the value, as above
    this.store.setWritten(key, value, slot)
    this.link?.written(key, value, ttl, this.store.table.hlc(slot), this.origin, this.store.table.vv(slot), bases)
    this.#events.change(key, RecordKind.SET, 'local')
  }

  /** A namespace clear (SPEC §4.1), here, for peers and in the L2. */
  clear (): void {
    this.replica.clear()
    this.link?.cleared(this.replica.clears.at) // the L2 drops what it holds, best effort (the floor guards reads)
  }

  /** The cache's counters and sizes; `withMetadataBytes` walks every key's metadata. */
  stats (withMetadataBytes: boolean): CacheStats {
    const store = this.store
    return {
      ...this.counters.snapshot(),
      syncRequests: this.repl.requests,
      clockAhead: this.#skew.seen,
      liveKeys: store.lru.size,
      tombstones: store.tombstones,
      origins: this.replica.tracker.size,
      foldedKeys: store.table.foldedCount,
      metadataBytes: withMetadataBytes ? metadataBytes(store) : -1,
      ...this.derived.loadStats(),
      propagation: this.replica.lag.snapshot(),
      tier: this.link?.stats() ?? null, // null, not undefined: stats() stays JSON-safe (JSON drops undefined)
      transport: this.transport.stats?.() ?? null,
    }
  }

  /** Drops expired values, tombstones older than the horizon and departed origins now. */
  purgeStale (chunk = Infinity): void {
    this.repl.forgetDeparted()
    this.replica.collect(this.repl.liveOrigins(), chunk)
    this.derived.expire(this.#o.now())
  }

  /** Peers reachable in this namespace (transport ids); none once closed. */
  connectedPeers (): string[] {
    if (this.closed) return []
    return this.#channel?.peers() ?? []
  }

  onClose (hook: () => Promise<void>): () => void {
    this.#closeHooks.add(hook)
    return () => { this.#closeHooks.delete(hook) }
  }

  /**
   * The close hooks run first, while the cache is still open (a source
   * stopping gracefully may still apply what it holds); `closing` runs as
   * the cache turns closed, before anything is torn down. A second call
   * while one runs gets the same promise, settled when the first is done.
   */
  close (closing: () => void, handOverTimeout: number): Promise<void> {
    this.#closing ??= this.#close(closing, handOverTimeout)
    return this.#closing
  }

  async #close (closing: () => void, handOverTimeout: number): Promise<void> {
    const hooks = [...this.#closeHooks]
    this.#closeHooks.clear()
    await Promise.allSettled(hooks.map(async (hook) => { await hook() }))
    const handedOver = this.derived.handOver()
    this.outbox.flush()
    // Still open: a peer whose frame of them was lost learns of it from the request and repairs it from us now,
    // where after close no one is left to (SPEC §10).
    if (handedOver > 0) await this.#confirmHandOver(handedOver, handOverTimeout)
    this.closed = true
    closing()
    this.#stopPeerErrors?.()
    this.acks.close()
    this.peerWait.failAll(new MeshCacheError(ErrorCode.CLOSED, `cache ${JSON.stringify(this.#o.namespace)} was closed while waiting for peers`))
    this.derived.close()
    for (const t of this.#timers) clearInterval(t)
    this.#timers = []
    this.store.close()
    this.repl.close() // tells peers we left, while the channel is still open
    await this.#channel?.close()
    if (this.#ownsTransport) await this.transport.close?.()
    await this.link?.tier.close() // sends what it still queues, briefly
  }

  /** Waits for the peers to confirm the hand-over's invalidations; one that does not is named in a warning, and the close goes on. */
  async #confirmHandOver (count: number, timeout: number): Promise<void> {
    try {
      await this.acks.whenReplicated(timeout)
    } catch (error) {
      const code = (error as MeshCacheError).code
      this.#log.warn({ code, dependents: count }, `close: the invalidation of ${count} replicated dependent(s) whose edges only this instance held ` +
        `was not confirmed: ${(error as Error).message}; those peers keep them until their TTL unless anti-entropy reaches them from another peer`)
    }
  }

  assertOpen (): void {
    if (this.closed) throw new MeshCacheError(ErrorCode.CLOSED, `cache ${JSON.stringify(this.#o.namespace)} is closed`)
  }

  /** A value left the LRU (any reason): its edges and grace state go, and so does a loaded value's placeholder. */
  #evicted (key: string, reason: EvictReason): void {
    this.counters.evicted(reason)
    this.derived.evicted(key, reason)
    this.replica.forgetPlaceholder(key)
    this.#events.evict(key, reason)
  }

  // ---- incoming frames ----

  /** The transport's frame handler itself: one function between the transport and the dispatch, as the first of every frame. */
  readonly #onFrame = (from: string, frame: Uint8Array): void => {
    if (this.closed) return
    this.counters.framesReceived++
    const derived = this.derived
    derived.enter()
    try {
      dispatchFrame(from, frame, this.#routes)
    } catch (error) {
      this.#protocolError(from, error)
    } finally {
      derived.leave()
    }
  }

  /** A lone write a transport carried as its fields (SPEC §11, "Lone writes"): taken as its frame would be. */
  readonly #onLone = (from: string, origin: string, seq: number, key: string, kind: number, hlc: number): void => {
    if (this.closed) return
    this.counters.framesReceived++
    const derived = this.derived
    derived.enter()
    try {
      dispatchLone(from, origin, seq, key, kind, hlc, this.#routes)
    } catch (error) {
      this.#protocolError(from, error)
    } finally {
      derived.leave()
    }
  }

  #protocolError (from: string, error: unknown): void {
    const refused = error instanceof MeshCacheError
      ? error
      : new MeshCacheError(ErrorCode.FRAME_MALFORMED, `frame could not be handled: ${(error as Error)?.message ?? String(error)}`, { cause: error })
    this.counters.refused(refused.code)
    this.#log.debug({ peer: from, code: refused.code }, `frame refused: ${refused.message}`)
    if (this.#events.listening('frameError')) this.#events.safely('frameError', { peer: from, error: refused })
  }

  // ---- frames out, timers ----

  #broadcast (frame: Uint8Array): void {
    if (this.#channel === undefined) return
    this.counters.framesSent++
    this.#channel.broadcast(frame)
  }

  /** The outbox's lone write `seq`, if the transport sends lone writes without their frame. */
  #broadcastLone (seq: number, r: WireRecord): boolean {
    if (this.#channel?.broadcastLone?.(this.origin, seq, r.key, r.kind, r.hlc) !== true) return false
    this.counters.framesSent++
    return true
  }

  #send (peer: string, frame: Uint8Array): void {
    if (this.#channel === undefined || this.closed) return
    this.counters.framesSent++
    this.#channel.send(peer, frame)
  }

  #every (ms: number, fn: () => void): void {
    const t = setInterval(fn, ms)
    t.unref()
    this.#timers.push(t)
  }
}
