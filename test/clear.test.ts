/**
 * cache.clear(): one replicated, mergeable operation (SPEC §4.1). Every
 * instance drops the keys written before the clear, including after a
 * partition heals; keys written after it stay; a load in flight across a
 * clear is returned but not cached.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ErrorCode, type MeshCache } from '../lib/index.ts'
import { cluster } from './helpers/cluster.ts'
import { Store } from '../lib/core/store.ts'
import { valuesBefore } from '../lib/core/clear.ts'
import { HLC_LOGICAL_RANGE } from '../lib/core/clock.ts'
import { RecordKind } from '../protocol/constants.ts'

for (const mode of ['invalidate', 'replicate'] as const) {
  test(`${mode}: clear drops every key on every instance, not just here`, async () => {
    const c = await cluster<string>(3, { mode })
    const [a, b, x] = c.nodes as [MeshCache<string>, MeshCache<string>, MeshCache<string>]
    a.set('k1', 'v1')
    a.set('k2', 'v2')
    await c.net.flush()
    b.set('k1', 'b-local-copy', { local: true })
    if (mode === 'invalidate') x.set('k3', 'x3') // every instance holds something of its own
    await c.net.flush()
    b.clear()
    await c.net.flush()
    for (const n of c.nodes) {
      assert.is(n.size, n === b ? 1 : 0, `${n.origin} holds nothing replicated after the clear`)
      assert.is(n.get('k2'), undefined)
    }
    assert.is(b.get('k1'), 'b-local-copy', 'a local-only value is outside the mesh: a clear does not touch it')
    b.set('after', 'kept')
    await c.net.flush()
    if (mode === 'replicate') assert.is(a.get('after'), 'kept', 'a write after the clear stays')
    else assert.is(a.inspect('after')?.kind, 'set', 'a write after the clear stays')
    assert.equal(a.metadata(), x.metadata(), 'replicas agree')
    await c.close()
  })
}

test('after a heal, a clear on one side removes the other side\'s keys written before it and keeps those written after', async () => {
  const c = await cluster<string>(2, { mode: 'replicate' })
  const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
  const [na, nb] = c.names as [string, string]
  await c.net.flush()
  c.net.partition([na], [nb])
  b.set('before', 'b-old')        // on b's side, before the clear (HLC order)
  c.clock.advance(10)
  a.clear()
  c.clock.advance(10)
  b.set('after', 'b-new')         // on b's side, after the clear
  a.set('mine', 'a-after')
  await c.net.flush()
  assert.is(b.get('before'), 'b-old', 'partitioned: b has not heard of the clear')
  c.net.heal()
  a.sync()
  b.sync()
  await c.net.flush()
  for (const n of [a, b]) {
    assert.is(n.get('before'), undefined, `${n.origin}: written before the clear, gone`)
    assert.is(n.get('after'), 'b-new', `${n.origin}: written after the clear, kept`)
    assert.is(n.get('mine'), 'a-after')
  }
  assert.equal(a.metadata(), b.metadata(), 'the replicas converge')
  await c.close()
})

test('a late record of a write older than the clear does not bring its value back', async () => {
  const c = await cluster<string>(2, { mode: 'replicate' })
  const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
  const [na, nb] = c.names as [string, string]
  await c.net.flush()
  c.net.partition([na], [nb])
  b.set('k', 'old')
  c.clock.advance(5)
  a.clear()
  await c.net.flush() // both frames lost in the partition
  c.net.heal()
  a.sync() // a learns b's older write after its own clear
  await c.net.flush()
  assert.is(a.get('k'), undefined, 'a keeps it out')
  await c.close()
})

test('a load in flight across a clear is returned to its caller but not cached', async () => {
  const c = await cluster<string>(2)
  const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
  let release!: (v: string) => void
  const loading = a.getOrLoad('k', () => new Promise<string>((resolve) => { release = resolve }))
  b.clear()
  await c.net.flush()
  release('loaded-before-clear')
  assert.is(await loading, 'loaded-before-clear')
  assert.is(a.get('k'), undefined, 'not cached')
  assert.ok(a.stats().loadsDiscarded >= 1)
  await c.close()
})

test('a clear drops every loaded value, even one hanging on a state newer than the clear; a newer write\'s value stays', () => {
  const store = new Store<string>({ max: 100, now: () => 1_700_000_000_000, exactClock: true, onEvict: () => {} })
  const clearAt = 1_700_000_000_000 * HLC_LOGICAL_RANGE
  const later = clearAt + 1000 * HLC_LOGICAL_RANGE
  // A delete made after the clear (a concurrent one, or one seen first here), then a load hanging on it.
  const deleted = store.writeState('loaded-on-newer', RecordKind.DELETE, later, 'w', ['w', 1], 60_000)
  store.markDead(deleted)
  store.setLoaded('loaded-on-newer', 'from the database', 1_700_000_060_000, deleted)
  store.setLoaded('loaded', 'from the database', 1_700_000_060_000, store.addState('loaded', RecordKind.SET, 0, '', [], 0))
  store.setWritten('written-after', 'v', store.writeState('written-after', RecordKind.SET, later, 'w', ['w', 2], 60_000))
  store.setWritten('written-before', 'v', store.writeState('written-before', RecordKind.SET, clearAt - 1, 'w', ['w', 3], 60_000))
  const dropped: string[] = []
  valuesBefore(store, clearAt, (key) => { dropped.push(key) })
  assert.equal(dropped.sort(), ['loaded', 'loaded-on-newer', 'written-before'])
  store.close()
})

test('clear after close fails with E_CLOSED', async () => {
  const c = await cluster<string>(1)
  const [a] = c.nodes as [MeshCache<string>]
  await a.close()
  try {
    a.clear()
    assert.unreachable()
  } catch (e) {
    assert.is((e as { code?: string }).code, ErrorCode.CLOSED)
  }
})

test.run()
