/**
 * Expiry without a per-read check (lib/core/store.ts): deadlines that move later
 * or earlier, local-only and loaded values, the bound on stale queue hints,
 * and the real-clock path, where a timer drops a value with no read at all.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMeshCache, type EvictEvent, type MeshCache } from '../lib/index.ts'
import { Store } from '../lib/core/store.ts'
import { RecordKind } from '../protocol/index.ts'
import { HLC_LOGICAL_RANGE } from '../lib/core/clock.ts'
import { createTestClock } from '../lib/testing/index.ts'
import { captureTransport } from './helpers/capture-transport.ts'
import { cluster } from './helpers/cluster.ts'

function evictions (c: MeshCache<string>): EvictEvent[] {
  const seen: EvictEvent[] = []
  c.on('evict', (e: EvictEvent) => seen.push(e))
  return seen
}

test('a write that moves the deadline later keeps the value until the new deadline', async () => {
  const c = await cluster<string>(1, { ttl: 1000 })
  const [a] = c.nodes as [MeshCache<string>]
  const seen = evictions(a)
  a.set('k', 'v1')
  c.clock.advance(600)
  a.set('k', 'v2') // now due at 1600
  c.clock.advance(500) // 1100: past the first deadline
  assert.is(a.get('k'), 'v2')
  c.clock.advance(499)
  assert.is(a.get('k'), 'v2')
  c.clock.advance(2)
  assert.is(a.get('k'), undefined)
  assert.equal(seen, [{ key: 'k', reason: 'ttl' }])
  await c.close()
})

test('a local-only value set again keeps living until its new deadline', async () => {
  const c = await cluster<string>(1, { ttl: 1000 })
  const [a] = c.nodes as [MeshCache<string>]
  a.set('k', 'v1', { local: true })
  c.clock.advance(600)
  a.set('k', 'v2', { local: true })
  c.clock.advance(500)
  assert.is(a.get('k'), 'v2')
  c.clock.advance(501)
  assert.is(a.get('k'), undefined)
  await c.close()
})

test('a remote write applied over a held value moves its deadline later', async () => {
  const c = await cluster<string>(2, { mode: 'replicate', ttl: 1000 })
  const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
  a.set('k', 'v1')
  await c.net.flush()
  c.clock.advance(600)
  a.set('k', 'v2')
  await c.net.flush()
  c.clock.advance(500)
  assert.is(b.get('k'), 'v2')
  c.clock.advance(501)
  assert.is(b.get('k'), undefined)
  await c.close()
})

test('a write that moves the deadline earlier expires at the earlier one', async () => {
  const c = await cluster<string>(1, { ttl: 1000, maxTtl: 10_000 })
  const [a] = c.nodes as [MeshCache<string>]
  a.set('k', 'long', { ttl: 10_000 })
  a.set('k', 'short', { ttl: 100 })
  c.clock.advance(99)
  assert.is(a.get('k'), 'short')
  c.clock.advance(2)
  assert.is(a.get('k'), undefined)
  await c.close()
})

test('local-only and loaded values expire at their own deadlines', async () => {
  const c = await cluster<string>(1, { ttl: 1000, maxTtl: 10_000 })
  const [a] = c.nodes as [MeshCache<string>]
  a.set('local', 'x', { local: true, ttl: 300 })
  assert.is(await a.getOrLoad('loaded', () => 'y', { ttl: 500 }), 'y')
  a.set('written', 'z', { ttl: 5000 })
  assert.is(await a.getOrLoad('written', () => 'never'), 'z')
  c.clock.advance(301)
  assert.is(a.get('local'), undefined)
  assert.is(a.get('loaded'), 'y')
  c.clock.advance(200)
  assert.is(a.get('loaded'), undefined)
  assert.is(a.get('written'), 'z')
  // A loaded value on a key with an older write lives by the load's ttl, not the write's.
  a.delete('written')
  assert.is(await a.getOrLoad('written', () => 'reloaded', { ttl: 100 }), 'reloaded')
  c.clock.advance(101)
  assert.is(a.get('written'), undefined)
  await c.close()
})

test('a remote write over a loaded value lives by the write, not the load', async () => {
  const c = await cluster<string>(2, { mode: 'replicate', ttl: 1000 })
  const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
  assert.is(await b.getOrLoad('k', () => 'loaded', { ttl: 100 }), 'loaded')
  a.set('k', 'written')
  await c.net.flush()
  assert.is(b.get('k'), 'written')
  c.clock.advance(101) // past the load's deadline
  assert.is(b.get('k'), 'written')
  c.clock.advance(900)
  assert.is(b.get('k'), undefined)
  await c.close()
})

test('dropping and rewriting hot keys keeps the queue within twice the held values', () => {
  const clock = createTestClock()
  const store = new Store<string>({ max: 10_000, now: clock.now, exactClock: true, onEvict: () => {} })
  let hlc = clock.now() * HLC_LOGICAL_RANGE
  let maxQueued = 0
  for (let round = 0; round < 200; round++) {
    for (let k = 0; k < 50; k++) {
      const key = `hot${k}`
      const slot = store.writeState(key, RecordKind.SET, ++hlc, 'w', ['w', round + 1], 3_600_000)
      store.setWritten(key, 'v', slot)
      store.dropValue(key, 'remote')
      maxQueued = Math.max(maxQueued, store.queuedDeadlines)
    }
  }
  assert.is(store.lru.size, 0)
  assert.ok(maxQueued <= 2 * 50 + 1024 + 1, `queue reached ${maxQueued} items for 50 keys`)
  store.close()
})

/** A store on a test clock that notes every key whose value leaves it. */
function storeOnTestClock (): { clock: ReturnType<typeof createTestClock>, dropped: string[], store: Store<string> } {
  const clock = createTestClock()
  const dropped: string[] = []
  const store = new Store<string>({ max: 10_000, now: clock.now, exactClock: true, onEvict: (key) => { dropped.push(key) } })
  return { clock, dropped, store }
}

