/** stats().propagation: the write→apply lag histogram, unit and through the cache. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { MeshCache } from '../lib/index.ts'
import { LagHistogram } from '../lib/observe/lag-histogram.ts'
import { cluster } from './helpers/cluster.ts'

test('an empty histogram reports zeros', () => {
  const s = new LagHistogram().snapshot()
  assert.is(s.count, 0)
  assert.is(s.p50Ms, 0)
  assert.is(s.p99Ms, 0)
  assert.is(s.maxMs, 0)
  assert.ok(s.buckets.every(([, n]) => n === 0))
})

test('lags land in the 100 µs…10 s buckets; quantiles are bucket bounds capped at the max', () => {
  const h = new LagHistogram()
  for (let i = 0; i < 98; i++) h.record(1000, 1003) // 3 ms → bucket "≤ 5"
  h.record(1000, 1100) // 100 ms → "≤ 100"
  h.record(1000, 1000 + 5000) // 5 s → "≤ 5000"
  const s = h.snapshot()
  assert.is(s.count, 100)
  assert.is(s.p50Ms, 5)
  assert.is(s.p99Ms, 100)
  assert.is(s.maxMs, 5000)
  assert.is(s.sumMs, 98 * 3 + 100 + 5000)
  const at = (le: number) => s.buckets.find(([b]) => b === le)?.[1]
  assert.is(s.buckets[0]?.[0], 0.1, 'the first bound is 100 µs')
  assert.is(s.buckets[s.buckets.length - 1]?.[0], 10_000, 'the last bound is 10 s')
  assert.is(at(2.5), 0)
  assert.is(at(5), 98)
  assert.is(at(100), 99)
  assert.is(at(5000), 100)
  assert.is(s.buckets[s.buckets.length - 1]?.[1], 100, 'buckets are cumulative')
  assert.ok(s.buckets.every(([le]) => Number.isFinite(le)), 'no Infinity bound: the +Inf bucket is count')
})

test('a writer clock ahead of ours reads as 0; a huge lag lands in the last bucket', () => {
  const h = new LagHistogram()
  h.record(2000, 1000)
  h.record(0, 2 ** 40)
  const s = h.snapshot()
  assert.is(s.buckets[0]?.[1], 1)
  assert.is(s.buckets[s.buckets.length - 1]?.[1], 1, 'the huge lag is beyond the last finite bound')
  assert.is(s.count, 2, 'and counted in count, the +Inf bucket')
  assert.is(s.maxMs, 2 ** 40)
})

test('stats are JSON-safe: stringify and parse give them back unchanged', async () => {
  const h = new LagHistogram()
  h.record(0, 2 ** 40)
  h.record(1000, 1003)
  const s = h.snapshot()
  assert.equal(JSON.parse(JSON.stringify(s)), s)
  const c = await cluster<string>(2)
  const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
  a.set('k', 'v')
  await c.net.flush()
  const stats = b.stats()
  assert.equal(JSON.parse(JSON.stringify(stats)), stats)
  await c.close()
})

test('the cache measures remote updates from the write to their arrival, not duplicates or repairs', async () => {
  const c = await cluster<string>(2)
  const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
  await c.net.flush() // the joins' first anti-entropy rounds
  a.set('k1', 'v')
  c.clock.advance(250) // the frame takes 250 ms to arrive
  await c.net.flush()
  let p = b.stats().propagation
  assert.is(p.count, 1)
  assert.is(p.maxMs, 250)
  assert.is(p.p50Ms, 250, 'the bucket bound, which is also the max')
  assert.is(a.stats().propagation.count, 0, 'local writes are not propagation')
  // A write lost on the way and repaired by anti-entropy is counted as a repair, not here.
  c.net.partition(['n0'], ['n1'])
  a.set('k2', 'v')
  await c.net.flush()
  c.net.heal()
  await c.net.flush()
  assert.is(b.inspect('k2')?.kind, 'set', 'repaired')
  p = b.stats().propagation
  assert.is(p.count, 1)
  assert.ok(b.stats().repairs >= 1)
  await c.close()
})

test.run()
