/**
 * Listeners may use the cache: 'evict' fires once the value has left and
 * 'change' once the new state is in place (found in review: 'evict' fired
 * from inside lru-cache's dispose, where a read still served the value being
 * evicted and a write was deleted under the listener).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMeshCache, type ChangeEvent, type EvictEvent } from '../lib/index.ts'
import { encodeFrame, MessageType, RecordKind } from '../protocol/index.ts'
import { captureTransport } from './helpers/capture-transport.ts'
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

// Found in review: a change cascaded to dependents before the base's new
// state was stored, so their listeners saw (and could write over) the old one.
test('a dependent\'s evict listener reads its base\'s new value, locally and remotely', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2, { mode: 'replicate' })
  await net.flush()
  const seen: string[] = []
  a!.set('user', 'v1')
  await net.flush()
  for (const [name, c] of [['a', a!], ['b', b!]] as const) {
    c.set('dash', `dash of ${c.get('user')}`, { dependsOn: ['user'], local: true })
    c.on('evict', (e: EvictEvent) => { if (e.key === 'dash') seen.push(`${name} ${e.reason} ${String(c.get('user'))}`) })
  }
  a!.set('user', 'v2') // a: local cascade; b: remote
  await net.flush()
  assert.equal(seen, ['a local v2', 'b remote v2'])
  await close()
})

test('a dependent\'s evict listener that deletes or writes its base leaves every node in one consistent state', async () => {
  for (const act of ['delete', 'set'] as const) {
    const { nodes: [a, b], net, clock, close } = await cluster<string>(2)
    await net.flush()
    let armed = true
    a!.on('evict', (e: EvictEvent) => {
      if (e.key !== 'dash' || !armed) return
      armed = false
      if (act === 'delete') a!.delete('user')
      else a!.set('user', 'from the listener')
    })
    a!.set('user', 'v1')
    a!.set('dash', 'd', { dependsOn: ['user'], local: true })
    a!.set('user', 'v2') // cascades to dash, whose listener writes user again
    await net.flush()
    a!.sync()
    b!.sync()
    await net.flush()
    const expected = act === 'delete' ? undefined : 'from the listener'
    assert.is(a!.get('user'), expected, `${act}: the listener's write is the last one here`)
    assert.equal(a!.inspect('user')?.vv, b!.inspect('user')?.vv, `${act}: and everywhere`)
    for (const c of [a!, b!]) assert.is(c.stats().tombstones, c.metadata().filter(([, v]) => !v.hasValue).length, `${act}: GC queue consistent`)
    clock.advance(200_000)
    assert.is(a!.get('user'), undefined, `${act}: nothing outlives its ttl`)
    await close()
  }
})

test('a change listener that writes mid-frame does not let a forged record through', async () => {
  const cap = captureTransport()
  const a = await createMeshCache<string>({ namespace: 'n', nodeId: 'a', mode: 'replicate', codec: 'json', transport: cap.transport, syncInterval: 0 })
  const errors: Error[] = []
  a.on('frameError', (e: { error: Error }) => errors.push(e.error))
  a.on('change', (e: ChangeEvent) => { if (e.key === 'first') a.set('mine', 'x') }) // our count goes 0 → 1 mid-frame
  const x = 'x~1'
  const hlc = Date.now() * 1000
  const json = (v: string): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
  cap.deliver('peer', encodeFrame({
    type: MessageType.UPDATES,
    origin: x,
    firstSeq: 2, // number 1 is missing: a gap
    records: [
      { key: 'first', kind: RecordKind.SET, hlc, writer: x, vv: [x, 2], ttl: 60_000, value: json('ok') },
      { key: 'forged', kind: RecordKind.SET, hlc: hlc + 1, writer: x, vv: [a.origin, 1, x, 3], ttl: 60_000, value: json('forged') },
    ],
  }))
  assert.is(errors.length, 1)
  assert.match(errors[0]!.message, /credits our origin .* with 1, above the 0 we issued/)
  assert.is(a.inspect('forged'), undefined, 'refused')
  assert.is(a.stats().gapsDetected, 1, 'and the frame\'s gap still seen')
  await a.close()
})

test.run()
