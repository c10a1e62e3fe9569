import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { KeyMap, shardOf } from '../lib/core/key-map.ts'

// The store's key map (lib/core/key-map.ts): a Map split over shards so its
// growth never rehashes every key at once. It must behave as one Map for
// every operation the store uses; random operations are checked against a
// plain Map. Seeded: replay with KEY_MAP_SEED=<seed>.

function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

test('behaves as a Map under random set, delete, get, has and clear', () => {
  const seed = Number(process.env.KEY_MAP_SEED ?? 21)
  const random = rng(seed)
  const keys = Array.from({ length: 3000 }, (_, i) => i % 3 === 0 ? `user:${i}` : i % 3 === 1 ? `${i}:tenant:${'x'.repeat(i % 50)}` : String.fromCharCode(0x4e00 + i))
  keys.push('')
  const map = new KeyMap<number>()
  const ref = new Map<string, number>()
  for (let op = 0; op < 40_000; op++) {
    const key = keys[Math.floor(random() * keys.length)] as string
    const r = random()
    if (r < 0.5) {
      assert.is(map.set(key, op), map, `seed ${seed}: set returns the map`)
      ref.set(key, op)
    } else if (r < 0.8) {
      assert.is(map.delete(key), ref.delete(key), `seed ${seed}, op ${op}: delete ${key}`)
    } else if (r < 0.9999) {
      assert.is(map.get(key), ref.get(key), `seed ${seed}, op ${op}: get ${key}`)
      assert.is(map.has(key), ref.has(key), `seed ${seed}, op ${op}: has ${key}`)
    } else {
      map.clear()
      ref.clear()
    }
    assert.is(map.size, ref.size, `seed ${seed}, op ${op}: size`)
  }
  const seen = new Map<string, number>()
  map.forEach((value, key) => { seen.set(key, value) })
  assert.equal([...seen].sort(), [...ref].sort(), `seed ${seed}: forEach visits every entry once`)
  assert.equal([...map.keys()].sort(), [...ref.keys()].sort(), `seed ${seed}: keys`)
})

test('spreads keys that differ at the end or at the start over every shard', () => {
  for (const make of [(i: number) => `user:${i}`, (i: number) => `${i}:some-long-common-suffix-of-a-key-name`]) {
    const counts = new Map<number, number>()
    const n = 64_000
    for (let i = 0; i < n; i++) {
      const shard = shardOf(make(i))
      counts.set(shard, (counts.get(shard) ?? 0) + 1)
    }
    const mean = n / counts.size
    assert.ok(counts.size >= 16, `${make(1)}: ${counts.size} shards used`)
    for (const [shard, count] of counts) assert.ok(count < 1.5 * mean && count > 0.5 * mean, `${make(1)}: shard ${shard} holds ${count}, mean ${mean}`)
  }
})

test.run()
