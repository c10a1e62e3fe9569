/**
 * The contract of a shared cache tier below the in-process one (an L2, e.g.
 * Redis; lib/tiers/ holds the implementations). Only the shape is fixed
 * here; the L2 work (issue 20 §2) refines it.
 *
 * How MeshCache uses a tier:
 * - reads: `getOrLoad` goes L1, then `tier.get`, then the loader. A value
 *   found in the tier fills L1 locally with no broadcast (a load, not a
 *   write); a tombstone found there counts as a miss and the loader runs.
 * - loads: a loaded value is offered to the tier with `fill`, stamped with
 *   the HLC read when the load began, so the tier can refuse it when a newer
 *   write or tombstone is already there (the cache-aside race, moved to L2).
 * - writes: `set`, `delete`, `invalidate`, `invalidateTag`, `clear` and
 *   cascades go through `write` with the HLC of the write, after L1 and the
 *   mesh and never awaited by them, in order per key.
 *
 * A tier must never throw into the cache: methods resolve, and report
 * failures through the returned result or their own events. Values are the
 * bytes of the cache's value codec, so the tier stores what the mesh sends.
 */

/** What a tier holds for a key. */
export interface TierEntry {
  /** The value's bytes (value codec); undefined: a tombstone (a delete or invalidation not yet expired). */
  value: Uint8Array | undefined
  /** The HLC of the write or load that stored it: the version the tier's conditional writes compare. */
  hlc: number
  /** Milliseconds it has left, when the tier knows. */
  ttl?: number
}

/** One write, as it goes through to the tier. */
export type TierWrite =
  | { kind: 'set', key: string, hlc: number, value: Uint8Array, ttl: number }
  | { kind: 'delete' | 'invalidate', key: string, hlc: number }
  /** Every key of the namespace, older than `hlc`. */
  | { kind: 'clear', hlc: number }

export interface Tier {
  /** For logs and stats, e.g. 'redis'. */
  readonly name: string
  /** The entry of `key`, or undefined when the tier has none (or could not answer in time). */
  get(key: string, signal?: AbortSignal): Promise<TierEntry | undefined>
  /**
   * Stores a loaded value, unless the tier holds a newer write or tombstone
   * for the key (compared by `hlc`). Resolves to whether it was stored.
   */
  fill(key: string, value: Uint8Array, hlc: number, ttl: number): Promise<boolean>
  /** Writes a local write through; a write never overwrites a newer one. Resolves to whether it was applied. */
  write(write: TierWrite): Promise<boolean>
  /** Releases what the tier opened itself (not a client the user passed in). */
  close(): Promise<void>
}

/** The tier of a cache with none: every read misses, every write is dropped. */
export const noTier: Tier = {
  name: 'none',
  get: async () => undefined,
  fill: async () => false,
  write: async () => false,
  close: async () => {},
}
