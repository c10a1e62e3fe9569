/**
 * Finding 8 of issue 16: what a closed cache does (SPEC §9, the same rule
 * issue 17 documents). Reads keep working on what is held, with TTL honoured
 * exactly (once the expiry timer stops, reads check deadlines themselves);
 * writes and a getOrLoad that would load throw E_CLOSED.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMeshCache, ErrorCode, type MeshCache, type MeshCacheError } from '../lib/index.ts'
import { createMemoryNetwork } from '../lib/testing/index.ts'

/**
 * Real time, on purpose: the bug lived in the timer-driven expiry that runs
 * only without an injected clock. This waits for the wall clock to pass a
 * deadline (a condition, not a fixed sleep) without letting timers run.
 */
function spinUntil (deadline: number): void {
  while (Date.now() <= deadline) { /* busy: timers must not run */ }
}

async function closedWithValue (ttl: number): Promise<{ cache: MeshCache<string>, deadline: number }> {
  const net = createMemoryNetwork()
  const cache = await createMeshCache<string>({ namespace: 'c', transport: net.transport('a'), mode: 'replicate' })
  cache.set('k', 'v', { ttl })
  await cache.getOrLoad('loaded', async () => 'l', { ttl })
  // Read after both writes: each expires within ttl of its own write, so this bounds both deadlines from
  // above. (Read before the set, it did not: a first set that took a few ms on a loaded host left the
  // value fresh past the supposed deadline.)
  const written = Date.now()
  await cache.close()
  return { cache, deadline: written + ttl + 1 }
}

test('a closed cache serves what it holds until the deadline, and not one read after', async () => {
  const { cache, deadline } = await closedWithValue(30)
  assert.is(cache.get('k'), 'v', 'still held, still fresh')
  spinUntil(deadline + 5)
  assert.is(cache.get('k'), undefined, 'get: past its ttl')
  assert.is(cache.peek('loaded'), undefined, 'peek: past its ttl')
  assert.is(cache.has('k'), false)
  assert.is(cache.size, 0)
  assert.equal([...cache.keys()], [])
})

test('a closed cache: a getOrLoad of an expired value is a miss, and a miss throws E_CLOSED', async () => {
  const { cache, deadline } = await closedWithValue(30)
  spinUntil(deadline + 5)
  let called = false
  try {
    await cache.getOrLoad('k', async () => { called = true; return 'new' })
    assert.unreachable('served')
  } catch (error) {
    assert.is((error as MeshCacheError).code, ErrorCode.CLOSED)
  }
  assert.not.ok(called, 'no loader runs on a closed cache')
})

test('a closed cache: getOrLoad (hit or miss) and sync throw E_CLOSED (SPEC §9)', async () => {
  const { cache } = await closedWithValue(60_000)
  for (const call of [() => cache.getOrLoad('k', async () => 'x'), () => cache.getOrLoad('none', async () => 'x'), async () => { cache.sync() }]) {
    try {
      await call()
      assert.unreachable('accepted')
    } catch (error) {
      assert.is((error as MeshCacheError).code, ErrorCode.CLOSED)
    }
  }
  assert.is(cache.get('k'), 'v', 'a read still serves it')
})

test('a closed cache refuses every write with E_CLOSED', async () => {
  const { cache } = await closedWithValue(60_000)
  for (const write of [() => cache.set('k', 'w'), () => cache.set('j', 'w', { local: true }), () => cache.delete('k'), () => cache.invalidate('k'), () => cache.invalidateTag('t')]) {
    try {
      write()
      assert.unreachable('accepted a write')
    } catch (error) {
      assert.is((error as MeshCacheError).code, ErrorCode.CLOSED)
    }
  }
  assert.is(cache.get('k'), 'v', 'nothing changed')
})

test.run()
