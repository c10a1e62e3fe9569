/**
 * The tier contract: a shared cache level below the in-process L1 (an L2
 * such as Redis; lib/tiers/ holds the implementations). `MeshCache` talks to
 * a tier only through this interface, by way of lib/tiers/link.ts (the read
 * guard, the write-through, the fill); SPEC.md §14 has the rules a tier must
 * keep.
 *
 * The shape follows what the L2 needs: values go in as values and the tier
 * encodes them with the cache's codec (lent at `attach`), so a write costs
 * its caller no encoding; `write` and `fill` return nothing (a tier queues
 * and retries on its own, and its counters say what happened); `read`
 * returns the version with the value, for the read guard.
 *
 * A tier is told about versions, never asked to decide the mesh's merge: each
 * value and tombstone it holds carries the HLC of the write (or load) that
 * produced it, and a tier refuses to overwrite what is newer. Every method
 * returns at once or resolves; none throws or rejects for a tier failure
 * (failures are counted in `stats()` and reported to `onFailure`), so L1 and
 * the mesh never wait on a tier and never see its errors.
 */
import { invalidOption } from '../errors.ts'
import type { ValueCodec } from '../value-codec.ts'

/** What the cache lends a tier when it attaches it. */
export interface TierHost<V> {
  namespace: string
  /** Turns values into the bytes the tier stores (the cache's codec, JSON by default). */
  codec: ValueCodec<V>
  /** The cache's clock, in epoch ms (injected in tests). */
  now: () => number
  /** The cache's `maxTtl`: no copy may live longer. */
  maxTtl: number
  /** A tier failure (counted by the tier too); the cache re-emits it as `tierError`. */
  onFailure: (failure: TierFailure) => void
}

export interface TierFailure {
  tier: string
  /** What was being done: 'read', 'fill', 'write', 'clear', 'probe'. */
  op: string
  key?: string
  error: unknown
}

/** A value found in a tier, with the version it was stored under. */
export interface TierHit<V> {
  value: V
  /** HLC of the write that stored it; for a fill, of the newest write its loader knew of (SPEC §14.3). */
  hlc: number
  writer: string
  /** The `state` it was written or filled with: the read guard serves it only where the key and its bases are known alike. */
  state: string
  /** 'write' for a value a `set` wrote, 'fill' for one a load filled. */
  source: 'write' | 'fill'
  /** Keys (tags included, as internal keys) the value was derived from. */
  bases: string[] | undefined
  /** Epoch ms (the cache's clock) at which the value stops being fresh: no copy of it may outlive this. */
  expiresAt: number
}

export interface Tier<V> {
  /** Short name used in stats and events ('l2'). */
  readonly name: string
  /** Called once by the cache before any other call. */
  attach (host: TierHost<V>): void
  /** The value held for `key`, or undefined (a miss, a tombstone, a failure, or the tier not trusted now). */
  read (key: string): Promise<TierHit<V> | undefined>
  /**
   * A value the loader read (not a write), fresh until `expiresAt` (epoch
   * ms, its load's start plus its ttl): stored only where the key holds
   * nothing, neither a value nor a tombstone. `hlc` is the newest write of
   * the key or its bases known when the load began (SPEC §14.3),
   * `startedAt` the wall-clock ms then (a load older than half the tier's
   * tombstone lifetime is not filled). `state` is opaque to the tier: a
   * digest of what the loading instance knew of the key and its bases when
   * the load began (lib/tiers/link.ts), stored with the value and returned
   * with it by `read`. Fire and forget.
   */
  fill (key: string, value: V, expiresAt: number, hlc: number, startedAt: number, bases: string[] | undefined, state: string): void
  /**
   * A write of this instance, at (hlc, writer): `value` undefined writes a
   * tombstone (delete, invalidate, cascade). Stored unless the tier holds a
   * newer write of the key; queued in order per key, retried until it lands
   * or a newer write of the key replaces it. `state`, as for `fill`: what
   * the writer knew of the key (this write) and its bases; or a function
   * giving it, to call once when the write is sent (so the caller's `set`
   * does not pay for the digest). Fire and forget.
   */
  write (key: string, value: V | undefined, ttl: number, hlc: number, writer: string, bases: string[] | undefined, state: string | (() => string)): void
  /** Every key of this namespace goes (clear()): values older than `hlc` must never be read again. */
  clear? (hlc: number): void
  /** Counters and state, named with the tier's prefix (`l2Hits`…). */
  stats (): Record<string, number | string>
  /** Resolves once queued writes were sent (or given up on, after `timeoutMs`). */
  flush? (timeoutMs?: number): Promise<void>
  close (): Promise<void>
}

/** What a tier object must have besides its `name`; `clear` and `flush` are optional. */
const TIER_METHODS = ['attach', 'read', 'fill', 'write', 'stats', 'close'] as const

/**
 * `value` as a tier, or undefined if it has none of a tier's methods (the
 * `l2` option's Redis options). One with some must have them all, and a
 * name: a tier without `fill` would otherwise fail at its first load, far
 * from the option that gave it. E_INVALID_OPTION names what it lacks.
 */
export function asTier<V> (value: object): Tier<V> | undefined {
  const fields = value as Record<string, unknown>
  if (!TIER_METHODS.some((m) => typeof fields[m] === 'function')) return undefined
  const lacks = TIER_METHODS.filter((m) => typeof fields[m] !== 'function').map((m) => `${m}()`)
  if (typeof fields.name !== 'string') lacks.push('a name')
  if (lacks.length > 0) {
    invalidOption('l2', `is a tier without ${lacks.join(', ')}: a tier has a name and ${TIER_METHODS.map((m) => `${m}()`).join(', ')} (the Tier contract)`)
  }
  return value as Tier<V>
}

/** The `state` of a record that is never served (a tombstone): no instance's knowledge digests to it. */
export const NO_STATE = '0000000000000000'

/** The tier of a cache with none: every read misses, every write and fill is dropped. */
export const noTier: Tier<any> = {
  name: 'none',
  attach: () => {},
  read: async () => undefined,
  fill: () => {},
  write: () => {},
  stats: () => ({}),
  close: async () => {},
}
