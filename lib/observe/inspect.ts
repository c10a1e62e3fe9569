/**
 * Read-only views of a store's replicated state: what `inspect`,
 * `metadata` and `stats().metadataBytes` report. Diagnostics only: nothing
 * here is on a read or merge path.
 */
import type { Store } from '../core/store.ts'
import type { VersionVector } from '../core/version-vector.ts'

/** A key's replicated state, for diagnostics and tests. */
export interface EntryView {
  kind: 'set' | 'delete' | 'invalidate'
  hlc: number
  writer: string
  vv: VersionVector
  hasValue: boolean
}

/** Record kinds by their wire value, as events and views name them. */
export const KIND_NAMES = ['set', 'delete', 'invalidate'] as const

/**
 * Estimates behind `stats().metadataBytes`, measured on Node 24 with
 * bench/core (1M keys): a live key's metadata (entry, Map slot, expiry-queue
 * slots) and a tombstone (entry, Map and GC-queue slots), plus the key
 * string a tombstone alone keeps alive.
 */
const LIVE_ENTRY_BYTES = 123
const DEAD_ENTRY_BYTES = 120
const KEY_STRING_BYTES = 24
/** A vector with several origins: the array, plus per origin two slots. */
const VECTOR_BASE_BYTES = 32
const VECTOR_ENTRY_BYTES = 16

/** The replicated state of `key`, or undefined for an unknown key or a loaded value's placeholder. */
export function inspectEntry<V extends {}> (store: Store<V>, key: string): EntryView | undefined {
  const e = store.meta.get(key)
  if (e === undefined || e.isPlaceholder) return undefined
  return { kind: KIND_NAMES[e.kind], hlc: e.hlc, writer: e.writer, vv: e.vv.slice(), hasValue: e.hasValue && store.lru.has(key) }
}

/** Every replicated key's state, sorted by key: what replicas compare after they converge. */
export function allEntries<V extends {}> (store: Store<V>): Array<[string, EntryView]> {
  const meta = store.meta
  const keys = [...meta.keys()].filter((k) => meta.get(k)?.isPlaceholder !== true).sort()
  return keys.map((k) => [k, inspectEntry(store, k) as EntryView])
}

/** The estimate behind `stats().metadataBytes`. */
export function metadataBytes<V extends {}> (store: Store<V>): number {
  let bytes = 0
  for (const [key, entry] of store.meta) {
    bytes += entry.hasValue ? LIVE_ENTRY_BYTES : DEAD_ENTRY_BYTES + KEY_STRING_BYTES + key.length
    if (entry.vectorSize > 1) bytes += VECTOR_BASE_BYTES + entry.vectorSize * VECTOR_ENTRY_BYTES
  }
  return bytes
}
