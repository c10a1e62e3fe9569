/**
 * A change source's figures (lib/sources/source.ts `SourceStats`) as a
 * metric source (lib/observe/exporter.ts), so the Prometheus and OTel
 * exporters and anything else reading the contract export them. Read at
 * scrape time from the source's own `stats()`.
 *
 * Families (label `source`, the source's name, and `slot` when it has one):
 * `cdc_reading` (1 on the instance reading the feed), `cdc_batches_total`,
 * `cdc_invalidations_total`, `cdc_mapping_errors_total`,
 * `cdc_position_losses_total`, `cdc_takeovers_total`,
 * `cdc_commit_to_invalidation_seconds` (histogram), and where the source
 * reports them `cdc_lag_bytes` and `cdc_disconnects_total`.
 */
import type { SourceStats } from '../sources/source.ts'
import type { MetricFamily, MetricSource } from './exporter.ts'

/** What a source offers: its name and its stats (PostgreSQL's add `slot`, `lagBytes`, `disconnects`). */
export interface StatsSource {
  readonly name: string
  stats(): SourceStats & { slot?: string, lagBytes?: number, disconnects?: number }
}

export function sourceMetricSource (source: StatsSource): MetricSource {
  const first = source.stats()
  const labels: Record<string, string> = first.slot === undefined ? { source: source.name } : { source: source.name, slot: first.slot }
  const one = (value: number) => [{ labels, value }]
  return {
    name: `cdc:${source.name}${first.slot === undefined ? '' : `:${first.slot}`}`,
    collect: () => {
      const s = source.stats()
      const p = s.commitToInvalidation
      const families: MetricFamily[] = [
        { type: 'gauge', name: 'cdc_reading', help: 'Whether this instance reads the change feed now (1) or stands by (0).', samples: one(s.reading ? 1 : 0) },
        { type: 'counter', name: 'cdc_batches_total', help: 'Upstream commits applied by this instance.', samples: one(s.batches) },
        { type: 'counter', name: 'cdc_invalidations_total', help: 'Invalidations (keys and tags) applied from the change feed by this instance.', samples: one(s.invalidations) },
        { type: 'counter', name: 'cdc_mapping_errors_total', help: 'Changed rows whose mapping to a key failed.', samples: one(s.mappingErrors) },
        { type: 'counter', name: 'cdc_position_losses_total', help: 'Times the feed position was lost and the namespace cleared.', samples: one(s.positionLosses) },
        { type: 'counter', name: 'cdc_takeovers_total', help: 'Times this instance (re)started reading the feed.', samples: one(s.takeovers) },
        {
          type: 'histogram',
          name: 'cdc_commit_to_invalidation_seconds',
          help: 'Upstream commit time to the invalidation applied here (1 ms resolution, includes clock skew with the database).',
          samples: [{ labels, buckets: [...p.buckets.map(([le, n]) => [le / 1000, n] as const), [Infinity, p.count] as const], sum: p.sumMs / 1000, count: p.count }],
        },
      ]
      if (s.lagBytes !== undefined) families.push({ type: 'gauge', name: 'cdc_lag_bytes', help: 'WAL bytes the feed is behind (on the reading instance).', samples: one(s.lagBytes) })
      if (s.disconnects !== undefined) families.push({ type: 'counter', name: 'cdc_disconnects_total', help: 'Replication connections lost.', samples: one(s.disconnects) })
      return families
    },
  }
}
