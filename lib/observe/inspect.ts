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
 * bench/core (1M keys). Every slot the entry table has allocated (used or
 * not: its columns grow by doubling) costs SLOT_BYTES; the key index counts
 * its own bytes (cells, locations and the key characters it holds, for a
 * tombstone the only copy of its key); every key its place in the expiry queue
 * (a value held) or the GC queue (none held), QUEUE_BYTES, which measure
 * alike. A live key's string in the LRU is not counted (the values' side).
 * test/metadata-bytes.test.ts holds the estimate against a measurement.
 */
const SLOT_BYTES = 33
/** A TTL too long for its column (over ~49 days): a Map entry beside it. */
const WIDE_TTL_BYTES = 40
/** Measured at 1M keys of 18 characters (2026-12-03): 96.8 B a live key and 96.2 a tombstone in all. */
const QUEUE_BYTES = 16
/** A vector with several origins: its Map entry and the array, plus per origin two slots. */
const VECTOR_BASE_BYTES = 64
const VECTOR_ENTRY_BYTES = 16

/** The replicated state of `key`, or undefined for an unknown key or a loaded value's placeholder. */
export function inspectEntry<V extends {}> (store: Store<V>, key: string): EntryView | undefined {
  const slot = store.meta.get(key)
  const t = store.table
  if (slot === undefined || t.isPlaceholder(slot)) return undefined
  return { kind: KIND_NAMES[t.kind(slot)] as EntryView['kind'], hlc: t.hlc(slot), writer: t.writer(slot), vv: t.vv(slot).slice(), hasValue: t.hasValue(slot) && store.lru.has(key) }
}

/** Every replicated key's state, sorted by key: what replicas compare after they converge. */
export function allEntries<V extends {}> (store: Store<V>): Array<[string, EntryView]> {
  const meta = store.meta
  const keys = [...meta.keys()].filter((k) => !store.table.isPlaceholder(meta.get(k) as number)).sort()
  return keys.map((k) => [k, inspectEntry(store, k) as EntryView])
}

/** The estimate behind `stats().metadataBytes`. */
export function metadataBytes<V extends {}> (store: Store<V>): number {
  const t = store.table
  if (store.meta.size === 0) return 0
  let bytes = t.capacity * SLOT_BYTES + t.wideTtls * WIDE_TTL_BYTES + store.meta.bytes + store.meta.size * QUEUE_BYTES
  store.meta.forEachSlot((slot) => {
    const origins = t.vectorSize(slot)
    if (origins > 1) bytes += VECTOR_BASE_BYTES + origins * VECTOR_ENTRY_BYTES
  })
  return bytes
}
