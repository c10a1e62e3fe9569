/**
 * The dashboard page: static HTML and one script, no data inline. The
 * script receives snapshots (lib/observe/dashboard/snapshot.ts) over
 * server-sent events and builds every element with createElement and
 * textContent: keys and node ids come from the network, and nothing of
 * theirs is ever parsed as HTML. Charts use uPlot when the server can
 * serve it; without it the figures still show as text.
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>meshcache dashboard</title>
<link rel="stylesheet" href="uplot.css">
<style>
  body { font: 13px/1.4 system-ui, sans-serif; margin: 16px; color: #222; background: #fafafa; }
  h1 { font-size: 18px; margin: 0 0 4px; } h2 { font-size: 14px; margin: 18px 0 6px; }
  table { border-collapse: collapse; background: #fff; } td, th { border: 1px solid #ddd; padding: 3px 7px; text-align: right; }
  th { background: #f0f0f0; } td.l, th.l { text-align: left; }
  .self { color: #06c; } .up { color: #080; } .unreachable { color: #c60; } .gone { color: #b00; text-decoration: line-through; }
  .grid { display: flex; flex-wrap: wrap; gap: 24px; } .muted { color: #888; }
  td.yes { background: #d8f5d8; } td.no, th.no { background: #f8d8d8; } td.me { background: #eee; }
</style>
</head>
<body>
<h1>meshcache <span id="namespace"></span></h1>
<div class="muted">served by <span id="self"></span> · <span id="updated">connecting…</span></div>
<h2>Members</h2>
<table id="members"><thead><tr>
  <th class="l">node</th><th class="l">region</th><th class="l">incarnation</th><th class="l">status</th><th>uptime</th>
  <th title="connections to live members, and how many of them go to another region">links</th><th>hit ratio</th><th>keys</th><th>tombstones</th><th>repairs</th><th>gaps</th><th>protocol errors</th><th title="peer timestamps seen ahead of this member's clock by more than maxClockSkew">clock ahead</th><th>stale reads</th><th>last change</th>
</tr></thead><tbody></tbody></table>
<div id="regions-box" hidden><h2>Links between regions</h2>
<div class="muted">links between live members of each pair of regions (the diagonal: inside the region); a region with no link to another is marked</div>
<table id="regions"></table></div>
<div class="grid">
  <div><h2>Connectivity (row is connected to column)</h2><div id="matrix-note" class="muted" hidden></div><table id="matrix"></table></div>
  <div><h2>Evictions in the last interval, by reason</h2><table id="evictions"></table></div>
</div>
<h2>Propagation lag (write → apply, whole mesh)</h2>
<div>samples: <b id="lag-count">0</b> · p50 <b id="lag-p50">–</b> · p99 <b id="lag-p99">–</b> <span class="muted">(1 ms resolution: the HLC's)</span></div>
<div class="grid"><div id="lag-histogram"></div><div id="lag-series"></div></div>
<h2>Recent stale reads (staleness audit)</h2>
<table id="stale"><thead><tr><th class="l">served by</th><th class="l">key</th><th>stale for</th></tr></thead><tbody></tbody></table>
<script src="uplot.js"></script>
<script src="app.js"></script>
</body>
</html>
`

export const PAGE_JS = `'use strict'
const $ = (id) => document.getElementById(id)
const token = new URLSearchParams(location.search).get('token')
const q = token === null ? '' : '?token=' + encodeURIComponent(token)
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e }
const fmt = (v, digits) => v === null || v === undefined ? '–' : typeof v === 'number' && digits !== undefined ? v.toFixed(digits) : String(v)
const ms = (v) => v === null || v === undefined ? '–' : v < 1 ? '<1 ms' : v < 1000 ? v.toFixed(v < 10 ? 1 : 0) + ' ms' : (v / 1000).toFixed(2) + ' s'
const short = (origin) => origin.split('~')[0]
// Above 0, some peer's clock is further ahead of this member's than the guarantees allow (SPEC §9): marked.
const clockCell = (n) => { const td = el('td', fmt(n), n > 0 ? 'no' : undefined); td.dataset.test = 'clock'; return td }

// The q-quantile of per-bucket counts, interpolated inside its bucket (as Prometheus' histogram_quantile).
function quantile (bounds, counts, q) {
  const total = counts.reduce((a, b) => a + b, 0)
  if (total === 0) return null
  const rank = q * total
  let seen = 0, lower = 0
  for (let i = 0; i < counts.length; i++) {
    const upper = i < bounds.length ? bounds[i] : bounds[bounds.length - 1]
    if (seen + counts[i] >= rank) return counts[i] === 0 ? upper : lower + (upper - lower) * (rank - seen) / counts[i]
    seen += counts[i]; lower = upper
  }
  return lower
}

const boundLabel = (bounds, i) => {
  if (i >= bounds.length) return '> ' + boundLabel(bounds, bounds.length - 1)
  const b = bounds[i]
  return b < 1000 ? '≤' + b + ' ms' : '≤' + b / 1000 + ' s'
}

let previous = null
const series = [[], [], []]
let histogramChart = null, seriesChart = null
const hasPlot = typeof uPlot === 'function'

// The matrix has a cell per pair of live members: shown up to this many (?matrix=N to change it, 0 for never).
const MATRIX_UP_TO = (() => { const n = Number(new URLSearchParams(location.search).get('matrix') ?? 24); return Number.isFinite(n) && n >= 0 ? n : 24 })()
const live = (snap) => snap.members.filter((m) => m.status !== 'gone')
// A link counts when a member that is up (or this one) reports it to another that is up: not a dead member's last report.
function links (snap) {
  const up = new Map(snap.members.filter((m) => m.status === 'up' || m.status === 'self').map((m) => [m.origin, m]))
  const pairs = new Map()
  for (const m of up.values()) for (const o of m.connectedTo) {
    const other = up.get(o)
    if (other === undefined || o === m.origin) continue
    pairs.set(m.origin < o ? m.origin + ' ' + o : o + ' ' + m.origin, [m, other])
  }
  return [...pairs.values()]
}

function members (snap, pairs) {
  const body = $('members').tBodies[0]
  body.replaceChildren()
  const count = new Map() // member → [links, far links]
  for (const [a, b] of pairs) for (const m of [a, b]) {
    const c = count.get(m) || [0, 0]
    c[0]++; if (a.region !== b.region) c[1]++
    count.set(m, c)
  }
  for (const m of snap.members) {
    const tr = el('tr'); tr.dataset.test = 'member'; tr.dataset.node = m.nodeId; tr.dataset.status = m.status
    const [n, far] = count.get(m) || [0, 0]
    const linksTd = el('td', m.status === 'up' || m.status === 'self' ? n + (far > 0 ? ' · ' + far + ' far' : '') : '–'); linksTd.dataset.test = 'links'; linksTd.style.whiteSpace = 'nowrap'
    tr.append(el('td', m.nodeId, 'l'), el('td', m.region || '–', 'l'), el('td', m.incarnation, 'l'), el('td', m.status, 'l ' + m.status),
      el('td', m.uptimeS === null ? '–' : m.uptimeS + ' s'), linksTd, el('td', m.hitRatio === null ? '–' : (100 * m.hitRatio).toFixed(1) + ' %'),
      el('td', fmt(m.keys)), el('td', fmt(m.tombstones)), el('td', fmt(m.repairs)), el('td', fmt(m.gaps)), el('td', fmt(m.protocolErrors)),
      clockCell(m.clockAhead), el('td', fmt(m.auditStale)), el('td', m.ageMs === null ? '–' : ms(m.ageMs)))
    body.append(tr)
  }
}

// Regions × regions: how many links join each pair, so that a mesh of hundreds still shows which regions reach which.
function regions (snap, pairs) {
  const names = [...new Set(live(snap).map((m) => m.region || '–'))].sort()
  $('regions-box').hidden = names.length < 2
  const t = $('regions'); t.replaceChildren()
  if (names.length < 2) return
  const count = new Map()
  const add = (a, b) => { const k = a + ' ' + b; count.set(k, (count.get(k) || 0) + 1) }
  for (const [a, b] of pairs) { const ra = a.region || '–', rb = b.region || '–'; add(ra, rb); if (ra !== rb) add(rb, ra) }
  const head = el('tr'); head.append(el('th', 'region', 'l'), el('th', 'members')); for (const c of names) head.append(el('th', c)); t.append(head)
  for (const r of names) {
    const across = names.some((c) => c !== r && (count.get(r + ' ' + c) || 0) > 0)
    const tr = el('tr'); tr.dataset.test = 'region'; tr.dataset.region = r; tr.dataset.across = String(across)
    const th = el('th', r, across ? 'l' : 'l no'); if (!across) th.title = 'no link to another region: its writes reach no other region'
    tr.append(th, el('td', live(snap).filter((m) => (m.region || '–') === r).length))
    for (const c of names) { const td = el('td', count.get(r + ' ' + c) || 0, r === c ? 'me' : undefined); td.dataset.test = 'region-links'; td.dataset.to = c; tr.append(td) }
    t.append(tr)
  }
}

function matrix (snap) {
  const shown = live(snap)
  const t = $('matrix'); t.replaceChildren()
  const note = $('matrix-note')
  note.hidden = shown.length <= MATRIX_UP_TO
  if (!note.hidden) { note.textContent = shown.length + ' live members: the matrix shows up to ' + MATRIX_UP_TO + ' (add ?matrix=' + shown.length + ' to the address to see it)'; return }
  const head = el('tr'); head.append(el('th'))
  for (const c of shown) head.append(el('th', c.nodeId))
  t.append(head)
  for (const r of shown) {
    const tr = el('tr'); tr.append(el('th', r.nodeId, 'l'))
    for (const c of shown) {
      if (r.origin === c.origin) { tr.append(el('td', '', 'me')); continue }
      const yes = r.connectedTo.includes(c.origin)
      const td = el('td', yes ? '✓' : '✗', yes ? 'yes' : 'no'); td.dataset.test = 'link'; tr.append(td)
    }
    t.append(tr)
  }
}

// The whole mesh's row first; a member's row in a mesh the matrix shows, above it only a member's that evicted.
function evictions (snap) {
  const t = $('evictions'); t.replaceChildren()
  const reasons = ['capacity', 'ttl', 'local', 'remote', 'repair']
  const head = el('tr'); head.append(el('th', 'node', 'l')); for (const r of reasons) head.append(el('th', r)); t.append(head)
  const total = reasons.map(() => 0)
  const rows = []
  const every = live(snap).length <= MATRIX_UP_TO
  for (const m of snap.members) {
    if (m.evictions === null || m.status === 'gone') continue
    const before = previous && previous.members.find((p) => p.origin === m.origin)
    const delta = reasons.map((r) => m.evictions[r] - (before && before.evictions ? before.evictions[r] : m.evictions[r]))
    delta.forEach((n, i) => { total[i] += n })
    if (!every && delta.every((n) => n === 0)) continue
    const tr = el('tr'); tr.dataset.test = 'evictions'; tr.append(el('td', m.nodeId, 'l'))
    for (const n of delta) tr.append(el('td', n))
    rows.push(tr)
  }
  const sum = el('tr'); sum.dataset.test = 'evictions-total'; sum.append(el('th', 'all members', 'l'))
  for (const n of total) sum.append(el('th', n))
  t.append(sum, ...rows)
}

function stale (snap) {
  const body = $('stale').tBodies[0]; body.replaceChildren()
  for (const m of snap.members) for (const [key, age] of m.recentStale) {
    const tr = el('tr'); tr.dataset.test = 'stale'
    tr.append(el('td', m.nodeId, 'l'), el('td', key, 'l'), el('td', age < 0 ? '≥ grace' : ms(age))); body.append(tr)
  }
}

function lag (snap) {
  $('lag-count').textContent = String(snap.lagCount)
  $('lag-p50').textContent = ms(quantile(snap.lagBoundsMs, snap.lag, 0.5))
  $('lag-p99').textContent = ms(quantile(snap.lagBoundsMs, snap.lag, 0.99))
  // p50/p99 of the samples that arrived since the last snapshot (gaps where none did).
  const delta = previous ? snap.lag.map((n, i) => Math.max(0, n - (previous.lag[i] || 0))) : snap.lag.map(() => 0)
  series[0].push(snap.t / 1000); series[1].push(quantile(snap.lagBoundsMs, delta, 0.5)); series[2].push(quantile(snap.lagBoundsMs, delta, 0.99))
  if (series[0].length > 300) for (const s of series) s.shift()
  if (!hasPlot) return
  const labels = snap.lagBoundsMs.map((b, i) => i)
  labels.push(snap.lagBoundsMs.length)
  if (histogramChart === null) {
    histogramChart = new uPlot({ width: 460, height: 220, title: 'lag histogram (count per bucket, ≤ bound)',
      scales: { x: { time: false } },
      // One label a decade (every third bound: 0.1 ms, 1 ms, 10 ms … 10 s); the bars between are 2.5× and 5× steps.
      axes: [{ splits: () => labels.filter((i) => i % 3 === 0), values: (u, ticks) => ticks.map((i) => boundLabel(snap.lagBoundsMs, i)) }, {}],
      series: [{}, { label: 'samples', fill: '#4a90d955', stroke: '#4a90d9', paths: uPlot.paths.bars({ size: [0.8] }) }] }, [labels, snap.lag], $('lag-histogram'))
    seriesChart = new uPlot({ width: 460, height: 220, title: 'p50 / p99 over time (ms)',
      series: [{}, { label: 'p50', stroke: '#2a2', spanGaps: false }, { label: 'p99', stroke: '#c22', spanGaps: false }] }, series, $('lag-series'))
  } else {
    histogramChart.setData([labels, snap.lag]); seriesChart.setData(series)
  }
}

function render (snap) {
  $('namespace').textContent = snap.namespace
  $('self').textContent = snap.self
  $('updated').textContent = 'updated ' + new Date(snap.t).toLocaleTimeString()
  const pairs = links(snap) // once a snapshot: the members' links column and the regions' table both count them
  members(snap, pairs); regions(snap, pairs); matrix(snap); evictions(snap); stale(snap); lag(snap)
  previous = snap
  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1)
}

const events = new EventSource('events' + q)
events.onmessage = (e) => render(JSON.parse(e.data))
events.onerror = () => { $('updated').textContent = 'disconnected, retrying…' }
`
