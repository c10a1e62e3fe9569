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

function drain (q: ExpiryQueue): Array<[number, string]> {
  const out: Array<[number, string]> = []
  while (q.size > 0) {
    const at = q.next
    out.push([at, q.pop() as string])
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
  const model: Array<[number, string]> = []
  for (let i = 0; i < 20_000; i++) {
    if (random() < 0.65 || model.length === 0) {
      const at = Math.floor(random() * 1000)
      q.push(at, `k${i}`)
      model.push([at, `k${i}`])
    } else {
      model.sort((a, b) => a[0] - b[0])
      const [at] = model.shift() as [number, string]
      assert.is(q.next, at, `SEED=${SEED} step ${i}`)
      const key = q.pop() as string
      assert.ok(key.startsWith('k'))
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
    q.push(at, i % 3 === 0 ? `keep${i}` : `drop${i}`)
    if (i % 3 === 0) kept.push(at)
  }
  q.retain((_at, key) => key.startsWith('keep'))
  assert.is(q.size, kept.length)
  const out = drain(q)
  assert.ok(out.every(([, key]) => key.startsWith('keep')))
  assert.equal(out.map(([at]) => at), kept.sort((a, b) => a - b))
})

test('clear empties the queue', () => {
  const q = new ExpiryQueue()
  q.push(5, 'a')
  q.push(3, 'b')
  q.clear()
  assert.is(q.size, 0)
  assert.is(q.next, Infinity)
})

test.run()
