/**
 * meshcache/otel: a cache's figures as OpenTelemetry asynchronous
 * instruments on the service's `Meter` (from @opentelemetry/api). One batch
 * callback reads every source once per collection; nothing runs on a cache
 * operation.
 *
 * Names follow OTel's conventions: dotted, prefixed (`meshcache.`), no
 * `_total` (an OTel Prometheus exporter adds it back), units in `unit`.
 *
 * The OTel API has no asynchronous histogram, and a synchronous one would
 * need a `record()` per remote update on the apply path. The propagation lag
 * is therefore exported as what can be observed at collection time: its
 * cumulative bucket counts (`….bucket`, attribute `le` in seconds), count,
 * sum, and p50/p99 estimated from the buckets as Prometheus'
 * histogram_quantile does.
 */
import type { Attributes, BatchObservableResult, Meter, Observable } from '@opentelemetry/api'
import { invalidOption } from '../errors.ts'
import { optionNames, refuseUnknown } from '../core/suggest.ts'
import { ensureCoreSource } from './core-metrics.ts'
import { collectFamilies, watchMetricSources, type HistogramSample, type MetricFamily, type Exporter, type ObservedCache } from './exporter.ts'

/** Every option name, for refusing unknown ones with a suggestion (a name left out fails to compile). */
const OTEL_OPTION_NAMES = optionNames<OtelOptions>()(['meter', 'prefix', 'attributes'])

export interface OtelOptions {
  /** The service's Meter (`metrics.getMeter('my-service')`). */
  meter: Meter
  /** Prepended to every instrument name. @default 'meshcache.' */
  prefix?: string
  /** Attributes on every observation of this cache. @default { namespace: cache.namespace } */
  attributes?: Attributes
}

/** `hits_total` → `hits`, `propagation_lag_seconds` → `propagation_lag` (unit s), `metadata_bytes` → `metadata` (unit By). */
function otelName (name: string): { name: string, unit: string } {
  if (name.endsWith('_total')) return { name: name.slice(0, -6), unit: '1' }
  if (name.endsWith('_seconds')) return { name: name.slice(0, -8), unit: 's' }
  if (name.endsWith('_bytes')) return { name: name.slice(0, -6), unit: 'By' }
  return { name, unit: '1' }
}

/** The q-quantile of cumulative buckets, linearly interpolated inside its bucket (Prometheus' histogram_quantile). */
export function bucketQuantile (s: HistogramSample, q: number): number {
  if (s.count === 0) return 0
  const rank = q * s.count
  let prevLe = 0
  let prevN = 0
  for (const [le, n] of s.buckets) {
    if (n >= rank) {
      if (le === Infinity) return prevLe
      return n === prevN ? le : prevLe + (le - prevLe) * (rank - prevN) / (n - prevN)
    }
    prevLe = le
    prevN = n
  }
  return prevLe
}

/** registerOtelMetrics as an `Exporter` (lib/observe/exporter.ts). */
export function otelExporter (options: OtelOptions): Exporter {
  return { name: 'otel', attach: (cache) => registerOtelMetrics(cache, options) }
}

/**
 * Registers the figures of `cache` on `options.meter`. Returns a function
 * that stops observing them (instruments stay with the meter: the OTel API
 * cannot remove them).
 */
export function registerOtelMetrics (cache: ObservedCache, options: OtelOptions): () => void {
  if (options === null || typeof options !== 'object') invalidOption('options', 'must be an object with a `meter`')
  refuseUnknown(options, OTEL_OPTION_NAMES)
  const { meter } = options
  if (typeof meter?.createObservableCounter !== 'function' || typeof meter.addBatchObservableCallback !== 'function') {
    invalidOption('meter', 'must be an @opentelemetry/api Meter')
  }
  const prefix = options.prefix ?? 'meshcache.'
  if (typeof prefix !== 'string') invalidOption('prefix', 'must be a string')
  const { attributes } = options
  // Spread, a number or a string would add nothing or index keys ('0', '1', …) to every data point.
  if (attributes !== undefined && (attributes === null || typeof attributes !== 'object' || Array.isArray(attributes))) {
    invalidOption('attributes', `must be an object of attribute names to values, got ${Array.isArray(attributes) ? 'an array' : String(attributes)}`)
  }
  const base: Attributes = { namespace: cache.namespace, ...(attributes ?? {}) }
  const instruments = new Map<string, Observable>()
  const make = (kind: 'counter' | 'gauge', name: string, unit: string, help: string): void => {
    if (instruments.has(name)) return
    const full = prefix + name
    const o = kind === 'counter'
      ? meter.createObservableCounter(full, { description: help, unit })
      : meter.createObservableGauge(full, { description: help, unit })
    instruments.set(name, o)
  }
  const declare = (families: MetricFamily[]): void => {
    for (const f of families) {
      const { name, unit } = otelName(f.name)
      if (f.type !== 'histogram') {
        make(f.type, name, unit, f.help)
        continue
      }
      make('counter', `${name}.bucket`, '1', `${f.help} Cumulative count per upper bound \`le\` (${unit}).`)
      make('counter', `${name}.count`, '1', `${f.help} Observations.`)
      make('counter', `${name}.sum`, unit, `${f.help} Sum.`)
      make('gauge', `${name}.p50`, unit, `${f.help} Median, estimated from the buckets.`)
      make('gauge', `${name}.p99`, unit, `${f.help} 99th percentile, estimated from the buckets.`)
    }
  }
  const callback = (result: BatchObservableResult): void => {
    const observe = (name: string, value: number, attrs?: Readonly<Record<string, string>>): void => {
      const o = instruments.get(name)
      if (o !== undefined) result.observe(o, value, attrs === undefined ? base : { ...base, ...attrs })
    }
    for (const f of collectFamilies(cache)) {
      const { name } = otelName(f.name)
      if (f.type !== 'histogram') {
        for (const s of f.samples) observe(name, s.value, s.labels)
        continue
      }
      for (const s of f.samples) {
        for (const [le, n] of s.buckets) observe(`${name}.bucket`, n, { ...s.labels, le: le === Infinity ? '+Inf' : String(le) })
        observe(`${name}.count`, s.count, s.labels)
        observe(`${name}.sum`, s.sum, s.labels)
        observe(`${name}.p50`, bucketQuantile(s, 0.5), s.labels)
        observe(`${name}.p99`, bucketQuantile(s, 0.99), s.labels)
      }
    }
  }
  ensureCoreSource(cache)
  let registered: Observable[] = []
  const register = (): void => {
    // A batch callback is bound to the instruments it names: re-bound when a source brings new ones.
    if (registered.length !== 0) meter.removeBatchObservableCallback(callback, registered)
    registered = [...instruments.values()]
    meter.addBatchObservableCallback(callback, registered)
  }
  const stop = watchMetricSources(cache, (source) => {
    const before = instruments.size
    declare(source.collect())
    if (instruments.size !== before) register()
  })
  return () => {
    stop()
    if (registered.length !== 0) meter.removeBatchObservableCallback(callback, registered)
    registered = []
  }
}
