/**
 * Version vectors, stored flat: `[origin0, counter0, origin1, counter1, …]`
 * with origins in ascending string order and counters ≥ 1.
 *
 * Flat and sorted because most keys are written by one or two origins: a
 * two-slot array costs far less than a Map per key, comparison is one linear
 * merge, and equal vectors have equal layouts (so replicas can be compared
 * field by field and frames are canonical).
 */

export type VersionVector = Array<string | number>

/** The result of `compareVectors(a, b)`. */
export const Order = {
  EQUAL: 0,
  /** a happened before b: b dominates. */
  BEFORE: 1,
  /** a happened after b: a dominates. */
  AFTER: 2,
  CONCURRENT: 3,
} as const
export type OrderValue = (typeof Order)[keyof typeof Order]

export const EMPTY_VECTOR: VersionVector = Object.freeze([]) as unknown as VersionVector

export function vectorGet (vv: VersionVector, origin: string): number {
  for (let i = 0; i < vv.length; i += 2) {
    if (vv[i] === origin) return vv[i + 1] as number
  }
  return 0
}

/**
 * A copy of `vv` with `origin` raised to `counter`, kept sorted. Arrays are
 * allocated at their exact size: grown by `push`, V8 reserves 17 slots, which
 * tripled the metadata of a one-origin key.
 */
export function vectorWith (vv: VersionVector, origin: string, counter: number): VersionVector {
  let present = false
  for (let i = 0; i < vv.length; i += 2) if (vv[i] === origin) present = true
  const out: VersionVector = new Array(present ? vv.length : vv.length + 2)
  let k = 0
  let placed = false
  for (let i = 0; i < vv.length; i += 2) {
    const o = vv[i] as string
    if (!placed && origin <= o) {
      placed = true
      out[k++] = origin
      if (o === origin) {
        out[k++] = Math.max(counter, vv[i + 1] as number)
        continue
      }
      out[k++] = counter
    }
    out[k++] = o
    out[k++] = vv[i + 1] as number
  }
  if (!placed) {
    out[k++] = origin
    out[k++] = counter
  }
  return out
}

export function compareVectors (a: VersionVector, b: VersionVector): OrderValue {
  let aAhead = false
  let bAhead = false
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    const ao = a[i] as string | undefined
    const bo = b[j] as string | undefined
    if (bo === undefined || (ao !== undefined && ao < bo)) {
      aAhead = true
      i += 2
    } else if (ao === undefined || bo < ao) {
      bAhead = true
      j += 2
    } else {
      const ac = a[i + 1] as number
      const bc = b[j + 1] as number
      if (ac > bc) aAhead = true
      else if (bc > ac) bAhead = true
      i += 2
      j += 2
    }
    if (aAhead && bAhead) return Order.CONCURRENT
  }
  return aAhead ? Order.AFTER : bAhead ? Order.BEFORE : Order.EQUAL
}

/** The pointwise maximum (allocated at its exact size). */
export function mergeVectors (a: VersionVector, b: VersionVector): VersionVector {
  const out: VersionVector = new Array(a.length + b.length)
  let k = 0
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    const ao = a[i] as string | undefined
    const bo = b[j] as string | undefined
    if (bo === undefined || (ao !== undefined && ao < bo)) {
      out[k++] = ao as string
      out[k++] = a[i + 1] as number
      i += 2
    } else if (ao === undefined || bo < ao) {
      out[k++] = bo
      out[k++] = b[j + 1] as number
      j += 2
    } else {
      out[k++] = ao
      out[k++] = Math.max(a[i + 1] as number, b[j + 1] as number)
      i += 2
      j += 2
    }
  }
  return k === out.length ? out : out.slice(0, k)
}

/** True when some entry of `vv` is above what `sv` (origin → counter) has seen. */
export function vectorExceeds (vv: VersionVector, sv: ReadonlyMap<string, number>): boolean {
  for (let i = 0; i < vv.length; i += 2) {
    if ((vv[i + 1] as number) > (sv.get(vv[i] as string) ?? 0)) return true
  }
  return false
}

/**
 * `vv` without the entries `forgotten` covers (origin → last counter
 * forgotten), except `keep`'s; `vv` itself when none goes, so the usual case
 * allocates nothing. Order is kept.
 */
export function vectorWithout (vv: VersionVector, forgotten: ReadonlyMap<string, number>, keep: string): VersionVector {
  let drop = 0
  for (let i = 0; i < vv.length; i += 2) if (covered(vv, i, forgotten, keep)) drop++
  if (drop === 0) return vv
  const out: VersionVector = new Array(vv.length - 2 * drop)
  let k = 0
  for (let i = 0; i < vv.length; i += 2) {
    if (covered(vv, i, forgotten, keep)) continue
    out[k++] = vv[i] as string
    out[k++] = vv[i + 1] as number
  }
  return out
}

function covered (vv: VersionVector, i: number, forgotten: ReadonlyMap<string, number>, keep: string): boolean {
  const origin = vv[i] as string
  return origin !== keep && (vv[i + 1] as number) <= (forgotten.get(origin) ?? 0)
}

export function vectorsEqual (a: VersionVector, b: VersionVector): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export function vectorToString (vv: VersionVector): string {
  const parts: string[] = []
  for (let i = 0; i < vv.length; i += 2) parts.push(`${vv[i] as string}:${vv[i + 1] as number}`)
  return `{${parts.join(',')}}`
}

/**
 * `vv` with at most `max` entries (SPEC §4, vector bounds): `vv` itself when
 * it fits, else a copy without the entries of origins that are not in `live`
 * (lowest origin id first), then of live ones (lowest id first), never
 * `writer`'s. Sound because the writer's entry stays: a record the state has
 * not seen is never judged dominated, and one judged to dominate has seen the
 * state's write, so a dropped entry only turns dominance into a conflict the
 * HLC rule settles the same way.
 */
export function foldVector (vv: VersionVector, max: number, writer: string, live: ReadonlySet<string>): VersionVector {
  const n = vv.length / 2
  if (n <= max) return vv
  const candidates: string[] = []
  for (let i = 0; i < vv.length; i += 2) if (vv[i] !== writer) candidates.push(vv[i] as string)
  candidates.sort((a, b) => {
    const la = live.has(a)
    const lb = live.has(b)
    if (la !== lb) return la ? 1 : -1
    return a < b ? -1 : a > b ? 1 : 0
  })
  const dropped = new Set(candidates.slice(0, n - Math.max(1, max)))
  const out: VersionVector = new Array(2 * (n - dropped.size))
  let k = 0
  for (let i = 0; i < vv.length; i += 2) {
    if (dropped.has(vv[i] as string)) continue
    out[k++] = vv[i] as string
    out[k++] = vv[i + 1] as number
  }
  return out
}
