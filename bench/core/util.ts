/**
 * Shared pieces of the core benchmarks: result rows and the printed table,
 * interleaved timing (median of rounds), a seeded access pattern, heap
 * measurement, and a transport that hands the cache's frame handler to the
 * benchmark instead of a network.
 */
import type { Channel, FrameHandler, MeshCache, Transport } from '../../lib/index.ts'
import { sharedBytes } from '../../lib/core/columns.ts'

/** One line of the final table. */
export interface Row {
  section: string
  figure: string
  unit: string
  /** undefined: not measured (e.g. the API does not exist yet). */
  mesh: number | undefined
  baseline?: { label: string, value: number } | undefined
  /** mesh/baseline; when absent, computed from the two medians. */
  ratio?: number | undefined
  /** A bound on `mesh` (kind 'abs') or on the ratio (kind 'ratio'). */
  target?: { kind: 'abs' | 'ratio', max: number } | undefined
  note?: string | undefined
}

export function verdict (row: Row): string {
  if (row.mesh === undefined) return 'n/a'
  if (row.target === undefined) return 'info'
  const v = row.target.kind === 'abs' ? row.mesh : ratioOf(row)
  return v <= row.target.max ? 'PASS' : 'FAIL'
}

function ratioOf (row: Row): number {
  if (row.mesh === undefined || row.baseline === undefined) return Number.NaN
  return row.ratio ?? row.mesh / row.baseline.value
}

function num (v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '-'
  const a = Math.abs(v)
  return a >= 1000 ? v.toFixed(0) : a >= 100 ? v.toFixed(1) : a >= 10 ? v.toFixed(2) : v.toFixed(3)
}

export function formatTable (rows: Row[]): string {
  const header = ['figure', 'meshcache', 'baseline', 'ratio', 'target', 'result']
  const lines: string[][] = []
  const sections: Array<number | string> = []
  let last = ''
  for (const r of rows) {
    if (r.section !== last) {
      sections.push(r.section)
      last = r.section
    }
    const ratio = Number.isNaN(ratioOf(r)) ? '-' : `${ratioOf(r).toFixed(2)}×`
    const target = r.target === undefined ? '-' : r.target.kind === 'ratio' ? `≤ ${r.target.max}×` : `≤ ${r.target.max} ${r.unit}`
    lines.push([
      `${r.figure} (${r.unit})`,
      r.mesh === undefined ? (r.note ?? 'not available') : num(r.mesh),
      r.baseline === undefined ? '-' : `${num(r.baseline.value)} ${r.baseline.label}`,
      ratio,
      target,
      verdict(r),
    ])
    sections.push(lines.length - 1)
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)))
  const fmt = (cells: string[]): string => cells.map((c, i) => (i === 0 || i === 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')
  const out = [fmt(header), widths.map((w) => '-'.repeat(w)).join('  ')]
  for (const s of sections) out.push(typeof s === 'string' ? `[${s}]` : fmt(lines[s] as string[]))
  return out.join('\n')
}

export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] as number : ((s[m - 1] as number) + (s[m] as number)) / 2
}

/** A subject of an interleaved timing: one timed run returns its cost (ns/op, µs/update…). */
export type Timed = () => number

/**
 * Runs every subject once per round, the order rotating each round so none
 * always runs first; returns each subject's samples, one per round.
 * `warmup` untimed rounds go first (JIT, caches). Rounds are short and many
 * so that a load change on the machine hits every subject alike.
 */
export function interleave (subjects: Timed[], rounds: number, warmup = 2): number[][] {
  for (let w = 0; w < warmup; w++) for (const s of subjects) s()
  const times: number[][] = subjects.map(() => [])
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < subjects.length; k++) {
      const i = (k + r) % subjects.length
      times[i]?.push((subjects[i] as Timed)())
    }
  }
  return times
}

/** Median of the per-round ratios a[r]/b[r]: robust to load that drifts between rounds. */
export function pairedRatio (a: number[], b: number[]): number {
  return median(a.map((x, r) => x / (b[r] as number)))
}

export function nowNs (): bigint {
  return process.hrtime.bigint()
}

/** Seeded xorshift32: the same access pattern for every subject and every run. */
export function accessPattern (ops: number, range: number, seed = 0x9e3779b9): Uint32Array {
  const out = new Uint32Array(ops)
  let x = seed >>> 0
  for (let i = 0; i < ops; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    out[i] = x % range
  }
  return out
}

/**
 * Realistic-looking string keys, built once and shared by every subject. As a
 * service building keys with template literals has them, they are cons
 * strings, which V8 flattens when they are first hashed: every lookup then
 * goes through the cons cell (a bare lru-cache `get` of 100k keys measured
 * 1.08-1.10× its time with flat keys), on the baseline's side as on
 * meshcache's.
 */
