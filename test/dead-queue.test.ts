import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Slot } from '../lib/core/entry.ts'
import { DeadQueue } from '../lib/core/dead-queue.ts'
import { SHARED_FROM, sharedBytes } from '../lib/core/columns.ts'
import { Store } from '../lib/core/store.ts'
import { HLC_LOGICAL_RANGE } from '../lib/core/clock.ts'
import { RecordKind } from '../protocol/constants.ts'

// The store's GC queue (lib/core/dead-queue.ts): value-less entries are
// collected oldest death first once past the horizon, a revived, forgotten or
// replaced key leaves a stale slot that is skipped, and churn on one key keeps
// the queue bounded. Injected clock: no timers.

function setup () {
  let now = 1_700_000_000_000
  const store = new Store<string>({ max: 100, now: () => now, exactClock: true, onEvict: () => {} })
  const entry = (key: string): Slot => store.addState(key, RecordKind.INVALIDATE, now * HLC_LOGICAL_RANGE, 'o', ['o', 1], 1000)
  const dead = (key: string): Slot => {
    const e = entry(key)
    store.markDead(e)
    return e
  }
  return { store, entry, dead, advance: (ms: number) => { now += ms } }
}

test('collects value-less entries past the horizon, oldest first, and counts them', () => {
  const { store, dead, advance } = setup()
  dead('a')
  advance(5000)
  dead('b')
  assert.is(store.tombstones, 2)
  advance(3000)
  assert.is(store.collect(6000), 1) // a died 8 s ago, b 3 s ago
  assert.not.ok(store.meta.has('a'))
  assert.ok(store.meta.has('b'))
  assert.is(store.tombstones, 1)
  advance(10_000)
  assert.is(store.collect(6000), 1)
  assert.is(store.tombstones, 0)
})

test('a revived key is not collected through its old slot, and dies again with a new time', () => {
  const { store, dead, advance } = setup()
  const e = dead('a')
  advance(2000)
  store.setWritten('a', 'v', e)
  assert.is(store.tombstones, 0)
  advance(10_000)
  assert.is(store.collect(6000), 0) // its old slot is stale
  assert.ok(store.meta.has('a'))
  store.bury('a', e, 'remote')
  assert.is(store.tombstones, 1)
  assert.is(store.collect(6000), 0) // died just now
  advance(7000)
  assert.is(store.collect(6000), 1)
  assert.is(store.tombstones, 0)
})

test('a written-over dead key keeps its place and death time; a forgotten key leaves the count', () => {
  const { store, dead, advance } = setup()
  const old = dead('a')
  const since = store.table.deadSince(old)
  advance(1000)
  const newer = store.writeState('a', RecordKind.DELETE, 1_700_000_001_000 * HLC_LOGICAL_RANGE, 'o', ['o', 2], 1000)
  assert.is(newer, old, 'the key keeps its slot')
  store.markDead(newer)
  assert.is(store.table.deadSince(newer), since)
  assert.is(store.tombstones, 1)
  dead('b')
  assert.ok(store.forget('b'))
  assert.not.ok(store.forget('b'))
  assert.is(store.tombstones, 1)
  advance(10_000)
  assert.is(store.collect(5000), 1)
  assert.is(store.tombstones, 0)
})

test('a write still inside the horizon is kept and looked at again later', () => {
  const { store, advance } = setup()
  // a write from a clock a minute ahead
  const e = store.addState('a', RecordKind.INVALIDATE, (1_700_000_000_000 + 60_000) * HLC_LOGICAL_RANGE, 'o', ['o', 1], 1000)
  store.markDead(e)
  advance(10_000)
  assert.is(store.collect(5000), 0)
  assert.ok(store.meta.has('a'))
  advance(120_000)
  assert.is(store.collect(5000), 1)
})

test('reviving and burying one key many times keeps the queue bounded', () => {
  const { store, dead, advance } = setup()
  const e = dead('hot')
  for (let i = 0; i < 20_000; i++) {
    advance(1000)
    store.setWritten('hot', 'v', e)
    store.bury('hot', e, 'remote')
  }
  assert.is(store.tombstones, 1)
  // The stale slots were dropped along the way: a sweep looks at a bounded number.
  advance(10_000)
  assert.is(store.collect(5000), 1)
  assert.is(store.tombstones, 0)
  assert.is(store.meta.size, 0)
})

