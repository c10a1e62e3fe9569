/**
 * `meshcache/redis`: an L2 tier on Redis (a single server or Redis Cluster)
 * through node-redis. SPEC.md §14 has the rules: versioned records, a write
 * never overwrites a newer one (a Lua script), a fill lands only on an empty
 * key (SET NX), writes leave after the caller in order per key and are
 * replayed after an outage before reads resume, every call has a deadline,
 * and a circuit breaker stops calling a dead Redis. Nothing here throws to
 * the cache: failures are counted and reported.
 */
import { EventEmitter } from 'node:events'
import { debuglog } from 'node:util'
import { invalidOption } from '../errors.ts'
import { decodeValue, encodeValue, type ValueCodec } from '../value-codec.ts'
import { physicalMs } from '../core/clock.ts'
import { Breaker, type BreakerState } from './breaker.ts'
import { Deadlines, TIMED_OUT } from './deadlines.ts'
import { WriteQueue } from './write-queue.ts'
import { RedisCalls, type RedisConnection } from './redis-client.ts'
import { resolveRedisTierOptions, type RedisTierOptions, type ResolvedRedisTierOptions } from './redis-options.ts'
import { KIND_FILL, KIND_TOMBSTONE, KIND_WRITE, decodeRecord, encodeRecord } from './redis-record.ts'
import { NO_STATE, type Tier, type TierHit, type TierHost } from './tier.ts'

export type { RedisConnection } from './redis-client.ts'
export { DEFAULT_FAILURE_THRESHOLD, DEFAULT_MAX_PENDING, DEFAULT_PROBE_INTERVAL_MS, DEFAULT_TIMEOUT_MS, DEFAULT_TOMBSTONE_TTL_MS, type RedisTierOptions } from './redis-options.ts'
export type { Tier, TierHit, TierHost, TierFailure } from './tier.ts'

const log = debuglog('meshcache:redis')

const RESOLVED_MISS: Promise<undefined> = Promise.resolve(undefined)
/** Delay before a failed write is retried while the breaker is still closed. */
const RETRY_MS = 50
/** A probe may take longer than a call: a reconnecting client answers it only once connected. */
const PROBE_TIMEOUT_MS = 100

/** A write waiting to be sent: the newest of this instance for its key. */
interface PendingWrite<V> {
  value: V | undefined
  ttl: number
  hlc: number
  writer: string
  state: string | (() => string)
  bases: string[] | undefined
}

/**
 * Events: `breaker` (the new state: 'open', 'recovering', 'closed') and
 * `failure` (a TierFailure), beside the cache's `tierError`.
 */
export class RedisTier<V extends {} = {}> extends EventEmitter implements Tier<V> {
  readonly name = 'l2'
  readonly #o: ResolvedRedisTierOptions
  readonly #connection: RedisConnection
  readonly #ownsConnection: boolean
  readonly #calls: RedisCalls
  readonly #breaker: Breaker
  readonly #timeout: number
  readonly #deadlines: Deadlines
  readonly #probeDeadline: Deadlines
  readonly #tombstoneTtl: number
  readonly #maxPending: number
  #host: TierHost<V> | undefined
  #codec: ValueCodec<V> | undefined
  #prefix = ''
  #connecting: Promise<unknown> | undefined
  readonly #queue: WriteQueue<PendingWrite<V>>
  /** The pending queue overflowed during an outage: once back, no reads until this time (ms). */
  #overflowed = false
  #distrustUntil = 0
  #closed = false

  hits = 0
  misses = 0
  errors = 0
  writes = 0
  fills = 0
  skipped = 0
  bypassed = 0
  replayed = 0

