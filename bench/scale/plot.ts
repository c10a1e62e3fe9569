/**
 * A small SVG line chart for bench:scale: panels side by side, each with its
 * series against n (log-free, linear axes). Headless Chromium turns it into a
 * PNG (run.ts); no chart library needed.
 */

export interface Series { name: string, points: Array<[number, number]> }
export interface Panel { title: string, series: Series[] }

const COLORS = ['#1f77b4', '#d62728', '#7f7f7f', '#2ca02c']
const W = 430
const H = 330
const M = { left: 60, right: 15, top: 40, bottom: 95 }

function niceMax (v: number): number {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p
  return 10 * p
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')

function panel (p: Panel, x0: number): string {
  const pts = p.series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y))
  const xMax = niceMax(Math.max(...pts.map(([x]) => x), 1))
  const yMax = niceMax(Math.max(...pts.map(([, y]) => y), 1))
  const sx = (x: number): number => x0 + M.left + (x / xMax) * (W - M.left - M.right)
  const sy = (y: number): number => M.top + (1 - y / yMax) * (H - M.top - M.bottom)
  const out: string[] = [`<text x="${x0 + W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(p.title)}</text>`]
  for (let i = 0; i <= 4; i++) {
    const y = (yMax * i) / 4
    const x = (xMax * i) / 4
    out.push(`<line x1="${sx(0)}" x2="${sx(xMax)}" y1="${sy(y)}" y2="${sy(y)}" stroke="#ddd"/>`)
    out.push(`<text x="${sx(0) - 6}" y="${sy(y) + 4}" text-anchor="end" font-size="11">${+y.toPrecision(3)}</text>`)
    out.push(`<text x="${sx(x)}" y="${sy(0) + 16}" text-anchor="middle" font-size="11">${+x.toPrecision(3)}</text>`)
  }
  out.push(`<text x="${sx(xMax / 2)}" y="${sy(0) + 32}" text-anchor="middle" font-size="12">instances (n)</text>`)
  p.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] as string
    const good = s.points.filter(([, y]) => Number.isFinite(y))
    if (good.length > 0) {
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${i === 2 ? ' stroke-dasharray="5,4"' : ''} points="${good.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`)
      for (const [x, y] of good) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${color}"/>`)
    }
    out.push(`<text x="${x0 + M.left}" y="${H - 45 + 14 * i}" font-size="11" fill="${color}">■ ${esc(s.name)}</text>`)
  })
  return out.join('\n')
}

export function renderPlot (panels: Panel[], caption: string): string {
  const width = W * panels.length
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H + 20}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${panels.map((p, i) => panel(p, i * W)).join('\n')}
<text x="${width / 2}" y="${H + 14}" text-anchor="middle" font-size="11" fill="#555">${esc(caption)}</text>
</svg>
`
}
