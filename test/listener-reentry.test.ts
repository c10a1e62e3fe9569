/**
 * Listeners may use the cache: 'evict' fires once the value has left and
 * 'change' once the new state is in place (found in review: 'evict' fired
 * from inside lru-cache's dispose, where a read still served the value being
 * evicted and a write was deleted under the listener).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { ChangeEvent, EvictEvent } from '../lib/index.ts'
import { cluster } from './helpers/cluster.ts'

test('an evict listener that re-reads the key through getOrLoad loads it afresh', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2)
  const db = { row: 'old' }
  let reread: Promise<string> | undefined
  b!.on('evict', (e: EvictEvent) => { if (e.key === 'user:1') reread = b!.getOrLoad('user:1', () => db.row) })
  await b!.getOrLoad('user:1', () => db.row)
  db.row = 'new'
  a!.invalidate('user:1')
  await net.flush()
  assert.is(await reread, 'new', 'the listener was not served the invalidated value')
  assert.is(b!.stats().loads, 2)
  await close()
})

for (const reason of ['ttl', 'capacity'] as const) {
  test(`an evict listener that writes the key back (${reason}) keeps its write`, async () => {
    const { nodes: [c], clock, close } = await cluster<string>(1, { max: 2 })
    c!.on('evict', (e: EvictEvent) => { if (e.key === 'k' && e.reason === reason) c!.set('k', 'fresh') })
    c!.set('k', 'v1', { ttl: 1000 })
    c!.set('z', 'z')
    if (reason === 'ttl') clock.advance(1001)
    else c!.set('y', 'y') // evicts k, the oldest
    assert.is(c!.get('k'), 'fresh')
    assert.is(c!.inspect('k')?.hasValue, true)
    assert.is(c!.stats().tombstones, c!.metadata().filter(([, v]) => !v.hasValue).length, "the store's GC queue is consistent")
    await close()
  })
}

test('a change listener reads the new state: local and remote writes, deletes and invalidations', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2, { mode: 'replicate' })
  await net.flush() // the initial anti-entropy is over: writes now arrive as updates
  const seen: string[] = []
  for (const c of [a!, b!]) c.on('change', (e: ChangeEvent) => { seen.push(`${c === a ? 'a' : 'b'} ${e.source} ${e.kind} ${String(c.get(e.key))}`) })
  a!.set('k', 'v1')
  await net.flush()
  a!.invalidate('k')
  await net.flush()
  b!.set('k', 'v2')
  await net.flush()
  b!.delete('k')
  await net.flush()
  assert.equal(seen, [
    'a local set v1', 'b remote set v1',
    'a local invalidate undefined', 'b remote invalidate undefined',
    'b local set v2', 'a remote set v2',
    'b local delete undefined', 'a remote delete undefined',
  ])
  await close()
})

test.run()