test('the queue names values by slot or by lifetime number: each expires at its own deadline whatever became of the other', () => {
  const { clock, dropped, store } = storeOnTestClock()
  const t0 = clock.now()
  // A local-only value over a dead state: the state is collected (its slot freed, then reused by
  // another key's write), and the local value still goes at its own deadline, named by its lifetime.
  const dead = store.writeState('local', RecordKind.DELETE, t0 * HLC_LOGICAL_RANGE, 'w', ['w', 1], 1000)
  store.markDead(dead)
  store.setLocal('local', 'l', t0 + 9000)
  clock.advance(3000)
  store.collect(1000) // a 1 s horizon: the dead state is past it
  assert.is(store.meta.get('local'), undefined, 'the dead state went')
  const reused = store.writeState('written', RecordKind.SET, clock.now() * HLC_LOGICAL_RANGE, 'w', ['w', 2], 1000)
  assert.is(reused, dead, 'its slot is reused')
  store.setWritten('written', 'v', reused)
  // A loaded value dropped early frees its lifetime number; the next loaded value takes it, later.
  store.setLoaded('early', 'e', t0 + 3500, store.addState('early', RecordKind.SET, 0, '', [], 0))
  store.dropValue('early', 'local')
  store.setLoaded('late', 'x', t0 + 12_000, store.addState('late', RecordKind.SET, 0, '', [], 0))
  dropped.length = 0
  clock.advance(1000) // t0 + 4000: the written value's deadline, and past the early one's
  store.expireDue()
  assert.equal(dropped, ['written'])
  assert.is(store.lru.get('late'), 'x', 'the reused lifetime number kept its own, later deadline')
  clock.advance(5000) // t0 + 9000
  store.expireDue()
  assert.equal(dropped, ['written', 'local'])
  clock.advance(3000) // t0 + 12000
  store.expireDue()
  assert.equal(dropped, ['written', 'local', 'late'])
  assert.is(store.lru.size, 0)
  store.close()
})