test('a forgotten key\'s slot goes to the next new key, and neither the old key\'s queue slot nor the new key is confused', () => {
  const { store, dead, entry, advance } = setup()
  const a = dead('a')
  assert.ok(store.forget('a'))
  assert.is(store.tombstones, 0)
  const b = entry('b')
  assert.is(b, a, 'the freed slot is reused')
  assert.not.ok(store.table.deadQueued(b), 'reused clean')
  assert.not.ok(store.table.hasValue(b))
  advance(1000)
  store.markDead(b)
  assert.is(store.tombstones, 1)
  advance(10_000)
  // 'a' left a stale slot in the GC queue; only 'b' is collected, once.
  assert.is(store.collect(5000), 1)
  assert.is(store.tombstones, 0)
  assert.is(store.meta.size, 0)
  assert.is(store.table.size, 0)
})

test('a chunked sweep drops a chunk per event-loop turn, oldest first, until nothing due is left; a closed store stops', async () => {
  const { store, dead, advance } = setup()
  for (let i = 0; i < 2500; i++) dead(`k${i}`)
  advance(1000)
  dead('young') // died 1 s later: not due below
  advance(5500)
  // The periodic sweep's call (lib/wiring.ts): 1000 slots now, the rest in later turns.
  assert.is(store.collect(6000, 1000), 1000)
  assert.is(store.tombstones, 1501)
  assert.ok(store.meta.get('k999') === undefined && store.meta.get('k1000') !== undefined, 'oldest first')
  await new Promise((resolve) => setImmediate(resolve))
  assert.is(store.tombstones, 501, 'a second chunk in the next turn')
  await new Promise((resolve) => setImmediate(resolve))
  assert.is(store.tombstones, 1, 'the last due ones; the young tombstone stays')
  await new Promise((resolve) => setImmediate(resolve))
  assert.is(store.tombstones, 1)
  assert.ok(store.meta.get('young') !== undefined)
  // Closing stops a sweep that is still going.
  for (let i = 0; i < 2000; i++) dead(`m${i}`)
  advance(10_000)
  assert.is(store.collect(6000, 1000), 1000)
  store.close()
  await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setImmediate(resolve))
  assert.is(store.tombstones, 1001, 'nothing after close')
})


test('the queue keeps order across its chunks: pushes, shifts and a retain over several thousand slots', () => {
  // DeadQueue stores slots in chunks of 4,096; 10,000 slots span three, and
  // the shifts and the retain below cross every boundary.
  const q = new DeadQueue()
  assert.is(q.firstSlot, -1)
  assert.is(q.firstAt, Infinity)
  for (let i = 0; i < 10_000; i++) q.push(i, i + 0.5)
  assert.is(q.slots, 10_000)
  for (let i = 0; i < 5000; i++) {
    assert.is(q.firstSlot, i)
    assert.is(q.firstAt, i + 0.5)
    q.shift()
  }
  assert.is(q.slots, 5000)
  q.retain((slot, at) => slot % 3 === 0 && at === slot + 0.5)
  const left: number[] = []
  while (q.slots > 0) {
    left.push(q.firstSlot)
    q.shift()
  }
  const want: number[] = []
  for (let i = 5000; i < 10_000; i++) if (i % 3 === 0) want.push(i)
  assert.equal(left, want)
  assert.is(q.firstSlot, -1)
  q.shift() // shifting an empty queue is harmless
  q.push(7, 1)
  assert.is(q.firstSlot, 7)
  assert.is(q.slots, 1)
})

test('a queue that drains as fast as it fills reuses its chunks: order kept, no new memory past the second chunk', () => {
  // Emptied chunks wait for no full GC (lib/core/columns.ts): the queue takes them back.
  // Past SHARED_FROM slots its chunks are shared buffers (lib/core/columns.ts), which sharedBytes counts.
  const q = new DeadQueue()
  const chunkBytes = 4096 * (4 + 8)
  const before = sharedBytes()
  let next = 0
  for (let i = 0; i < 200_000; i++) {
    q.push(i, i + 0.25)
    if (q.slots > SHARED_FROM + 4096) {
      assert.is(q.firstSlot, next)
      assert.is(q.firstAt, next + 0.25)
      q.shift()
      next++
    }
  }
  while (q.slots > 0) {
    assert.is(q.firstSlot, next++)
    q.shift()
  }
  assert.is(next, 200_000)
  assert.ok(sharedBytes() - before <= 3 * chunkBytes, `the queue took ${sharedBytes() - before} new shared bytes while ~30 chunks' worth of slots went through`)
  for (let i = 0; i < 5000; i++) q.push(i, 1) // refilled past a chunk after running empty: still in order
  for (let i = 0; i < 5000; i++) { assert.is(q.firstSlot, i); q.shift() }
})

test.run()
