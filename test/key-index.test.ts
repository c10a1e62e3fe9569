import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as prng from 'lib0/prng'
import { KeyIndex, hashKey } from '../lib/core/key-index.ts'
import { sharedBytes } from '../lib/core/columns.ts'

// The store's key index (lib/core/key-index.ts): key → slot and slot → key in
// typed arrays and a character arena. It must behave as a Map from key to slot
// (a slot naming one key) under every operation the store uses, whatever the
// keys (empty, long, outside Latin-1, lone surrogates), and keep what deleted
// keys leave in the arena bounded. Random operations are checked against a
// plain Map. Seeded: replay with KEY_INDEX_SEED=<seed>.

function keysOf (i: number): string {
  switch (i % 5) {
    case 0: return `user:${i}`
    case 1: return `${i}:tenant:${'x'.repeat(i % 70)}`
    case 2: return String.fromCharCode(0x4e00 + i)
    case 3: return `\ud800${i}` // a lone surrogate: kept as the code unit it is
    default: return `${'k'.repeat(5000 + (i % 7))}${i}` // past one arena piece (keyOf builds it in parts)
  }
}

test('behaves as a Map from key to slot under random set, delete, deleteSlot, get, has and clear', () => {
  const seed = Number(process.env.KEY_INDEX_SEED ?? 21)
  const gen = prng.create(seed)
  const random = (): number => prng.real53(gen)
  const keys = Array.from({ length: 3000 }, (_, i) => keysOf(i))
  keys.push('')
  const index = new KeyIndex()
  const ref = new Map<string, number>()
  const bySlot = new Map<number, string>()
  let nextSlot = 0
  const free: number[] = []
  for (let op = 0; op < 60_000; op++) {
    const key = keys[Math.floor(random() * keys.length)] as string
    const r = random()
    if (r < 0.45) {
      // the store's contract: a slot names one key (a freed slot may be reused)
      const slot = free.length !== 0 && random() < 0.5 ? free.pop() as number : nextSlot++
      assert.is(index.set(key, slot), index, `seed ${seed}: set returns the index`)
      const old = ref.get(key)
      if (old !== undefined) { bySlot.delete(old); free.push(old) }
      ref.set(key, slot)
      bySlot.set(slot, key)
    } else if (r < 0.6) {
      const slot = ref.get(key)
      assert.is(index.delete(key), slot !== undefined, `seed ${seed}, op ${op}: delete`)
      if (slot !== undefined) { ref.delete(key); bySlot.delete(slot); free.push(slot) }
    } else if (r < 0.75) {
      const slot = Math.floor(random() * nextSlot)
      const had = bySlot.get(slot)
      assert.is(index.deleteSlot(slot), had !== undefined, `seed ${seed}, op ${op}: deleteSlot ${slot}`)
      if (had !== undefined) { ref.delete(had); bySlot.delete(slot); free.push(slot) }
    } else if (r < 0.9999) {
      const slot = ref.get(key)
      assert.is(index.get(key), slot, `seed ${seed}, op ${op}: get`)
      assert.is(index.has(key), slot !== undefined, `seed ${seed}, op ${op}: has`)
      if (slot !== undefined) {
        assert.ok(index.holds(slot))
        assert.is(index.keyOf(slot), key, `seed ${seed}, op ${op}: keyOf`)
      }
    } else {
      index.clear()
      ref.clear()
      bySlot.clear()
    }
    assert.is(index.size, ref.size, `seed ${seed}, op ${op}: size`)
  }
  const seen = new Map<string, number>()
  index.forEachSlot((slot) => { seen.set(index.keyOf(slot), slot) })
  assert.equal([...seen].sort(), [...ref].sort(), `seed ${seed}: forEachSlot visits every key once`)
  assert.equal([...index.keys()].sort(), [...ref.keys()].sort(), `seed ${seed}: keys`)
})

test('what deleted keys leave in the arena is bounded: chunks empty or compact as keys go', () => {
  const before = sharedBytes()
  const index = new KeyIndex()
  const live: Array<[string, number]> = [] // a FIFO: the oldest at `head`
  let head = 0
  const kept = new Map<string, number>()
  const free: number[] = []
  let next = 0
  // 400,000 keys through, at most 20,000 indexed at once, one in 50 kept for good (scattered over every chunk);
  // slots are reused as the store reuses them.
  for (let i = 0; i < 400_000; i++) {
    const key = `session:${i}:${'p'.repeat(i % 40)}`
    const slot = free.pop() ?? next++
    index.set(key, slot)
    if (i % 50 === 0) {
      kept.set(key, slot)
      continue
    }
    live.push([key, slot])
    if (live.length - head > 20_000) {
      const [oldest, gone] = live[head++] as [string, number]
      if (!(i % 2 === 0 ? index.delete(oldest) : index.deleteSlot(gone))) assert.unreachable(`key ${oldest} was indexed`)
      free.push(gone)
    }
  }
  assert.is(index.size, 20_000 + 8000)
  // ~28,000 keys of ~50 units: ~2.8 MB of characters and ~1 MB of cells and columns; without compaction every
  // chunk would stay (~40 MB).
  assert.ok(index.bytes < 6_000_000, `${index.bytes} bytes held`)
  // A compacted chunk's memory is reused, not dropped: dropped, it would wait for a full GC (lib/core/columns.ts),
  // and this churn would have left ~20 MB of it.
  assert.ok(sharedBytes() - before < 2 * index.bytes, `${sharedBytes() - before} bytes of shared memory made for ${index.bytes} held`)
  for (const [key, slot] of kept) assert.is(index.get(key), slot, 'a kept key survives compaction')
  for (let i = head; i < live.length; i++) {
    const [key, slot] = live[i] as [string, number]
    if (index.keyOf(slot) !== key) assert.is(index.keyOf(slot), key)
  }
})

test('the hash spreads keys that differ at the end, at the start or in the middle over shards and cells', () => {
  for (const make of [(i: number) => `user:${i}`, (i: number) => `${i}:some-long-common-suffix-of-a-key-name`, (i: number) => `tenant:${i}:${'x'.repeat(40)}:profile`]) {
    const shards = new Map<number, number>()
    const cells = new Set<number>()
    const n = 64_000
    for (let i = 0; i < n; i++) {
      const h = hashKey(make(i))
      shards.set(h >>> 28, (shards.get(h >>> 28) ?? 0) + 1)
      cells.add(h & 0xffff)
    }
    const mean = n / 16
    assert.is(shards.size, 16)
    for (const [shard, count] of shards) assert.ok(count < 1.2 * mean && count > 0.8 * mean, `${make(1)}: shard ${shard} holds ${count}, mean ${mean}`)
    assert.ok(cells.size > 0.6 * 65_536, `${make(1)}: ${cells.size} distinct low 16 bits`)
  }
})

test.run()
