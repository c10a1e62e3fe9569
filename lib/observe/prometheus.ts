/**
 * meshcache/prometheus: a cache's figures in the service's own prom-client
 * registry, collected when Prometheus scrapes.
 *
 * Each metric family is one collector object in the registry (prom-client's
 * `registerMetric` takes any object with `name`, `help`, `type` and
 * `get()`), so a histogram can be filled from the cache's own lag buckets
 * at scrape time; prom-client's Histogram class can only be fed one
 * observation at a time, which would put the exporter on the update path.
 * prom-client itself is never imported: the host's registry is all we use,
 * so its global registry and default metrics stay untouched.
 *
 * Several caches share one registry: the families are shared, each cache's
 * series told apart by its labels (`namespace` by default).
 */
import type { Registry } from 'prom-client'
import { ErrorCode, MeshCacheError, invalidOption } from '../errors.ts'
import { optionNames, refuseUnknown } from '../core/suggest.ts'
import { ensureCoreSource } from './core-metrics.ts'
import { collectFamilies, watchMetricSources, type MetricFamily, type Exporter, type ObservedCache } from './exporter.ts'

/** Every option name, for refusing unknown ones with a suggestion (a name left out fails to compile). */
const PROMETHEUS_OPTION_NAMES = optionNames<PrometheusOptions>()(['registry', 'prefix', 'labels'])

