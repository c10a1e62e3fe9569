/**
 * The exporter contract: how a cache's figures reach a monitoring system.
 *
 * An *exporter* (meshcache/prometheus, meshcache/otel, the dashboard, an
 * audit log) takes a read-only view of a cache (`ObservedCache`), reads it
 * on its own schedule and may subscribe to its events. It never writes to
 * the cache, and reading must stay cheap: `stats()` walks the metadata once
 * for `metadataBytes`, so scrape it, do not poll it hot.
 *
 * A *source* (the cache core, an L2 tier, a change feed, the staleness
 * audit) exposes named metric families (`MetricSource`); exporters read
 * every source of a cache when they are scraped. Nothing is pushed: a
 * source's `collect()` runs only when someone looks, so a source keeps plain
 * counters on its own paths and exporting adds no work to them.
 *
 * Names are Prometheus-style and unprefixed (the exporter adds its prefix):
 * snake_case, base units (`_seconds`, `_bytes`), counters end in `_total`.
 * Labels must be low-cardinality (`tier`, `reason`, `code`, `source`):
 * never a key or a value. Two sources may contribute samples to one family
 * (the core's `hits_total{tier="l1"}` and an L2 tier's
 * `hits_total{tier="l2"}`); the first source registered owns its help text.
 *
 * A source must return the same family names on every call (samples may
 * come and go): exporters that register families up front (prom-client)
 * learn them from the first `collect()`, made when the source is added.
 */
import { ErrorCode, MeshCacheError } from '../errors.ts'
import type { EvictEvent } from '../core/store.ts'
import type { CacheStats } from './stats.ts'
import type { PeerInfo } from '../sync/membership.ts'

/** The events an exporter may listen to, with their payloads. */
export interface ObservedEvents {
  /** A key's replicated state moved (a local write or an applied remote record). */
  change: { key: string, kind: 'set' | 'delete' | 'invalidate', source: 'local' | 'remote' | 'repair' }
  /** A value left this instance (any reason). */
  evict: EvictEvent
  /** A frame (or some of its records) was refused. */
  frameError: { peer: string, error: unknown }
}

/** What an exporter sees of a cache: MeshCache satisfies it. */
export interface ObservedCache {
  readonly namespace: string
  readonly origin: string
  stats(): CacheStats
  peers(): PeerInfo[]
  /** Peers reachable now on the transport. */
  connectedPeers(): string[]
  on<E extends keyof ObservedEvents>(event: E, listener: (payload: ObservedEvents[E]) => void): unknown
  off<E extends keyof ObservedEvents>(event: E, listener: (payload: ObservedEvents[E]) => void): unknown
}

export interface Exporter {
  /** For logs, e.g. 'prometheus'. */
  readonly name: string
  /** Starts observing `cache`; returns the function that stops it (removing every listener it added). */
  attach(cache: ObservedCache): () => void
}

/** An exporter that observes nothing. */
export const noExporter: Exporter = {
  name: 'none',
  attach: () => () => {},
}

/** One value of a counter or gauge family, with its labels (none: the family's only series). */
export interface Sample {
  labels?: Readonly<Record<string, string>>
  value: number
}

export interface CounterFamily {
  type: 'counter'
  /** Ends in `_total`. */
  name: string
  help: string
  samples: Sample[]
}

export interface GaugeFamily {
  type: 'gauge'
  name: string
  help: string
  samples: Sample[]
}

/** One series of a histogram: cumulative buckets (upper bound in the family's unit, Infinity last), sum and count. */
export interface HistogramSample {
  labels?: Readonly<Record<string, string>>
  buckets: ReadonlyArray<readonly [le: number, cumulative: number]>
  sum: number
  count: number
}

export interface HistogramFamily {
  type: 'histogram'
  /** In its base unit, e.g. `propagation_lag_seconds`. */
  name: string
  help: string
  samples: HistogramSample[]
}

export type MetricFamily = CounterFamily | GaugeFamily | HistogramFamily

/** Anything that exposes figures of a cache: the core, a tier, a change-feed source, the audit. */
export interface MetricSource {
  /** Short and stable (`core`, `l2`, `cdc`, `audit`): names the source in errors and the dashboard. */
  readonly name: string
  /** The families' current values. Called on scrape, never on a cache operation; must not throw. */
  collect(): MetricFamily[]
}

type Listener = (source: MetricSource) => void

interface Registration {
  sources: MetricSource[]
  listeners: Set<Listener>
}

/** Per cache (any object), weakly held: a closed and dropped cache takes its sources with it. */
const registrations = new WeakMap<object, Registration>()

function registration (cache: object): Registration {
  let r = registrations.get(cache)
  if (r === undefined) registrations.set(cache, r = { sources: [], listeners: new Set() })
  return r
}

const FAMILY_NAME = /^[a-z_][a-z0-9_]*$/

/** A source the contract refuses: a caller's argument, typed as every error of the library is. */
function badSource (message: string): MeshCacheError {
  return new MeshCacheError(ErrorCode.INVALID_ARGUMENT, message)
}

/** Checks a family's shape: a source that breaks the contract fails where it is added, not in a scrape. */
export function checkFamily (f: MetricFamily, source: string): void {
  if (!FAMILY_NAME.test(f.name)) throw badSource(`metric source ${source}: family name ${JSON.stringify(f.name)} is not snake_case`)
  if (f.type === 'counter' && !f.name.endsWith('_total')) throw badSource(`metric source ${source}: counter ${f.name} must end in _total`)
  if (f.type !== 'counter' && f.name.endsWith('_total')) throw badSource(`metric source ${source}: ${f.type} ${f.name} must not end in _total`)
}

/**
 * Adds a source of figures to `cache`; every exporter registered on it, now
 * or later, exports them. Returns a function that removes the source.
 */
export function addMetricSource (cache: object, source: MetricSource): () => void {
  if (typeof source?.name !== 'string' || typeof source.collect !== 'function') {
    throw badSource('a metric source needs a name and a collect() function')
  }
  const r = registration(cache)
  if (r.sources.some((s) => s.name === source.name)) throw badSource(`metric source ${source.name} is already added to this cache`)
  for (const f of source.collect()) checkFamily(f, source.name)
  r.sources.push(source)
  for (const listener of r.listeners) listener(source)
  return () => {
    const i = r.sources.indexOf(source)
    if (i >= 0) r.sources.splice(i, 1)
  }
}

/** The sources added to `cache`, in the order they were added. */
export function metricSources (cache: object): readonly MetricSource[] {
  return registrations.get(cache)?.sources ?? []
}

/**
 * Calls `listener` for every source of `cache`, now and whenever one is
 * added (an exporter registers the new families). Returns a function that
 * stops listening.
 */
export function watchMetricSources (cache: object, listener: Listener): () => void {
  const r = registration(cache)
  for (const s of r.sources) listener(s)
  r.listeners.add(listener)
  return () => { r.listeners.delete(listener) }
}

/** Every family of every source of `cache`, samples of one name merged (first source's help wins). */
export function collectFamilies (cache: object): MetricFamily[] {
  const byName = new Map<string, MetricFamily>()
  for (const source of metricSources(cache)) {
    let families: MetricFamily[]
    try {
      families = source.collect()
    } catch {
      continue // a broken source must not take the others' figures down with it
    }
    for (const f of families) {
      const seen = byName.get(f.name)
      if (seen === undefined) byName.set(f.name, { ...f, samples: [...f.samples] } as MetricFamily)
      else if (seen.type === f.type) (seen.samples as unknown[]).push(...f.samples)
    }
  }
  return [...byName.values()]
}
