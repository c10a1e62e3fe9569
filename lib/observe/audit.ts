/**
 * The staleness audit: re-reads a sample of cache hits from the source of
 * truth, in the background and rate-limited, and counts the hits that served
 * a value the source had already replaced.
 *
 * Sampling on the read path is a countdown, not a random draw per hit: the
 * gap to the next sampled hit is drawn (geometrically) only when a sample is
 * taken, so an unsampled hit costs a decrement and a compare. With the audit
 * off, the cache's hook is a no-op function (lib/cache.ts).
 *
 * A read that raced a write in flight is not stale: the source changed, but
 * the change had not had time to reach this instance. A mismatch counts only
 * if the source's change is older than the read by more than `grace`. The
 * change's time comes from `changedAt` (the source's own timestamp, such as
 * an `updated_at` column) or, without it, from the key's version here: the
 * HLC time of a newer write that has arrived since the read. When no newer
 * write has arrived, the audit looks again `grace` ms after it read the
 * source; if the change still has not arrived, the instance is serving a
 * change it never received, and the read counts as stale (its age then is
 * at least the grace: `staleForMs` is undefined).
 */
import { isDeepStrictEqual } from 'node:util'
import { ErrorCode, MeshCacheError, invalidOption } from '../errors.ts'
import { optionNames, refuseUnknown } from '../core/suggest.ts'
import { addMetricSource, type MetricFamily, type MetricSource } from './exporter.ts'
import { physicalMs } from '../core/clock.ts'
import { afterThisRun } from '../core/runtime.ts'

/** Every option name, for refusing unknown ones with a suggestion (a name left out fails to compile). */
const AUDIT_OPTION_NAMES = optionNames<AuditOptions>()(['sample', 'source', 'equals', 'changedAt', 'maxPerSecond', 'grace', 'random'])

export interface AuditOptions<V = unknown> {
  /** Fraction of hits to re-check, 0 to 1 (0: the hook runs but samples nothing). */
  sample: number
  /** Reads the source of truth; `undefined` means the key does not exist there. */
  source: (key: string) => V | undefined | Promise<V | undefined>
  /** Whether the cached value and the source's agree. @default node:util isDeepStrictEqual */
  equals?: (cached: V, fresh: V | undefined) => boolean
  /**
   * Epoch ms when the source's value of `key` last changed (for example its
   * row's `updated_at`), so a mismatch can be dated exactly. @default the
   * HLC time of the newer write this instance receives (see above)
   */
  changedAt?: (key: string, fresh: V | undefined) => number | undefined
  /** Source reads per second at most; sampled hits beyond it are skipped (counted). @default 10 */
  maxPerSecond?: number
  /** Milliseconds a change may take to arrive before a read that missed it counts as stale. @default 1_000 */
  grace?: number
  /** Random numbers in [0, 1) for sampling; injected by tests. @default Math.random */
  random?: () => number
}

/** Emitted as `stale` on the cache. */
export interface StaleEvent {
  key: string
  /** The origin (node id ~ incarnation) of the instance that served the stale value. */
  servedBy: string
  /** HLC of the version served (0 for a value loaded from the source and not written). */
  servedHlc: number
  /** Epoch ms of the read. */
  readAt: number
  /** How old the version served was at the read: the read's time minus its write's HLC time (ms; undefined for a loaded value). */
  servedAgeMs: number | undefined
  /** How long before the read the source had changed, when known (ms). */
  staleForMs: number | undefined
}

export interface AuditStats {
  /** Hits re-read from the source. */
  reads: number
  /** Of those, hits that served a value the source had replaced more than `grace` before the read. */
  stale: number
  /** Mismatches that raced a write in flight (not stale). */
  raced: number
  /** Sampled hits not checked: over `maxPerSecond`. */
  skipped: number
  /** Source reads that failed (the hit is not judged). */
  errors: number
}

/** What the cache gives its audit. */
export interface AuditHost {
  origin: string
  now(): number
  /** HLC of the key's replicated state here (0: none, or a loaded value). */
  versionOf(key: string): number
  emitStale(event: StaleEvent): void
  /** Runs `fn` after `ms` without keeping the process alive. */
  later(ms: number, fn: () => void): void
  /** The audit stopped: the cache puts its no-op hook back. */
  detach(): void
}

