/**
 * The source of truth of the partial-mesh convergence run: every committed
 * write, as its writer's state right after it (`inspect`), and what every
 * instance must hold once the mesh has healed and gone quiet (SPEC §4, §4.1):
 *
 * - per key, the winning write: the highest (HLC, writer) ever written to it
 *   (the merge rule of lib/core/merge.ts), with the join of every write's
 *   vector;
 * - the clear horizon: the highest HLC of any `clear()`; a SET below it has
 *   no value anywhere;
 * - values: in replicate mode `get` and `peek` return the winning SET's value
 *   (unless cleared), and nothing otherwise; in invalidate mode they may also
 *   miss (a remote record drops the value; a miss is always correct);
 * - nothing else: no state or value of a key nobody wrote.
 *
 * `differences` runs inside the host processes (fuzz-host.ts), so a waiting
 * host re-checks its instances on every change without a round trip.
 */
import { mergeVectors, type VersionVector } from '../../lib/core/version-vector.ts'
import { CLEAR_KEY } from '../../lib/core/clear.ts'
import type { MeshCache } from '../../lib/index.ts'

export type WriteKind = 'set' | 'delete' | 'invalidate'

export interface Write { key: string, kind: WriteKind, hlc: number, writer: string, vv: VersionVector, value: string | null }

export interface ExpectedKey { kind: WriteKind, hlc: number, writer: string, vv: VersionVector, value: string | null }

export interface Expected {
  mode: 'invalidate' | 'replicate'
  /** key → the winning write (CLEAR_KEY included when anything was cleared). */
  keys: Record<string, ExpectedKey>
  /** Keys of the key space nobody wrote: no state, no value. */
  absent: string[]
}

export class WriteLog {
  readonly #writes = new Map<string, Write[]>()
  count = 0

  add (write: Write): void {
    const list = this.#writes.get(write.key) ?? []
    list.push(write)
    this.#writes.set(write.key, list)
    this.count++
  }

  expected (mode: 'invalidate' | 'replicate', keySpace: readonly string[]): Expected {
    const winners = new Map<string, Write & { vv: VersionVector }>()
    for (const [key, writes] of this.#writes) {
      const winner = writes.reduce((a, b) => (b.hlc > a.hlc || (b.hlc === a.hlc && b.writer > a.writer)) ? b : a)
      const vv = writes.reduce<VersionVector>((joined, w) => mergeVectors(joined, w.vv), [])
      winners.set(key, { ...winner, vv })
    }
    const clearedAt = winners.get(CLEAR_KEY)?.hlc ?? 0
    const keys: Record<string, ExpectedKey> = {}
    for (const [key, w] of winners) {
      const live = w.kind === 'set' && w.hlc >= clearedAt && key !== CLEAR_KEY
      keys[key] = { kind: w.kind, hlc: w.hlc, writer: w.writer, vv: w.vv, value: live ? w.value : null }
    }
    return { mode, keys, absent: keySpace.filter((k) => !(k in keys)) }
  }
}

const show = (k: { kind: string, hlc: number, writer: string }): string => `${k.kind} hlc ${k.hlc} by ${k.writer}`

/** How `cache` (named `name`) differs from the truth; empty when it holds exactly that. */
export function differences (name: string, cache: MeshCache<string>, expect: Expected): string[] {
  const out: string[] = []
  for (const [key, want] of Object.entries(expect.keys)) {
    const at = `${name} ${JSON.stringify(key)}`
    const view = cache.inspect(key)
    if (view === undefined) { out.push(`${at}: no state, the truth is ${show(want)}`); continue }
    if (view.kind !== want.kind || view.hlc !== want.hlc || view.writer !== want.writer) out.push(`${at}: holds ${show(view)}, the truth is ${show(want)}`)
    else if (JSON.stringify(view.vv) !== JSON.stringify(want.vv)) out.push(`${at}: vector ${JSON.stringify(view.vv)}, the join of the writes is ${JSON.stringify(want.vv)}`)
    if (key === CLEAR_KEY) continue
    for (const [how, served] of [['get', cache.get(key)], ['peek', cache.peek(key)]] as const) {
      if (served === (want.value ?? undefined)) continue
      // Invalidate mode: a remote record drops the value, so a miss is correct; another value never is.
      if (expect.mode === 'invalidate' && served === undefined) continue
      out.push(`${at}: ${how} serves ${JSON.stringify(served)}, the truth is ${JSON.stringify(want.value)}`)
    }
  }
  for (const key of expect.absent) {
    if (cache.get(key) !== undefined || cache.peek(key) !== undefined) out.push(`${name} ${JSON.stringify(key)}: serves ${JSON.stringify(cache.peek(key) ?? cache.get(key))}, nobody wrote it`)
  }
  for (const [key] of cache.metadata()) if (!(key in expect.keys)) out.push(`${name} ${JSON.stringify(key)}: holds a key nobody wrote`)
  return out
}
