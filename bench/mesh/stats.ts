/** Percentiles, ratios to a baseline, and the printed table. */
import { median } from '../core/util.ts'

/** Nearest-rank percentile of an ascending-sorted array (q in 0..1). */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank] ?? Number.NaN
}

export interface LatencySummary {
  samples: number
  p50: number
  p99: number
  max: number
}

export function summarize(latencies: Float64Array): LatencySummary {
  const sorted = Float64Array.from(latencies).sort()
  return {
    samples: sorted.length,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1] ?? Number.NaN : Number.NaN,
  }
}

/** A plain-text table, columns padded, numbers right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const fmt = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n')
}

export function ms(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-'
  return value < 10 ? value.toFixed(3) : value < 100 ? value.toFixed(1) : value.toFixed(0)
}

export function ratio(value: number | undefined, base: number | undefined): string {
  if (value === undefined || base === undefined || !Number.isFinite(value) || !Number.isFinite(base) || base === 0) return '-'
  return `${(value / base).toFixed(2)}x`
}

export function count(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-'
  return Math.round(value).toLocaleString('en-US')
}

/** One pair: the baseline's (the floor's, usually) and the system's figure (ms) from phases taken in turn. */
export interface Pair { base: number, system: number }

export interface PairedSummary {
  ratios: number[]
  median: number
  mean: number
  /** The standard error of the mean ratio. */
  se: number
  within: number
}

/** Each pair's ratio (system / base), their median, mean ± standard error, and how many are at most `target`. */
export function pairedSummary (pairs: readonly Pair[], target: number): PairedSummary {
  if (pairs.length === 0) throw new TypeError('pairedSummary: no pairs')
  const ratios = pairs.map((p) => {
    if (!(p.base > 0) || !(p.system >= 0)) throw new RangeError(`pairedSummary: a pair needs a positive baseline and a system figure, got ${p.base} and ${p.system}`)
    return p.system / p.base
  })
  const mean = ratios.reduce((s, r) => s + r, 0) / ratios.length
  const variance = ratios.length > 1 ? ratios.reduce((s, r) => s + (r - mean) ** 2, 0) / (ratios.length - 1) : Number.NaN
  return { ratios, median: median(ratios), mean, se: Math.sqrt(variance / ratios.length), within: ratios.filter((r) => r <= target).length }
}

/**
 * One system's per-round ratios to the floor, as bench:mesh prints them under its table: every round's, their
 * median, their mean ± its standard error (how far the run's figure could move with the host's drift between
 * rounds), and how many rounds are within `target`.
 */
export function roundsLine (label: string, summary: PairedSummary, target: number): string {
  const { ratios } = summary
  return `${label}: ${ratios.map((r) => `${r.toFixed(2)}x`).join(', ')}` +
    (ratios.length > 1 ? ` (median ${summary.median.toFixed(2)}x, mean ${summary.mean.toFixed(3)} ± ${summary.se.toFixed(3)} s.e.)` : '') +
    `; <= ${target.toFixed(2)}x in ${summary.within} of ${ratios.length}`
}