export const DEFAULT_AUDIT_RATE = 10
export const DEFAULT_AUDIT_GRACE = 1_000
/** The longest countdown between samples: a small integer (V8 Smi) on 64-bit. */
const MAX_GAP = 2 ** 30

interface Pending<V> { key: string, value: V, servedHlc: number, readAt: number }

export class Audit<V> {
  readonly #host: AuditHost
  readonly #source: AuditOptions<V>['source']
  readonly #equals: (cached: V, fresh: V | undefined) => boolean
  readonly #changedAt: AuditOptions<V>['changedAt']
  readonly #rate: number
  readonly #grace: number
  readonly #random: () => number
  readonly #sample: number
  /** Hits to let pass before the next sample. */
  #skip: number
  #tokens: number
  #refilledAt: number
  #inFlight = 0
  #stopped = false
  readonly counts: AuditStats = { reads: 0, stale: 0, raced: 0, skipped: 0, errors: 0 }

  constructor (host: AuditHost, options: AuditOptions<V>) {
    if (options === null || typeof options !== 'object') invalidOption('audit', 'must be an object with `sample` and `source`')
    refuseUnknown(options, AUDIT_OPTION_NAMES)
    const { sample, source } = options
    if (typeof sample !== 'number' || !(sample >= 0 && sample <= 1)) invalidOption('sample', `must be a fraction from 0 to 1, got ${String(sample)}`)
    if (typeof source !== 'function') invalidOption('source', 'must be a function (key) => value | Promise<value>')
    if (options.equals !== undefined && typeof options.equals !== 'function') invalidOption('equals', 'must be a function (cached, fresh) => boolean')
    if (options.changedAt !== undefined && typeof options.changedAt !== 'function') invalidOption('changedAt', 'must be a function (key, fresh) => epoch ms')
    const rate = options.maxPerSecond ?? DEFAULT_AUDIT_RATE
    if (typeof rate !== 'number' || !(rate > 0) || !Number.isFinite(rate)) invalidOption('maxPerSecond', `must be a positive number, got ${String(rate)}`)
    const grace = options.grace ?? DEFAULT_AUDIT_GRACE
    if (!Number.isSafeInteger(grace) || grace < 0) invalidOption('grace', `must be a non-negative integer (ms), got ${String(grace)}`)
    if (options.random !== undefined && typeof options.random !== 'function') invalidOption('random', 'must be a function returning [0, 1)')
    this.#host = host
    this.#source = source
    this.#equals = options.equals ?? isDeepStrictEqual
    this.#changedAt = options.changedAt
    this.#rate = rate
    this.#grace = grace
    this.#random = options.random ?? Math.random
    this.#sample = sample
    this.#tokens = rate
    this.#refilledAt = host.now()
    this.#skip = this.#gap()
  }

