/**
 * A tier's figures (lib/tiers/tier.ts `stats()`: `{ <name>Hits, <name>Misses, … }`) as a metric
 * source (lib/observe/exporter.ts). Read at scrape time.
 *
 * `<name>Hits` and `<name>Misses` join the core's families as `hits_total{tier="<name>"}` and
 * `misses_total{tier="<name>"}`; `<name>Pending` is the gauge `tier_pending`, `<name>Breaker` (a
 * state) the gauge `tier_breaker_open` (1 while open or half-open); every other number is a count:
 * `tier_<snake_case>_total` (`l2Errors` → `tier_errors_total{tier="l2"}`, `l2Refused` →
 * `tier_refused_total`). A tier's stats must therefore report counts, and name any other gauge here.
 */
import type { MetricFamily, MetricSource, Sample } from './exporter.ts'

const GAUGES: Record<string, { name: string, help: string, value: (v: number | string) => number }> = {
  Pending: { name: 'tier_pending', help: 'Writes queued for the tier, not yet answered.', value: (v) => Number(v) },
  Breaker: { name: 'tier_breaker_open', help: 'Whether the tier\'s circuit breaker is open or half-open (1) or closed (0).', value: (v) => v === 'closed' ? 0 : 1 },
}

const snake = (s: string): string => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()

export function tierMetricSource (tier: { readonly name: string, stats(): Record<string, number | string> }): MetricSource {
  const name = tier.name
  const labels = { tier: name }
  return {
    name: `tier:${name}`,
    collect: () => {
      const families: MetricFamily[] = []
      for (const [key, v] of Object.entries(tier.stats())) {
        if (!key.startsWith(name)) continue
        const field = key.slice(name.length)
        const samples: Sample[] = [{ labels, value: typeof v === 'number' ? v : 0 }]
        if (field === 'Hits') families.push({ type: 'counter', name: 'hits_total', help: 'Reads that found a value, by tier.', samples })
        else if (field === 'Misses') families.push({ type: 'counter', name: 'misses_total', help: 'Reads that found no value, by tier.', samples })
        else if (GAUGES[field] !== undefined) {
          const g = GAUGES[field]
          families.push({ type: 'gauge', name: g.name, help: g.help, samples: [{ labels, value: g.value(v) }] })
        } else if (typeof v === 'number' && /^[A-Z]\w*$/.test(field)) {
          families.push({ type: 'counter', name: `tier_${snake(field)}_total`, help: `The tier's ${snake(field).replace(/_/g, ' ')} count.`, samples })
        }
      }
      return families
    },
  }
}