  constructor (options: RedisTierOptions) {
    super()
    const o = resolveRedisTierOptions(options)
    this.#o = o
    this.#connection = o.connection
    this.#ownsConnection = o.ownsConnection
    this.#calls = new RedisCalls(this.#connection)
    this.#timeout = o.timeout
    this.#deadlines = new Deadlines(o.timeout)
    this.#probeDeadline = new Deadlines(Math.max(o.timeout, PROBE_TIMEOUT_MS))
    this.#tombstoneTtl = o.tombstoneTtl
    this.#maxPending = o.maxPending
    this.#queue = new WriteQueue<PendingWrite<V>>({
      send: (key, w) => this.#sendWrite(key, w),
      sending: () => this.#breaker.allows || this.#breaker.state === 'recovering',
      landed: (stored) => {
        this.#breaker.success()
        if (stored) this.writes++
        else this.skipped++
      },
      failed: (key, error) => { this.#fail('write', key, error) },
      overflowed: () => {
        this.#overflowed = true
        this.#fail('write', undefined, new Error(`more than ${this.#maxPending} keys waiting for Redis: queued writes dropped, L2 reads off for the longest L2 lifetime once Redis is back`), false)
      },
      replayed: () => { this.#breaker.recovered() },
      retrySoon: () => this.#breaker.allows,
    }, o.maxPending, RETRY_MS)
    this.#breaker = new Breaker({
      threshold: o.failureThreshold,
      probeInterval: o.probeInterval,
      probe: () => this.#probe(),
      onRecovering: () => this.#recovering(),
      onChange: (state) => this.#breakerChanged(state),
    })
  }

  attach (host: TierHost<V>): void {
    if (this.#host !== undefined) invalidOption('l2', 'is a RedisTier already attached to a cache: give each cache its own (they may share one client)')
    if (this.#o.ttl !== undefined && this.#o.ttl > host.maxTtl) invalidOption('l2.ttl', `(${this.#o.ttl}) exceeds the cache's maxTtl (${host.maxTtl}): every copy must expire within maxTtl`)
    this.#host = host
    this.#codec = host.codec
    this.#prefix = this.#o.prefix ?? `meshcache:${host.namespace}:`
    if (this.#ownsConnection) {
      this.#connecting = this.#connection.connect().catch((error: unknown) => {
        this.#fail('connect', undefined, error)
      })
    }
  }

  /** Resolves once the tier's own client is connected (a no-op for a client you pass). */
  async ready (): Promise<void> {
    await this.#connecting
  }

  get breaker (): BreakerState {
    return this.#breaker.state
  }

  /** Whether reads and fills may go to Redis now. */
  #trusted (): boolean {
    if (!this.#breaker.allows || this.#closed) return false
    if (this.#distrustUntil !== 0) {
      if ((this.#host as TierHost<V>).now() < this.#distrustUntil) return false
      this.#distrustUntil = 0
    }
    return true
  }

  read (key: string): Promise<TierHit<V> | undefined> {
    // Our own write of the key not landed yet: Redis is behind us.
    if (!this.#trusted() || this.#queue.has(key)) {
      this.bypassed++
      return RESOLVED_MISS
    }
    // No async function here: each await would be one more promise on the hit path.
    return this.#deadlines.race(this.#calls.get(this.#prefix + key)).then(
      (reply) => this.#answered(key, reply),
      (error: unknown) => {
        this.#fail('read', key, error)
        return undefined
      },
    )
  }

  #answered (key: string, reply: Buffer | null | typeof TIMED_OUT): TierHit<V> | undefined {
    if (reply === TIMED_OUT) {
      this.#fail('read', key, timeoutError('read', key, this.#timeout))
      return undefined
    }
    this.#breaker.success()
    const record = reply === null ? undefined : decodeRecord(reply)
    // A copy past its freshness (a longer `l2.ttl`, or clocks apart) is a miss like a tombstone.
    if (record === undefined || record.kind === KIND_TOMBSTONE || record.expiresAt <= (this.#host as TierHost<V>).now()) {
      this.misses++
      return undefined
    }
    let value: V
    try {
      value = decodeValue(this.#codec as ValueCodec<V>, key, record.payload)
    } catch (error) {
      this.misses++
      this.#fail('read', key, error, false)
      return undefined
    }
    this.hits++
    return { value, hlc: record.hlc, writer: record.writer, state: record.state, source: record.kind === KIND_FILL ? 'fill' : 'write', bases: record.bases, expiresAt: record.expiresAt }
  }

  fill (key: string, value: V, expiresAt: number, hlc: number, startedAt: number, bases: string[] | undefined, state = NO_STATE): void {
    const host = this.#host as TierHost<V>
    const now = host.now()
    const life = this.#o.ttl === undefined ? expiresAt - now : Math.min(this.#o.ttl, expiresAt - now)
    if (!this.#trusted() || this.#queue.has(key) || now - startedAt > this.#tombstoneTtl / 2 || life <= 0) {
      this.bypassed++
      return
    }
    let record: Buffer
    try {
      record = encodeRecord(KIND_FILL, hlc, '', state, bases, expiresAt, encodeValue(this.#codec as ValueCodec<V>, key, value))
    } catch (error) {
      this.#fail('fill', key, error, false)
      return
    }
    this.#deadlines.race(this.#calls.fill(this.#prefix + key, record, life)).then((stored) => {
      if (stored === TIMED_OUT) {
        this.#fail('fill', key, timeoutError('fill', key, this.#timeout))
        return
      }
      this.#breaker.success()
      if (stored) this.fills++
      else this.skipped++
    }, (error: unknown) => { this.#fail('fill', key, error) })
  }

  write (key: string, value: V | undefined, ttl: number, hlc: number, writer: string, bases: string[] | undefined, state: string | (() => string) = NO_STATE): void {
    if (!this.#closed) this.#queue.add(key, { value, ttl, hlc, writer, state, bases })
  }

  async #sendWrite (key: string, w: PendingWrite<V>): Promise<boolean> {
    let record: Buffer
    let life: number
    try {
      ;[record, life] = this.#record(key, w)
    } catch (error) {
      // A record that cannot be built (a writer id too long) will never be: counted, not retried.
      this.#fail('write', key, error, false)
      return false
    }
    const stored = await this.#deadlines.race(this.#calls.write(this.#prefix + key, record, life))
    if (stored === TIMED_OUT) throw timeoutError('write', key, this.#timeout)
    return stored === 1
  }

  /**
   * A write's record and lifetime. A value that cannot be encoded, or a write
   * queued past the tombstone lifetime (its guard may be gone), goes as a
   * tombstone of the same version: a miss is always correct.
   */
  #record (key: string, w: PendingWrite<V>): [Buffer, number] {
    const now = (this.#host as TierHost<V>).now()
    if (w.value !== undefined && now - physicalMs(w.hlc) <= this.#tombstoneTtl) {
      let payload: Uint8Array | undefined
      try {
        payload = encodeValue(this.#codec as ValueCodec<V>, key, w.value)
      } catch (error) {
        this.#fail('write', key, error, false)
      }
      // Fresh until its write's time plus its ttl, as in L1; Redis keeps it `l2.ttl` when that is set.
      if (payload !== undefined) {
        if (typeof w.state === 'function') w.state = w.state() // once: a write may be sent again
        return [encodeRecord(KIND_WRITE, w.hlc, w.writer, w.state, w.bases, physicalMs(w.hlc) + w.ttl, payload), this.#o.ttl ?? Math.max(1, physicalMs(w.hlc) + w.ttl - now)]
      }
    }
    return [encodeRecord(KIND_TOMBSTONE, w.hlc, w.writer, NO_STATE, undefined, 0, undefined), this.#tombstoneTtl]
  }

  async #probe (): Promise<boolean> {
    try {
      return await this.#probeDeadline.race(this.#calls.ping()) !== TIMED_OUT
    } catch {
      return false
    }
  }

  /**
   * The probe answered: replay the queued writes (the outage rule). Reads
   * resume once each key queued now has had a write land (not once the queue
   * is empty: under a steady stream of new writes it seldom is).
   */
  #recovering (): void {
    if (this.#overflowed) {
      this.#overflowed = false
      const host = this.#host as TierHost<V>
      this.#distrustUntil = host.now() + (this.#o.ttl ?? host.maxTtl)
    }
    this.replayed += this.#queue.replay()
  }

  #breakerChanged (state: BreakerState): void {
    log('breaker %s', state)
    if (state === 'open') this.#queue.abandonReplay() // a failed replay starts over at the next probe
    if (state === 'closed') this.#queue.pump()
    this.#emitSafely('breaker', state)
  }

  #fail (op: string, key: string | undefined, error: unknown, tripsBreaker = true): void {
    this.errors++
    if (tripsBreaker) this.#breaker.failure()
    log('%s %s failed: %s', op, key ?? '', (error as Error)?.message)
    const failure = { tier: this.name, op, key, error }
    try {
      this.#host?.onFailure(failure)
    } catch (listenerError) {
      queueMicrotask(() => { throw listenerError })
    }
    this.#emitSafely('failure', failure)
  }

  /** A listener's error surfaces on its own, never inside the tier's bookkeeping (nor as a rejection of a get). */
  #emitSafely (name: string, payload: unknown): void {
    if (this.listenerCount(name) === 0) return
    try {
      this.emit(name, payload)
    } catch (error) {
      queueMicrotask(() => { throw error })
    }
  }

  stats (): Record<string, number | string> {
    return {
      l2Hits: this.hits,
      l2Misses: this.misses,
      l2Errors: this.errors,
      l2Writes: this.writes,
      l2Fills: this.fills,
      l2Skipped: this.skipped,
      l2Bypassed: this.bypassed,
      l2Pending: this.#queue.size,
      l2Replayed: this.replayed,
      l2BreakerOpened: this.#breaker.opened,
      l2Breaker: this.#breaker.state,
    }
  }

  /** Resolves once every queued write was sent and answered, or after `timeoutMs`. */
  async flush (timeoutMs = 5_000): Promise<void> {
    await this.#queue.flush(timeoutMs)
  }

  /** Best effort: deletes every key under the prefix (used by the cache's clear). */
  clear (_hlc: number): void {
    if (!this.#breaker.allows) return
    this.#queue.dropPending()
    this.#calls.deletePrefix(this.#connection, this.#prefix).then(
      () => { this.#breaker.success() },
      (error: unknown) => { this.#fail('clear', undefined, error) },
    )
  }

  async close (): Promise<void> {
    if (this.#closed) return
    await this.flush(Math.max(this.#timeout * 4, 100))
    this.#closed = true
    this.#breaker.close()
    this.#queue.close()
    if (this.#ownsConnection) await this.#closeConnection(Math.max(this.#timeout * 4, 100))
  }

  /**
   * Closes the client this tier made, within `ms`. While Redis is out of
   * reach node-redis reconnects forever, and neither its first `connect` nor
   * a graceful `close` (which waits for the replies owed) settles: past the
   * deadline the client is destroyed, so a cache closes during an outage.
   */
  async #closeConnection (ms: number): Promise<void> {
    const c = this.#connection
    let timer: NodeJS.Timeout | undefined
    const closed = await Promise.race([
      (async () => { await this.#connecting; if (c.isOpen) await c.close() })().then(() => true, () => false),
      new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms) }),
    ])
    clearTimeout(timer)
    if (closed) return
    try {
      c.destroy()
    } catch {} // already closed, or never opened
  }
}

function timeoutError (op: string, key: string, ms: number): Error {
  return new Error(`redis ${op} of ${JSON.stringify(key)} took more than ${ms} ms`)
}