export function makeKeys (n: number, prefix = 'user'): string[] {
  const keys = new Array<string>(n)
  for (let i = 0; i < n; i++) keys[i] = `${prefix}:${i}:profile`
  return keys
}

/**
 * The same keys as flat strings, for memory rows: a cons key allocates its
 * flat copy when first hashed and a later GC may free its cons cell, so a
 * memory row would measure the keys' change of shape along with the cache.
 */
export function makeFlatKeys (n: number, prefix = 'user'): string[] {
  const encoder = new TextEncoder()
  const decoder = new TextDecoder()
  return makeKeys(n, prefix).map((k) => decoder.decode(encoder.encode(k)))
}

export interface Value { id: number }

export function makeValues (n: number): Value[] {
  const values = new Array<Value>(n)
  for (let i = 0; i < n; i++) values[i] = { id: i }
  return values
}

/** Lets the cache's per-turn outbox flush (a microtask) and timers run. */
export function turn (): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

const gcFn = (globalThis as { gc?: () => void }).gc

export function hasGc (): boolean {
  return typeof gcFn === 'function'
}

/**
 * Live bytes after full GCs: V8 heap plus ArrayBuffer backing stores.
 * The backing stores matter: lru-cache keeps its links and TTLs in typed
 * arrays sized `max`, which live outside `heapUsed`.
 */
export async function liveBytes (): Promise<number> {
  if (gcFn === undefined) throw new Error('run node with --expose-gc')
  for (let i = 0; i < 3; i++) {
    gcFn()
    await turn()
  }
  gcFn()
  const m = process.memoryUsage()
  // The store's metadata sits on shared buffers (lib/core/columns.ts), which neither external nor arrayBuffers counts.
  return m.heapUsed + m.external + sharedBytes()
}

/** A transport with no network: it keeps the handler the cache registers, so frames can be fed to it directly. */
export interface CaptureTransport extends Transport {
  handler (): FrameHandler
}

/** For a cache that talks to another in the same process: its name, its peers, and what it broadcasts. */
export interface CaptureOptions {
  localPeer?: string
  peers?: string[]
  onBroadcast?: (frame: Uint8Array) => void
}

export function captureTransport (onSend?: (peer: string, frame: Uint8Array) => void, options: CaptureOptions = {}): CaptureTransport {
  let captured: FrameHandler | undefined
  const { localPeer = 'bench-local', peers = [], onBroadcast } = options
  return {
    async join (_namespace: string, handler: FrameHandler): Promise<Channel> {
      captured = handler
      return {
        localPeer,
        broadcast (frame: Uint8Array) { onBroadcast?.(frame) },
        send (peer: string, frame: Uint8Array) { onSend?.(peer, frame) },
        peers: () => peers,
        close: async () => { captured = undefined },
      }
    },
    handler () {
      if (captured === undefined) throw new Error('the cache has not joined (or has closed)')
      return captured
    },
  }
}

/** What `envelopeInto` needs of lib/net/libp2p/envelope.ts: passed in, so a bench can use another checkout's. */
export type EnvelopeModule = Pick<typeof import('../../lib/net/libp2p/envelope.ts'), 'EnvelopeSplitter' | 'BodyReader'>

/**
 * Envelope bytes in, as a direct stream carries them, and each frame handed to the cache behind `transport` as
 * coming `from` a peer: what a receiver's mesh does, without the network. A bad envelope throws, named by `who`.
 */
export function envelopeInto (envelope: EnvelopeModule, transport: CaptureTransport, from: string, who: string): (bytes: Uint8Array) => void {
  const splitter = new envelope.EnvelopeSplitter((body: Uint8Array) => {
    const reader = new envelope.BodyReader(body, 1)
    reader.uvarint() // the namespace id
    transport.handler().onFrame(from, reader.rest())
  }, (reason: string) => { throw new Error(`${who}: ${reason}`) })
  return (bytes) => { splitter.push(bytes) }
}

/**
 * MESHCACHE_BENCH_OBSERVE=1: the benched caches run with the Prometheus
 * exporter registered (on a registry of their own) and the staleness audit
 * on at 0% sampling, so its hook runs on every hit. Compare a run with it
 * against one without (issue 19: observing must leave get-hit and apply
 * unchanged within noise).
 */
export async function observeIfAsked (cache: MeshCache<any>): Promise<void> {
  if (process.env.MESHCACHE_BENCH_OBSERVE === '1') await observe(cache)
}

/** Registers the Prometheus exporter on a registry of its own and starts the audit at 0% sampling. */
export async function observe (cache: MeshCache<any>): Promise<void> {
  const { Registry } = await import('prom-client')
  const { registerMetrics } = await import('../../lib/observe/prometheus.ts')
  registerMetrics(cache, { registry: new Registry() })
  cache.audit({ sample: 0, source: () => undefined })
}
