/**
 * What the dashboard shows, built on the serving instance from its own
 * stats and its peers' shared summaries (lib/observe/share.ts).
 *
 * A member's status: `self`; `up` while this instance or any live member
 * reports a connection to it; `unreachable` while membership still lists it
 * (awareness keeps a silent member for 30 s) but nobody is connected to it:
 * a killed process shows here within a moment, as its connections close;
 * `gone` once membership dropped it (remembered for GONE_KEPT_MS).
 */
import type { MeshCache } from '../../cache.ts'
import { LAG_BOUNDS_MS } from '../lag-histogram.ts'
import { EVICT_REASONS, summaryOf, type StatsSummary } from '../share.ts'
import { transportOf } from '../../sync/incarnations.ts'

/** How long a departed member stays listed as gone. */
export const GONE_KEPT_MS = 5 * 60_000

export interface MemberView {
  origin: string
  nodeId: string
  incarnation: string
  region: string
  status: 'self' | 'up' | 'unreachable' | 'gone'
  uptimeS: number | null
  /** Age of the figures shown (ms); null without a summary. */
  ageMs: number | null
  hits: number | null
  misses: number | null
  hitRatio: number | null
  keys: number | null
  tombstones: number | null
  repairs: number | null
  gaps: number | null
  protocolErrors: number | null
  /** Peer timestamps this member saw ahead of its clock past maxClockSkew; null without a summary or from an older version. */
  clockAhead: number | null
  remoteUpdates: number | null
  evictions: Record<string, number> | null
  auditReads: number | null
  auditStale: number | null
  recentStale: Array<[string, number]>
  /** Origins this member reports being connected to. */
  connectedTo: string[]
  /** Propagation lag count per bucket (not cumulative), null without a summary. */
  lag: number[] | null
}

export interface Snapshot {
  t: number
  namespace: string
  self: string
  members: MemberView[]
  /** Upper bounds (ms) of the lag buckets; the last bucket is everything above. */
  lagBoundsMs: number[]
  /** The whole mesh's lag counts per bucket (sum over members). */
  lag: number[]
  lagCount: number
}

interface Known { view: MemberView, goneAt: number }

/** Builds snapshots for one cache, remembering members that left. */
export class SnapshotBuilder {
  readonly #cache: MeshCache<any>
  readonly #summary: () => StatsSummary
  readonly #known = new Map<string, Known>()

  constructor (cache: MeshCache<any>, summary: () => StatsSummary) {
    this.#cache = cache
    this.#summary = summary
  }

  build (): Snapshot {
    const cache = this.#cache
    const now = Date.now()
    const [nodeId, incarnation] = cache.origin.split('~') as [string, string]
    const own = this.#summary()
    const members: MemberView[] = [view(cache.origin, nodeId, incarnation, cache.region, 'self', own, now)]
    const peers = cache.peers()
    const connectedHere = new Set(cache.connectedPeers())
    const reported = new Set(own.cn)
    const summaries = new Map<string, StatsSummary | undefined>()
    for (const p of peers) {
      const s = summaryOf(p.meta)
      summaries.set(p.origin, s)
      if (s !== undefined) for (const o of s.cn) reported.add(o)
    }
    for (const p of peers) {
      const up = connectedHere.has(transportOf(p)) || reported.has(p.origin)
      members.push(view(p.origin, p.nodeId, p.incarnation, p.region, up ? 'up' : 'unreachable', summaries.get(p.origin), now))
    }
    const live = new Set(members.map((m) => m.origin))
    for (const m of members) this.#known.set(m.origin, { view: m, goneAt: 0 })
    for (const [origin, k] of this.#known) {
      if (live.has(origin)) continue
      if (k.goneAt === 0) k.goneAt = now
      if (now - k.goneAt > GONE_KEPT_MS) { this.#known.delete(origin); continue }
      members.push({ ...k.view, status: 'gone', connectedTo: [] })
    }
    const lag = new Array<number>(LAG_BOUNDS_MS.length + 1).fill(0)
    for (const m of members) if (m.status !== 'gone' && m.lag !== null) m.lag.forEach((n, i) => { lag[i] = (lag[i] as number) + n })
    return { t: now, namespace: cache.namespace, self: cache.origin, members, lagBoundsMs: [...LAG_BOUNDS_MS], lag, lagCount: lag.reduce((a, b) => a + b, 0) }
  }
}

function view (origin: string, nodeId: string, incarnation: string, region: string, status: MemberView['status'], s: StatsSummary | undefined, now: number): MemberView {
  if (s === undefined) {
    return {
      origin, nodeId, incarnation, region, status, uptimeS: null, ageMs: null, hits: null, misses: null, hitRatio: null, keys: null,
      tombstones: null, repairs: null, gaps: null, protocolErrors: null, clockAhead: null, remoteUpdates: null, evictions: null, auditReads: null,
      auditStale: null, recentStale: [], connectedTo: [], lag: null,
    }
  }
  const reads = s.h + s.m
  return {
    origin,
    nodeId,
    incarnation,
    region,
    status,
    uptimeS: Math.max(0, Math.round((now - s.st) / 1000)),
    ageMs: Math.max(0, now - s.t),
    hits: s.h,
    misses: s.m,
    hitRatio: reads === 0 ? null : s.h / reads,
    keys: s.k,
    tombstones: s.ts,
    repairs: s.r,
    gaps: s.g,
    protocolErrors: s.pe,
    clockAhead: s.ca ?? null,
    remoteUpdates: s.ru,
    evictions: Object.fromEntries(EVICT_REASONS.map((r, i) => [r, s.ev[i] ?? 0])),
    auditReads: s.ar,
    auditStale: s.as,
    recentStale: s.sk,
    connectedTo: s.cn,
    lag: s.lag,
  }
}
