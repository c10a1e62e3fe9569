/**
 * meshcache/observe: the exporter contract (for tiers, change feeds and
 * other sources of figures), sharing stats with peers and the audit's types.
 * The exporters themselves are their own subpaths
 * (meshcache/prometheus, meshcache/otel, meshcache/dashboard), so their
 * optional dependencies load only when used.
 */
export {
  addMetricSource, metricSources, watchMetricSources, collectFamilies,
  type MetricSource, type MetricFamily, type CounterFamily, type GaugeFamily, type HistogramFamily, type HistogramSample, type Sample,
} from './exporter.ts'
export { shareStats, summaryOf, type StatsSummary, type ShareOptions, SUMMARY_META, MAX_SUMMARY_BYTES } from './share.ts'
export type { Audit, AuditOptions, AuditStats, StaleEvent } from './audit.ts'
export { LAG_BOUNDS_MS } from './lag-histogram.ts'
