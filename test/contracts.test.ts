/**
 * The plug-in contracts (lib/tiers/tier.ts, lib/sources/source.ts,
 * lib/observe/exporter.ts): MeshCache satisfies the views they take of it,
 * their no-op implementations do nothing, and a minimal source and exporter
 * work against real caches on the memory network.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ErrorCode, createMeshCache, type ChangeSink, type Exporter, type MeshCache, type ObservedCache, type Source } from '../lib/index.ts'
import { noExporter } from '../lib/observe/exporter.ts'
import { noSource } from '../lib/sources/source.ts'
import { NO_STATE, noTier } from '../lib/tiers/tier.ts'
import { createMemoryNetwork } from '../lib/testing/index.ts'
import { rejectsCode } from './helpers/assert-code.ts'

async function pair () {
  const net = createMemoryNetwork({ seed: 3 })
  const mk = (name: string) => createMeshCache<string>({ namespace: 'c', nodeId: name, transport: net.transport(name), syncInterval: 0 })
  return { net, a: await mk('a'), b: await mk('b') }
}

test('the no-op tier misses and drops, the no-op source and exporter do nothing', async () => {
  assert.is(await noTier.read('k'), undefined)
  noTier.fill('k', 'v', 1000, 1, 0, undefined, NO_STATE)
  noTier.write('k', undefined, 1000, 1, 'w', undefined, NO_STATE)
  assert.is(await noTier.read('k'), undefined)
  assert.equal(noTier.stats(), {})
  await noTier.close()
  let calls = 0
  const sink: ChangeSink = { invalidate: () => calls++, invalidateTag: () => calls++, clear: () => calls++ }
  await noSource.start(sink)
  await noSource.close()
  assert.is(calls, 0)
  const { a, b } = await pair()
  const detach = noExporter.attach(a)
  a.set('k', 'v')
  detach()
  assert.is(a.listenerCount('change'), 0)
  await a.close()
  await b.close()
})

test('an exporter sees stats and change events through the read-only view, and detaching removes its listeners', async () => {
  const { net, a, b } = await pair()
  const seen: string[] = []
  const exporter: Exporter = {
    name: 'test',
    attach (cache: ObservedCache) {
      const onChange = (e: { key: string, source: string }) => { seen.push(`${e.key}:${e.source}:${cache.stats().remoteUpdates}`) }
      cache.on('change', onChange)
      return () => { cache.off('change', onChange) }
    },
  }
  const detach = exporter.attach(b)
  a.set('x', '1')
  await net.flush()
  assert.equal(seen, ['x:remote:1'])
  detach()
  assert.is(b.listenerCount('change'), 0)
  a.set('x', '2')
  await net.flush()
  assert.is(seen.length, 1, 'no event after detaching')
  await a.close()
  await b.close()
})

test('a source turns external changes into invalidations through its sink, across the mesh', async () => {
  const { net, a, b } = await pair()
  a.set('user:1', 'old', { tags: ['users'] })
  a.set('user:2', 'old')
  await net.flush()
  assert.is(a.get('user:1'), 'old')
  assert.is(a.get('user:2'), 'old')
  // A feed of row changes (here a plain array) mapped to keys and tags.
  const rows = [{ table: 'users', id: 2 }, { table: '*', id: 0 }]
  let stop = false
  const source: Source = {
    name: 'rows',
    async start (sink) {
      for (const row of rows) {
        if (stop) return
        if (row.table === '*') sink.invalidateTag('users')
        else sink.invalidate(`user:${row.id}`)
      }
    },
    async close () { stop = true },
  }
  const sink = (cache: MeshCache<string>): ChangeSink => ({
    invalidate: (key) => cache.invalidate(key),
    invalidateTag: (tag) => cache.invalidateTag(tag),
    clear: () => { throw new Error('not used here') },
  })
  await source.start(sink(b))
  await source.close()
  await net.flush()
  assert.is(a.get('user:2'), undefined, 'invalidated by key on the other instance')
  assert.is(a.get('user:1'), undefined, 'invalidated by tag on the other instance')
  await a.close()
  await b.close()
})

test('an l2 object with some of a tier\'s methods must have them all: refused at createMeshCache, naming what it lacks', async () => {
  const net = createMemoryNetwork()
  const { fill: _fill, ...withoutFill } = noTier
  await rejectsCode(createMeshCache({ namespace: 'n', transport: net.transport('a'), l2: withoutFill as never }), ErrorCode.INVALID_OPTION,
    /^option `l2` is a tier without fill\(\): a tier has a name and attach\(\), read\(\), fill\(\), write\(\), stats\(\), close\(\) \(the Tier contract\)$/)
  const { name: _name, ...nameless } = noTier
  await rejectsCode(createMeshCache({ namespace: 'n', transport: net.transport('b'), l2: nameless as never }), ErrorCode.INVALID_OPTION, /is a tier without a name:/)
  // A whole tier is taken as it is.
  const cache = await createMeshCache({ namespace: 'n', transport: net.transport('c'), l2: { ...noTier } })
  assert.is(cache.tier?.name, 'none')
  await cache.close()
})

test.run()
