/**
 * Findings 5 and 6 of issue 16: a delete is about the data, not about where
 * the value was held, and a change to a base held local-only still reaches
 * the values derived from it.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cluster } from './helpers/cluster.ts'

function deferred<T> (): { promise: Promise<T>, resolve: (v: T) => void } {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((res) => { resolve = res })
  return { promise, resolve }
}

for (const mode of ['invalidate', 'replicate'] as const) {
  for (const op of ['delete', 'invalidate'] as const) {
    test(`${mode}: ${op} of a key held local-only here reaches every peer (finding 5)`, async () => {
      const { nodes: [a, b], net, close } = await cluster<string>(2, { mode })
      await b!.getOrLoad('row', async () => 'v1') // b holds the row (loaded)
      a!.set('row', 'mine', { local: true }) // a holds it local-only
      await net.flush()
      assert.is(b!.get('row'), 'v1')
      assert.ok(a![op]('row'), 'a held a value')
      await net.flush()
      assert.is(a!.get('row'), undefined, 'gone here')
      assert.is(b!.get('row'), undefined, `the ${op} reached b`)
      assert.is(a!.inspect('row')?.kind, op, 'it is a replicated write')
      await close()
    })
  }
}

test('a remote change to a base held local-only evicts its dependents here (finding 6)', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2)
  b!.set('price', '10', { local: true })
  await b!.getOrLoad('view', async () => 'price is 10', { dependsOn: ['price'] })
  a!.set('price', '12')
  await net.flush()
  assert.is(b!.get('price'), '10', 'the local-only base itself stays (no remote message touches it)')
  assert.is(b!.get('view'), undefined, 'its dependent is evicted')
  await close()
})

test('a remote change to a base held local-only cancels a dependent load in flight (finding 6)', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2)
  b!.set('price', '10', { local: true })
  const row = deferred<string>()
  const loading = b!.getOrLoad('view', () => row.promise, { dependsOn: ['price'] })
  a!.invalidate('price')
  await net.flush()
  row.resolve('price is 10')
  assert.is(await loading, 'price is 10', 'its callers get the value')
  assert.is(b!.get('view'), undefined, 'but it is not cached')
  assert.is(b!.stats().loadsDiscarded, 1)
  await close()
})

test('a replicated dependent of a local-only base is invalidated everywhere when the base changes remotely', async () => {
  const { nodes: [a, b, c], net, close } = await cluster<string>(3, { mode: 'replicate' })
  b!.set('price', '10', { local: true })
  b!.set('view', 'price is 10', { dependsOn: ['price'] })
  await net.flush()
  assert.is(c!.get('view'), 'price is 10')
  a!.set('price', '12')
  await net.flush()
  await net.flush()
  assert.is(b!.get('view'), undefined)
  assert.is(c!.get('view'), undefined, 'the cascade is a replicated invalidation')
  await close()
})

test.run()
