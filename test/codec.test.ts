/**
 * Values come back as they went in (replicate mode), or `set` refuses them
 * with E_VALUE_CODEC: for each codec, what it carries faithfully and what it
 * refuses; and the writer keeps the caller's reference.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ErrorCode, MeshCacheError, type MeshCache } from '../lib/index.ts'
import { cluster } from './helpers/cluster.ts'
import { throwsCode } from './helpers/assert-code.ts'

class Point { x = 1 }

function rich (): Record<string, unknown> {
  const cyclic: Record<string, unknown> = { name: 'loop' }
  cyclic.self = cyclic
  return {
    date: new Date(1_700_000_000_000),
    map: new Map<unknown, unknown>([['a', 1], [2, new Set(['x'])]]),
    set: new Set([1, 'two']),
    bytes: new Uint8Array([1, 2, 3]),
    floats: new Float64Array([1.5, -2]),
    big: 2n ** 70n,
    nested: { deep: [{ at: new Date(5) }] },
    cyclic,
  }
}

for (const codec of ['msgpack', 'v8', undefined] as const) {
  test(`codec ${codec ?? 'default (msgpack)'}: Date, Map, Set, typed arrays, BigInt, nested and cyclic values round-trip`, async () => {
    const c = await cluster<any>(2, { mode: 'replicate', ...(codec !== undefined ? { codec } : {}) })
    const [a, b] = c.nodes as [MeshCache<any>, MeshCache<any>]
    a.set('k', rich())
    await c.net.flush()
    const got = b.get('k')
    assert.ok(got !== undefined, 'replicated')
    assert.instance(got.date, Date)
    assert.is(got.date.getTime(), 1_700_000_000_000)
    assert.instance(got.map, Map)
    assert.instance(got.map.get(2), Set)
    assert.ok(got.map.get(2).has('x'))
    assert.instance(got.set, Set)
    assert.equal([...got.set], [1, 'two'])
    assert.instance(got.bytes, Uint8Array)
    assert.equal([...got.bytes], [1, 2, 3])
    assert.instance(got.floats, Float64Array)
    assert.is(got.big, 2n ** 70n)
    assert.instance(got.nested.deep[0].at, Date)
    assert.is(got.cyclic.self, got.cyclic, 'the cycle is rebuilt')
    await c.close()
  })

  test(`codec ${codec ?? 'default (msgpack)'}: a class instance (it would come back a plain object) is refused with E_VALUE_CODEC and changes nothing`, async () => {
    const c = await cluster<any>(2, { mode: 'replicate', ...(codec !== undefined ? { codec } : {}) })
    const [a, b] = c.nodes as [MeshCache<any>, MeshCache<any>]
    throwsCode(() => a.set('k', new Point()), ErrorCode.VALUE_CODEC, /instance of Point/)
    throwsCode(() => a.set('k', { inner: [new Point()] }), ErrorCode.VALUE_CODEC, /the value\.inner\.0 is an instance of Point/)
    throwsCode(() => a.set('k', { f: () => 1 }), ErrorCode.VALUE_CODEC, /function/)
    assert.is(a.get('k'), undefined)
    assert.is(a.stats().localUpdates, 0, 'nothing was written')
    await c.net.flush()
    assert.is(b.get('k'), undefined)
    await c.close()
  })
}

test("codec 'json': what JSON would silently change is refused at set", async () => {
  const c = await cluster<any>(1, { mode: 'replicate', codec: 'json' })
  const [a] = c.nodes as [MeshCache<any>]
  throwsCode(() => a.set('k', new Date()), ErrorCode.VALUE_CODEC, /a Date, which JSON does not bring back/)
  throwsCode(() => a.set('k', { m: new Map() }), ErrorCode.VALUE_CODEC, /the value\.m is a Map/)
  throwsCode(() => a.set('k', [new Set()]), ErrorCode.VALUE_CODEC, /Set/)
  throwsCode(() => a.set('k', { b: new Uint8Array(2) }), ErrorCode.VALUE_CODEC, /Uint8Array/)
  throwsCode(() => a.set('k', new Point()), ErrorCode.VALUE_CODEC, /Point/)
  throwsCode(() => a.set('k', { u: undefined }), ErrorCode.VALUE_CODEC, /undefined, which JSON drops/)
  throwsCode(() => a.set('k', [1, Number.NaN]), ErrorCode.VALUE_CODEC, /NaN/)
  throwsCode(() => a.set('k', 1n), ErrorCode.VALUE_CODEC, /bigint/)
  const cyc: Record<string, unknown> = {}
  cyc.self = cyc
  throwsCode(() => a.set('k', cyc), ErrorCode.VALUE_CODEC, /refers back/)
  const shared = { s: 1 }
  a.set('ok', { one: shared, two: shared }) // shared, not cyclic: JSON writes it twice, equal
  assert.is(a.stats().localUpdates, 1)
  await c.close()
})

test('the writer keeps the caller\'s reference: mutating it after set changes the writer\'s copy only', async () => {
  const c = await cluster<any>(2, { mode: 'replicate' })
  const [a, b] = c.nodes as [MeshCache<any>, MeshCache<any>]
  const held = { n: 1 }
  a.set('k', held)
  await c.net.flush()
  held.n = 2
  assert.is(a.get('k'), held, 'the same object, as lru-cache keeps it')
  assert.is(a.get('k').n, 2)
  assert.is(b.get('k').n, 1, 'the peers got the value as it was at set')
  await c.close()
})

test('an unknown codec name is refused with the names it could be', async () => {
  try {
    await cluster<any>(1, { mode: 'replicate', codec: 'cbor' as never })
    assert.unreachable()
  } catch (e) {
    assert.is((e as MeshCacheError).code, ErrorCode.INVALID_OPTION)
    assert.match((e as Error).message, /'v8', 'msgpack', 'json'/)
  }
})

test.run()