export interface PrometheusOptions {
  /** The service's prom-client `Registry`. Required: the global registry is never used. */
  registry: Registry
  /** Prepended to every name. @default 'meshcache_' */
  prefix?: string
  /**
   * Labels on every series of this cache. Two caches in one registry need
   * different label values. @default { namespace: cache.namespace }
   */
  labels?: Record<string, string>
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
/** Label names the families use themselves. */
const RESERVED_LABELS = new Set(['le', 'tier', 'reason', 'code', 'quantile'])

interface Binding {
  cache: ObservedCache
  labels: Record<string, string>
  /** This scrape's families (one collect per cache per scrape, however many families read it). */
  memo: Map<string, MetricFamily> | undefined
}

interface Exposition {
  name: string
  help: string
  type: string
  aggregator: 'sum'
  get(): { name: string, help: string, type: string, aggregator: 'sum', values: Array<{ labels: Record<string, string>, value: number, metricName?: string }> }
}

/** Per registry and prefix: the families registered and the caches they read. */
const hosts = new WeakMap<Registry, Map<string, { bindings: Binding[], families: Map<string, Exposition> }>>()

function familiesOf (b: Binding): Map<string, MetricFamily> {
  if (b.memo === undefined) {
    b.memo = new Map(collectFamilies(b.cache).map((f) => [f.name, f]))
    // prom-client calls every family's get() in one synchronous run: the
    // memo lives for that run only, so the next scrape reads fresh values.
    queueMicrotask(() => { b.memo = undefined })
  }
  return b.memo
}

function exposition (fullName: string, family: MetricFamily, bindings: Binding[]): Exposition {
  const { help, type, name } = family
  const get: Exposition['get'] = () => {
    const values: ReturnType<Exposition['get']>['values'] = []
    for (const b of bindings) {
      const f = familiesOf(b).get(name)
      if (f === undefined) continue
      if (f.type === 'histogram') {
        for (const s of f.samples) {
          const labels = { ...b.labels, ...s.labels }
          for (const [le, n] of s.buckets) values.push({ metricName: `${fullName}_bucket`, labels: { ...labels, le: le === Infinity ? '+Inf' : String(le) }, value: n })
          values.push({ metricName: `${fullName}_sum`, labels, value: s.sum })
          values.push({ metricName: `${fullName}_count`, labels, value: s.count })
        }
      } else {
        for (const s of f.samples) values.push({ labels: { ...b.labels, ...s.labels }, value: s.value })
      }
    }
    return { name: fullName, help, type, aggregator: 'sum', values }
  }
  return { name: fullName, help, type, aggregator: 'sum', get }
}

/** registerMetrics as an `Exporter` (lib/observe/exporter.ts): `prometheusExporter(options).attach(cache)`. */
export function prometheusExporter (options: PrometheusOptions): Exporter {
  return { name: 'prometheus', attach: (cache) => registerMetrics(cache, options) }
}

/**
 * Registers the figures of `cache` (its core and every source added to it:
 * L2 tier, change feed, audit) in `options.registry`. Returns a function
 * that removes them again (and the families, once no cache uses them).
 */
export function registerMetrics (cache: ObservedCache, options: PrometheusOptions): () => void {
  if (options === null || typeof options !== 'object') invalidOption('options', 'must be an object with a `registry`')
  refuseUnknown(options, PROMETHEUS_OPTION_NAMES)
  const { registry } = options
  if (typeof registry?.registerMetric !== 'function' || typeof registry.removeSingleMetric !== 'function') {
    invalidOption('registry', 'must be a prom-client Registry (the service\'s own; the global one is never used implicitly)')
  }
  const prefix = options.prefix ?? 'meshcache_'
  if (typeof prefix !== 'string' || (prefix !== '' && !PREFIX.test(prefix))) invalidOption('prefix', `must match ${PREFIX.source}, got ${JSON.stringify(prefix)}`)
  // Spread, a number or a string would add nothing or index labels ('0', '1', …): refused as what they are.
  if (options.labels !== undefined && (options.labels === null || typeof options.labels !== 'object' || Array.isArray(options.labels))) {
    invalidOption('labels', `must be an object of label names to values, got ${Array.isArray(options.labels) ? 'an array' : String(options.labels)}`)
  }
  const labels = { namespace: cache.namespace, ...(options.labels ?? {}) }
  for (const [k, v] of Object.entries(labels)) {
    if (!LABEL_NAME.test(k) || k.startsWith('__') || RESERVED_LABELS.has(k)) invalidOption(`labels.${k}`, `is not a label name this exporter can use (reserved: ${[...RESERVED_LABELS].join(', ')})`)
    if (typeof v !== 'string') invalidOption(`labels.${k}`, `must be a string, got ${typeof v}`)
  }
  let byPrefix = hosts.get(registry)
  if (byPrefix === undefined) hosts.set(registry, byPrefix = new Map())
  let host = byPrefix.get(prefix)
  if (host === undefined) byPrefix.set(prefix, host = { bindings: [], families: new Map() })
  const key = JSON.stringify(Object.entries(labels).sort())
  const taken = host.bindings.find((b) => JSON.stringify(Object.entries(b.labels).sort()) === key)
  if (taken !== undefined) {
    // The same cache twice is a second registerMetrics call, not two caches to tell apart: say which.
    throw new MeshCacheError(ErrorCode.INVALID_OPTION, taken.cache === cache
      ? `this cache's metrics are already in this registry (labels ${key}): call the function the first registerMetrics returned to remove them before registering again`
      : `option \`labels\` ${key} is already used by another cache in this registry: give each cache its own labels`)
  }
  const binding: Binding = { cache, labels, memo: undefined }
  const h = host
  const addFamilies = (families: MetricFamily[]): void => {
    for (const f of families) {
      if (h.families.has(f.name)) continue
      const e = exposition(prefix + f.name, f, h.bindings)
      registry.registerMetric(e as never) // throws if the service registered that name itself
      h.families.set(f.name, e)
    }
  }
  ensureCoreSource(cache)
  h.bindings.push(binding)
  let stop: () => void
  try {
    stop = watchMetricSources(cache, (source) => addFamilies(source.collect()))
  } catch (error) {
    h.bindings.splice(h.bindings.indexOf(binding), 1)
    throw error
  }
  return () => {
    stop()
    const i = h.bindings.indexOf(binding)
    if (i < 0) return
    h.bindings.splice(i, 1)
    if (h.bindings.length !== 0) return
    for (const e of h.families.values()) registry.removeSingleMetric(e.name)
    h.families.clear()
  }
}
