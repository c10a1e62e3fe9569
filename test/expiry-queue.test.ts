/** The expiry queue's heap: pops in deadline order, retain filters and re-heapifies. Seeded. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ExpiryQueue } from '../lib/core/expiry-queue.ts'

const SEED = Number(process.env.SEED ?? 7)

function rng (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return x / 2 ** 32
  }
}

function drain (q: ExpiryQueue): Array<[number, number]> {
  const out: Array<[number, number]> = []
  while (q.size > 0) {
    const at = q.next
    out.push([at, q.pop() as number])
  }
  return out
}

test('an empty queue has no deadline and pops nothing', () => {
  const q = new ExpiryQueue()
  assert.is(q.next, Infinity)
  assert.is(q.pop(), undefined)
  assert.is(q.size, 0)
})

test(`pops in deadline order under random pushes and pops (SEED=${SEED} to replay)`, () => {
  const random = rng(SEED)
  const q = new ExpiryQueue()
  const model: Array<[number, number]> = []
  for (let i = 0; i < 20_000; i++) {
    if (random() < 0.65 || model.length === 0) {
      const at = Math.floor(random() * 1000)
      // refs: slots (>= 0) and lifetimes (< 0), as the store gives them
      const ref = i % 2 === 0 ? i : -i - 1
      q.push(at, ref)
      model.push([at, ref])
    } else {
      const soonest = Math.min(...model.map(([at]) => at))
      assert.is(q.next, soonest, `SEED=${SEED} step ${i}`)
      const ref = q.pop() as number
      // refs are unique here: the one popped must be in the model, under the soonest deadline
      const found = model.findIndex(([, r]) => r === ref)
      assert.ok(found >= 0 && (model[found] as [number, number])[0] === soonest, `SEED=${SEED} step ${i}: ${ref}`)
      model.splice(found, 1)
    }
    assert.is(q.size, model.length)
  }
  const rest = drain(q).map(([at]) => at)
  assert.equal(rest, model.map(([at]) => at).sort((a, b) => a - b), `SEED=${SEED}`)
})

test('retain keeps exactly the accepted items, still in deadline order', () => {
  const random = rng(SEED + 1)
  const q = new ExpiryQueue()
  const kept: number[] = []
  for (let i = 0; i < 5000; i++) {
    const at = Math.floor(random() * 10_000)
    q.push(at, i % 2 === 0 ? i : -i - 1)
    if (i % 3 === 0) kept.push(at)
  }
  const keep = (ref: number): boolean => (ref >= 0 ? ref : -ref - 1) % 3 === 0
  q.retain((_at, ref) => keep(ref))
  assert.is(q.size, kept.length)
  const out = drain(q)
  assert.ok(out.every(([, ref]) => keep(ref)))
  assert.equal(out.map(([at]) => at), kept.sort((a, b) => a - b))
})

test('clear empties the queue', () => {
  const q = new ExpiryQueue()
  q.push(5, 1)
  q.push(3, -2)
  q.clear()
  assert.is(q.size, 0)
  assert.is(q.next, Infinity)
})

test('the arrays grow past their first size, and give memory back as the queue drains or is filtered', () => {
  const q = new ExpiryQueue()
  const first = q.capacity
  const n = 10 * first
  for (let i = 0; i < n; i++) q.push(n - i, i)
  assert.ok(q.capacity >= n, `capacity ${q.capacity} for ${n} items`)
  for (let i = 0; i < n - 10; i++) assert.is(q.pop(), n - 1 - i, 'soonest first, after growing')
  assert.ok(q.capacity <= 4 * first, `capacity ${q.capacity} after draining to 10 items`)
  assert.equal(drain(q).map(([at]) => at), Array.from({ length: 10 }, (_, i) => n - 9 + i), 'the ten latest deadlines are left')
  for (let i = 0; i < n; i++) q.push(i, i)
  q.retain((_at, ref) => ref < 5)
  assert.is(q.capacity, first, 'retain shrinks to what is left')
  assert.equal(drain(q), [[0, 0], [1, 1], [2, 2], [3, 3], [4, 4]])
})

test.run()
