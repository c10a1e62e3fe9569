/**
 * Each instance's compact stats summary, shared with its peers in its
 * membership metadata (`cache.advertise`), so any one instance can show the
 * whole mesh (the dashboard). Rate-limited (one advertisement per interval,
 * only when a figure moved) and bounded in size (MAX_SUMMARY_BYTES).
 *
 * The summary is a small versioned object of short fields; a peer's is
 * read back with `summaryOf(peer)`, which checks its shape, since it
 * comes from the network.
 */
import type { MeshCache } from '../cache.ts'
import { ErrorCode, MeshCacheError, invalidOption } from '../errors.ts'
import { optionNames, refuseUnknown } from '../core/suggest.ts'
import { LAG_BOUNDS_MS } from './lag-histogram.ts'
import type { EvictReason } from '../core/store.ts'
import { transportOf } from '../sync/incarnations.ts'

/** The membership metadata name the summary is advertised under. */
export const SUMMARY_META = 'stats'
export const SUMMARY_VERSION = 1
/** A summary's JSON stays under this (membership metadata as a whole is capped at 2 KiB); past it the connection list is cut. */
export const MAX_SUMMARY_BYTES = 1200
export const DEFAULT_SHARE_INTERVAL = 1_000
/** Connected members listed at most (the matrix of a larger mesh is cut). */
const MAX_LISTED = 64
/** Recent stale keys shared, and their length at most. */
const MAX_STALE_KEYS = 3
const MAX_STALE_KEY_CHARS = 64

const EVICT_REASONS: readonly EvictReason[] = ['capacity', 'ttl', 'local', 'remote', 'repair']

export interface StatsSummary {
  v: number
  /** Epoch ms of the instance's start. */
  st: number
  /** Epoch ms the summary was taken. */
  t: number
  h: number
  m: number
  /** Live keys, tombstones. */
  k: number
  ts: number
  /** Repairs, gaps, protocol errors. */
  r: number
  g: number
  pe: number
  /** Local and remote updates. */
  lu: number
  ru: number
  /** Evictions per reason, in EVICT_REASONS order. */
  ev: number[]
  /** Propagation lag: count per bucket (not cumulative) in LAG_BOUNDS_MS order plus the overflow, and the sum in ms. */
  lag: number[]
  ls: number
  /** Audit: reads and stale reads; the last few stale keys (cut) with how stale (ms, -1: unknown). */
  ar: number
  as: number
  sk: Array<[string, number]>
  /** Origins of the members this instance is connected to. */
  cn: string[]
  /**
   * Peer timestamps seen ahead of this instance's clock past maxClockSkew
   * (`stats().clockAhead`). Optional: an instance of an older version sends none.
   */
  ca?: number
}

/** Every option name, for refusing unknown ones with a suggestion (a name left out fails to compile). */
const SHARE_OPTION_NAMES = optionNames<ShareOptions>()(['interval'])

export interface ShareOptions {
  /** Milliseconds between advertisements (each only if a figure moved). @default 1_000 */
  interval?: number
}

interface Shared {
  stop(): void
  /** This instance's summary now (what the dashboard shows for it). */
  summary(): StatsSummary
}

const started = new WeakMap<object, number>()
const sharing = new WeakMap<object, Shared>()

/** This instance's summary now. */
export function takeSummary (cache: MeshCache<any>, recentStale: Array<[string, number]> = []): StatsSummary {
  const s = cache.stats({ metadataBytes: false }) // once a second: not the walk over every key
  const p = s.propagation
  const lag: number[] = []
  let previous = 0
  for (const [, n] of p.buckets) { lag.push(n - previous); previous = n }
  lag.push(p.count - previous) // the +Inf bucket: the stats' buckets are finite
  const connected = new Set(cache.connectedPeers())
  // A member's own transport id, not the neighbour its state came through (in a partial mesh, most members).
  const cn = cache.peers().filter((m) => connected.has(transportOf(m))).map((m) => m.origin).slice(0, MAX_LISTED)
  const audit = cache.auditStats()
  const summary: StatsSummary = {
    v: SUMMARY_VERSION,
    st: started.get(cache) ?? Date.now(),
    t: Date.now(),
    h: s.hits,
    m: s.misses,
    k: s.liveKeys,
    ts: s.tombstones,
    r: s.repairs,
    g: s.gapsDetected,
    pe: s.protocolErrors,
    lu: s.localUpdates,
    ru: s.remoteUpdates,
    ev: EVICT_REASONS.map((r) => s.evictions[r] ?? 0),
    lag,
    ls: p.sumMs,
    ar: audit?.reads ?? 0,
    as: audit?.stale ?? 0,
    sk: recentStale.slice(-MAX_STALE_KEYS).map(([k, ms]) => [k.slice(0, MAX_STALE_KEY_CHARS), ms]),
    cn,
    ca: s.clockAhead,
  }
  while (JSON.stringify(summary).length > MAX_SUMMARY_BYTES && summary.cn.length > 0) summary.cn.length = Math.floor(summary.cn.length / 2)
  return summary
}