  /** The read-path hook: a decrement and a compare until a sample is due. */
  readonly onHit = (key: string, value: V): void => {
    if (--this.#skip > 0) return
    this.#skip = this.#gap()
    if (this.#sample > 0) this.#sampled(key, value)
  }

  /** Stops sampling; reads in flight are dropped unjudged. */
  stop (): void {
    if (this.#stopped) return
    this.#stopped = true
    this.#host.detach()
  }

  get stopped (): boolean {
    return this.#stopped
  }

  /** The audit as a metric source (lib/observe/exporter.ts). */
  metricSource (): MetricSource {
    const c = this.counts
    const counter = (name: string, help: string, value: number): MetricFamily => ({ type: 'counter', name, help, samples: [{ value }] })
    return {
      name: 'audit',
      collect: () => [
        counter('audit_reads_total', 'Cache hits re-read from the source of truth by the staleness audit.', c.reads),
        counter('audit_stale_total', 'Audited hits that served a value the source had replaced more than the grace before the read.', c.stale),
        counter('audit_raced_total', 'Audited mismatches that raced a write in flight (not stale).', c.raced),
        counter('audit_skipped_total', 'Sampled hits not audited: over maxPerSecond.', c.skipped),
        counter('audit_errors_total', 'Audit source reads that failed.', c.errors),
      ],
    }
  }

  /**
   * Hits until the next sample: geometric with mean 1/sample, capped at
   * MAX_GAP so the countdown stays a small integer (a double field would be
   * a boxed number written on every hit). At sample 0 the countdown runs out
   * every MAX_GAP hits and samples nothing.
   */
  #gap (): number {
    if (this.#sample >= 1) return 1
    if (this.#sample <= 0) return MAX_GAP
    return Math.min(MAX_GAP, 1 + Math.floor(Math.log(1 - this.#random()) / Math.log(1 - this.#sample)))
  }

  #sampled (key: string, value: V): void {
    if (this.#stopped) return
    const now = this.#host.now()
    this.#tokens = Math.min(this.#rate, this.#tokens + (now - this.#refilledAt) * this.#rate / 1000)
    this.#refilledAt = now
    // In-flight reads are bounded too: a hanging source must not pile reads up.
    if (this.#tokens < 1 || this.#inFlight >= Math.ceil(this.#rate)) {
      this.counts.skipped++
      return
    }
    this.#tokens -= 1
    this.#inFlight++
    const pending: Pending<V> = { key, value, servedHlc: this.#host.versionOf(key), readAt: now }
    // Off the read path: the source is read once the caller's synchronous run is over.
    afterThisRun(() => { void this.#check(pending) })
  }

  async #check (p: Pending<V>): Promise<void> {
    let fresh: V | undefined
    try {
      fresh = await this.#source(p.key)
    } catch {
      this.counts.errors++
      this.#inFlight--
      return
    }
    this.#inFlight--
    if (this.#stopped) return
    this.counts.reads++
    if (this.#equals(p.value, fresh)) return
    const changedAt = this.#changedAt?.(p.key, fresh) ?? this.#arrivedChange(p)
    if (changedAt !== undefined) {
      this.#judge(p, changedAt)
      return
    }
    // The change has not reached this instance: look again after the grace.
    this.#host.later(this.#grace, () => {
      if (this.#stopped) return
      const arrived = this.#arrivedChange(p)
      if (arrived !== undefined) this.#judge(p, arrived)
      else this.#stale(p, undefined)
    })
  }

  /** Physical time of a newer version that has arrived here since the read, if any. */
  #arrivedChange (p: Pending<V>): number | undefined {
    const hlc = this.#host.versionOf(p.key)
    return hlc > p.servedHlc ? physicalMs(hlc) : undefined
  }

  #judge (p: Pending<V>, changedAt: number): void {
    if (changedAt + this.#grace < p.readAt) this.#stale(p, p.readAt - changedAt)
    else this.counts.raced++
  }

  #stale (p: Pending<V>, staleForMs: number | undefined): void {
    this.counts.stale++
    const servedAgeMs = p.servedHlc === 0 ? undefined : Math.max(0, p.readAt - physicalMs(p.servedHlc))
    this.#host.emitStale({ key: p.key, servedBy: this.#host.origin, servedHlc: p.servedHlc, readAt: p.readAt, servedAgeMs, staleForMs })
  }
}

/**
 * Builds the audit of `cache` (its `audit()` method): the host is the
 * cache's public view plus `emit` (its listener-safe emit) and `detach`
 * (puts its no-op hook back); the audit's counters join the cache's metric
 * sources until it stops.
 */
export function startAudit<V> (
  cache: { readonly origin: string, inspect(key: string): { hlc: number } | undefined, listenerCount(event: string): number },
  options: AuditOptions<V>,
  now: () => number,
  emit: (event: StaleEvent) => void,
  detach: () => void,
): Audit<V> {
  let removeSource = (): void => {}
  const audit = new Audit<V>({
    origin: cache.origin,
    now,
    versionOf: (key) => cache.inspect(key)?.hlc ?? 0,
    emitStale: (event) => { if (cache.listenerCount('stale') > 0) emit(event) },
    later: (ms, fn) => { setTimeout(fn, ms).unref() },
    detach: () => {
      detach()
      removeSource()
    },
  }, options)
  removeSource = addMetricSource(cache, audit.metricSource())
  return audit
}

/** Thrown by a second `cache.audit()` while one runs. */
export function auditRunning (): MeshCacheError {
  return new MeshCacheError(ErrorCode.INVALID_OPTION, 'an audit already runs on this cache: stop() it before starting another')
}
