/**
 * Local storage: values in an lru-cache (so a read costs one LRU lookup),
 * replicated metadata in a Map beside it, and a queue of entries that hold no
 * value (tombstones, remote writes in invalidate mode, expired or evicted
 * copies) in the order they lost it, for the GC sweep.
 *
 * Keys written with `local: true` have a value and no metadata: nothing
 * remote can find them through `meta`.
 */
import { LRUCache } from 'lru-cache'
import { Entry } from './entry.ts'
import { physicalMs } from './clock.ts'
import type { Now } from './clock.ts'

export type EvictReason = 'remote' | 'local' | 'ttl' | 'capacity' | 'repair'

export interface EvictEvent {
  key: string
  reason: EvictReason
}

export interface StoreOptions {
  max: number
  now: Now
  /** Read the clock on every access instead of lru-cache's 1 ms cache (for injected clocks). */
  exactClock: boolean
  /** Called for every value that leaves the LRU, with why. */
  onEvict: (key: string, reason: EvictReason) => void
}

export class Store<V extends {}> {
  readonly lru: LRUCache<string, V>
  readonly meta = new Map<string, Entry>()
  /** Entries without a value, oldest first. Values are the same Entry objects as in `meta`. */
  readonly dead = new Map<string, Entry>()
  readonly #now: Now
  readonly #onEvict: (key: string, reason: EvictReason) => void
  /** Set while this module deletes a value itself, so dispose knows the reason. */
  #deleting: EvictReason | undefined

  constructor (options: StoreOptions) {
    this.#now = options.now
    this.#onEvict = options.onEvict
    this.lru = new LRUCache<string, V>({
      max: options.max,
      // Every value expires (the safety net); each set passes its own ttl.
      ttl: 1,
      ttlResolution: options.exactClock ? 0 : 1,
      perf: { now: options.now },
      // A read never serves an expired value, and removes it.
      allowStale: false,
      dispose: (_value, key, reason) => this.#disposed(key, reason),
    })
  }

  /** Stores a value for `key`; `remainingMs` counts from now. */
  setValue (key: string, value: V, remainingMs: number, entry: Entry | undefined): void {
    this.lru.set(key, value, { ttl: Math.max(1, remainingMs) })
    if (entry !== undefined) {
      entry.hasValue = true
      entry.deadSince = 0
      this.dead.delete(key)
    }
  }

  /** Drops the value of `key`, if any; returns whether there was one. */
  dropValue (key: string, reason: EvictReason): boolean {
    if (!this.lru.has(key)) {
      // An expired value may still sit in the LRU: remove it silently.
      this.#deleting = 'ttl'
      this.lru.delete(key)
      this.#deleting = undefined
      return false
    }
    this.#deleting = reason
    this.lru.delete(key)
    this.#deleting = undefined
    return true
  }

  /**
   * Drops the value of `key`, if one may be held, and queues `entry` as the
   * key's dead state. Returns whether a value was held. `mayHoldValue: false`
   * skips the LRU when the caller knows nothing is there.
   */
  bury (key: string, entry: Entry, reason: EvictReason, mayHoldValue = true): boolean {
    // Dropping a held value marks the entry dead on the way (dispose).
    const had = mayHoldValue && this.dropValue(key, reason)
    if (!had) this.markDead(key, entry)
    return had
  }

  /** Records `entry` as the state of `key`, holding no value. */
  markDead (key: string, entry: Entry): void {
    entry.hasValue = false
    const queued = this.dead.get(key)
    if (queued === entry) return
    // A newer state of a key already queued takes its place and its death
    // time (Map.set keeps the position): the queue stays ordered by death,
    // and collect() still waits until the newer write itself is past the
    // horizon before dropping it.
    entry.deadSince = queued !== undefined ? queued.deadSince : Math.ceil(this.#now() / 1000)
    this.dead.set(key, entry)
  }

  /**
   * Drops dead entries older than `horizon`: no copy of anything they
   * dominate can still be alive anywhere, since every copy expires within
   * `maxTtl` of its write. Returns how many went.
   */
  collect (horizon: number): number {
    this.lru.purgeStale()
    const now = this.#now()
    const cutoff = now - horizon
    const cutoffSeconds = Math.floor(cutoff / 1000)
    let n = 0
    for (const [key, entry] of this.dead) {
      if (entry.deadSince > cutoffSeconds) break
      // The write itself must be past the horizon: this is the safety rule
      // (deadSince, rounded up to seconds, only orders the queue).
      if (physicalMs(entry.hlc) > cutoff) {
        this.dead.delete(key)
        entry.deadSince = Math.ceil(now / 1000)
        this.dead.set(key, entry)
        continue
      }
      this.dead.delete(key)
      this.meta.delete(key)
      n++
    }
    return n
  }

  #disposed (key: string, reason: LRUCache.DisposeReason): void {
    if (reason === 'set') return
    const why: EvictReason = reason === 'delete' ? (this.#deleting ?? 'local') : reason === 'evict' ? 'capacity' : 'ttl'
    const entry = this.meta.get(key)
    if (entry !== undefined) this.markDead(key, entry)
    this.#onEvict(key, why)
  }
}