/** The figures that decide whether a new advertisement is worth sending (not the time). */
function fingerprint (s: StatsSummary): string {
  return JSON.stringify({ ...s, t: 0 })
}

/** Whether `cache`'s summary is being shared (shareStats ran, and was not stopped). */
export function isSharing (cache: MeshCache<any>): boolean {
  return sharing.has(cache)
}

/**
 * Starts sharing `cache`'s summary with its peers. Idempotent per cache:
 * a second call returns the running one. Stops with the returned `stop()`
 * (and when the cache closes).
 */
export function shareStats (cache: MeshCache<any>, options: ShareOptions = {}): Shared {
  if (options === null || typeof options !== 'object') invalidOption('options', 'must be an object')
  refuseUnknown(options, SHARE_OPTION_NAMES)
  const running = sharing.get(cache)
  if (running !== undefined) return running
  const interval = options.interval ?? DEFAULT_SHARE_INTERVAL
  if (!Number.isSafeInteger(interval) || interval < 100) invalidOption('interval', `must be an integer of at least 100 ms, got ${String(interval)}`)
  if (!started.has(cache)) started.set(cache, Date.now())
  const recent: Array<[string, number]> = []
  const onStale = (e: { key: string, staleForMs?: number }): void => {
    recent.push([e.key, e.staleForMs ?? -1])
    if (recent.length > MAX_STALE_KEYS) recent.shift()
  }
  cache.on('stale', onStale)
  let last = takeSummary(cache, recent)
  let sent = ''
  const tick = (): void => {
    last = takeSummary(cache, recent)
    const f = fingerprint(last)
    if (f === sent) return
    sent = f
    try {
      cache.advertise(SUMMARY_META, last as never)
    } catch (error) {
      if ((error as MeshCacheError).code === ErrorCode.CLOSED) {
        shared.stop()
        return
      }
      // Membership metadata as a whole is capped (other names share it): send the summary without its
      // lists rather than nothing, and try the full one again at the next change.
      sent = ''
      try {
        cache.advertise(SUMMARY_META, { ...last, cn: [], sk: [] } as never)
      } catch { /* still too large beside the other names: this instance's figures stay unshared */ }
    }
  }
  const timer = setInterval(tick, interval)
  timer.unref()
  const shared: Shared = {
    stop () {
      clearInterval(timer)
      cache.off('stale', onStale)
      sharing.delete(cache)
    },
    summary: () => (last = takeSummary(cache, recent)),
  }
  sharing.set(cache, shared)
  tick()
  return shared
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0
const isCounts = (a: unknown, max: number): a is number[] => Array.isArray(a) && a.length <= max && a.every(isCount)

/** A peer's summary from its metadata, or undefined when it has none or it is malformed. */
export function summaryOf (meta: Record<string, unknown> | undefined): StatsSummary | undefined {
  const s = meta?.[SUMMARY_META] as Partial<StatsSummary> | undefined
  if (s === null || typeof s !== 'object' || s.v !== SUMMARY_VERSION) return undefined
  for (const f of ['st', 't', 'h', 'm', 'k', 'ts', 'r', 'g', 'pe', 'lu', 'ru', 'ls', 'ar', 'as'] as const) if (!isCount(s[f])) return undefined
  if (s.ca !== undefined && !isCount(s.ca)) return undefined
  if (!isCounts(s.ev, EVICT_REASONS.length) || !isCounts(s.lag, LAG_BOUNDS_MS.length + 1)) return undefined
  if (!Array.isArray(s.cn) || s.cn.length > MAX_LISTED || !s.cn.every((o) => typeof o === 'string' && o.length <= 160)) return undefined
  if (!Array.isArray(s.sk) || s.sk.length > MAX_STALE_KEYS) return undefined
  if (!s.sk.every((e) => Array.isArray(e) && typeof e[0] === 'string' && e[0].length <= MAX_STALE_KEY_CHARS && typeof e[1] === 'number')) return undefined
  return s as StatsSummary
}

export { EVICT_REASONS }
