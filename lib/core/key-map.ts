/**
 * A `Map<string, V>` split over 64 Maps by a cheap hash of the key, so that
 * growing never rehashes every key at once.
 *
 * V8 grows a Map by doubling its table and reinserting every entry, in one
 * synchronous step inside the `set` that crossed the limit (and shrinks it the
 * same way when it falls under a quarter full). The store's key map holds
 * every key's metadata until the horizon; under a stream of new keys (every
 * write a new key, as bench:mesh at 20,000 writes/s) it passes 131,072 and
 * 262,072 entries within seconds, and each doubling stalled a receiver's event
 * loop for 60-115 ms on the loaded test host (CPU profile samples inside the
 * stalls, bench/mesh/stall-summary.ts): every write queued behind it, the p99.
 * Split 64 ways, a doubling reinserts 1/64 of the keys, and the shards cross
 * their limits at slightly different moments, so one frame's inserts meet at
 * most a few of them.
 *
 * What it costs: one hash of the key (a multiply-add per character, at most
 * 32 characters looked at) per operation. Iteration is shard by shard, each in
 * insertion order: no caller relies on an order across keys.
 */
const SHARD_BITS = 4
const SHARDS = 1 << SHARD_BITS

/**
 * Which shard holds `key`: FNV-1a over the key's last 24 and first 8
 * characters (all of a key up to 32), which is where keys differ (ids at the
 * end, prefixes at the start). Keys that differ only in between share a
 * shard: that is today's single Map again, never worse.
 */
export function shardOf (key: string): number {
  const n = key.length
  let h = 0x811c9dc5 ^ n
  const tailFrom = n > 24 ? n - 24 : 0
  for (let i = tailFrom; i < n; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  const head = tailFrom < 8 ? tailFrom : 8
  for (let i = 0; i < head; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return (h ^ (h >>> 15)) & (SHARDS - 1)
}

export class KeyMap<V> {
  readonly #shards: Array<Map<string, V>> = Array.from({ length: SHARDS }, () => new Map<string, V>())
  #size = 0

  get size (): number {
    return this.#size
  }

  get (key: string): V | undefined {
    return (this.#shards[shardOf(key)] as Map<string, V>).get(key)
  }

  has (key: string): boolean {
    return (this.#shards[shardOf(key)] as Map<string, V>).has(key)
  }

  set (key: string, value: V): this {
    const shard = this.#shards[shardOf(key)] as Map<string, V>
    const before = shard.size
    shard.set(key, value)
    this.#size += shard.size - before
    return this
  }

  delete (key: string): boolean {
    const deleted = (this.#shards[shardOf(key)] as Map<string, V>).delete(key)
    if (deleted) this.#size--
    return deleted
  }

  clear (): void {
    for (const shard of this.#shards) shard.clear()
    this.#size = 0
  }

  /** Every entry, shard by shard. Allocates nothing per key (a for-of over a Map's entries builds a pair per key). */
  forEach (fn: (value: V, key: string) => void): void {
    for (const shard of this.#shards) shard.forEach(fn)
  }

  * keys (): IterableIterator<string> {
    for (const shard of this.#shards) yield * shard.keys()
  }
}