test('a loaded value keeps its deadline in its state\'s slot: moved by a new load, replaced by a write or a local value, never a written value', () => {
  const { clock, dropped, store } = storeOnTestClock()
  const t0 = clock.now()
  const placeholder = (key: string): number => store.addState(key, RecordKind.SET, 0, '', [], 0)
  // Loaded again with a later deadline, and with an earlier one.
  const later = placeholder('later')
  store.setLoaded('later', 'a', t0 + 1000, later)
  store.setLoaded('later', 'b', t0 + 3000, later)
  const earlier = placeholder('earlier')
  store.setLoaded('earlier', 'a', t0 + 3000, earlier)
  store.setLoaded('earlier', 'b', t0 + 1000, earlier)
  // Loaded, then written by a state of its own (ttl 2 s from t0): lives by the write.
  const written = store.writeState('written', RecordKind.SET, t0 * HLC_LOGICAL_RANGE, 'w', ['w', 1], 2000)
  store.setLoaded('written', 'loaded', t0 + 500, written)
  assert.is(store.writtenValue('written', written), undefined, 'a loaded value is not the state\'s write')
  store.setWritten('written', 'w', written)
  assert.is(store.writtenValue('written', written), 'w')
  // Written, then loaded over the same state with a shorter life: goes at the load's deadline.
  const reloaded = store.writeState('reloaded', RecordKind.SET, t0 * HLC_LOGICAL_RANGE, 'w', ['w', 2], 5000)
  store.setWritten('reloaded', 'w', reloaded)
  store.setLoaded('reloaded', 'loaded', t0 + 1500, reloaded)
  // Loaded, then set local-only: lives by the local value's deadline.
  const local = placeholder('local')
  store.setLoaded('local', 'loaded', t0 + 500, local)
  store.setLocal('local', 'l', t0 + 4000)
  const at = (ms: number): string[] => {
    clock.advance(ms - (clock.now() - t0))
    store.expireDue()
    return [...dropped]
  }
  assert.equal(at(999), [])
  assert.equal(at(1000), ['earlier'])
  assert.equal(at(1500), ['earlier', 'reloaded'])
  assert.equal(at(2000), ['earlier', 'reloaded', 'written'])
  assert.equal(at(3000), ['earlier', 'reloaded', 'written', 'later'])
  assert.equal(at(4000), ['earlier', 'reloaded', 'written', 'later', 'local'])
  assert.is(store.lru.size, 0)
  store.close()
})

test('with the real clock a timer drops the value at its deadline, with no read', async () => {
  const capture = captureTransport()
  const a = await createMeshCache<string>({ namespace: 'expiry', ttl: 40, maxTtl: 1000, transport: capture.transport })
  try {
    const evicted = new Promise<EvictEvent>((resolve) => a.once('evict', resolve))
    const t0 = Date.now()
    a.set('k', 'v')
    a.set('later', 'w', { ttl: 1000 })
    const e = await Promise.race([evicted, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 2000))])
    assert.equal(e, { key: 'k', reason: 'ttl' }, 'the timer fired without any read')
    assert.ok(Date.now() - t0 >= 40, 'not before the deadline')
    assert.is(a.stats().liveKeys, 1, 'the later key is still held')
    assert.is(a.get('later'), 'w')
  } finally {
    await a.close()
  }
})

test('with the real clock a value written again is not dropped at its old deadline', async () => {
  const capture = captureTransport()
  const ttl = 60
  const a = await createMeshCache<string>({ namespace: 'expiry', ttl, transport: capture.transport })
  try {
    const evictedAt: number[] = []
    a.on('evict', () => evictedAt.push(Date.now()))
    const first = Date.now()
    a.set('k', 'v1')
    await new Promise((resolve) => setTimeout(resolve, 30))
    const second = Date.now()
    a.set('k', 'v2')
    // Past the first deadline; timers may run late under load, so the check is on times, not on a fixed sleep.
    while (Date.now() <= first + ttl + 20) await new Promise((resolve) => setTimeout(resolve, 5))
    assert.ok(evictedAt.every((t) => t >= second + ttl), `evicted at +${evictedAt.map((t) => t - first).join(', ')} ms, before the second deadline (+${second + ttl - first})`)
    if (Date.now() < second + ttl) assert.is(a.get('k'), 'v2')
  } finally {
    await a.close()
  }
})

test.run()
