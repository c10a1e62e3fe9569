/**
 * The load/invalidate race (issue 4 §2), made deterministic: the loader
 * awaits a promise the test settles, and remote records are delivered
 * mid-load by `net.flush()`. Rule: a value whose load started before a
 * change of its key (or of a base) is returned to its callers, never cached.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cluster } from './helpers/cluster.ts'

function deferred<T> (): { promise: Promise<T>, resolve: (v: T) => void } {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((res) => { resolve = res })
  return { promise, resolve }
}

/** A fake database row and a loader that reads it at call time but answers only when the test says. */
function slowSource (initial: string): { row: { value: string }, calls: number, gates: Array<{ resolve: () => void }>, load: () => Promise<string> } {
  const src = {
    row: { value: initial },
    calls: 0,
    gates: [] as Array<{ resolve: () => void }>,
    load: async (): Promise<string> => {
      src.calls++
      const snapshot = src.row.value // the read happens now…
      const gate = deferred<void>()
      src.gates.push({ resolve: () => gate.resolve() })
      await gate.promise // …and its answer arrives later
      return snapshot
    },
  }
  return src
}

test('remote invalidation mid-load: the stale row reaches the caller but is not cached', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2)
  const db = slowSource('old')
  const loading = b!.getOrLoad('user:1', db.load) // 1. B misses and starts reading
  db.row.value = 'new' // 2. A updates the row…
  a!.invalidate('user:1') // …and invalidates the key
  await net.flush() // the invalidation reaches B mid-load
  db.gates[0]!.resolve() // 3. B's read, started before the update, returns the old row
  assert.is(await loading, 'old')
  assert.is(b!.get('user:1'), undefined, '4. the old row is not cached')
  assert.is(b!.stats().loadsDiscarded, 1, 'and the discard is counted')
  const again = b!.getOrLoad('user:1', db.load)
  assert.is(db.calls, 2, 'the next getOrLoad loads again')
  db.gates[1]!.resolve()
  assert.is(await again, 'new')
  assert.is(b!.get('user:1'), 'new')
  await close()
})

test('remote write mid-load (invalidate mode): not cached; the next getOrLoad loads again', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2)
  const db = slowSource('old')
  const loading = b!.getOrLoad('k', db.load)
  db.row.value = 'new'
  a!.set('k', 'new')
  await net.flush()
  db.gates[0]!.resolve()
  assert.is(await loading, 'old')
  assert.is(b!.get('k'), undefined)
  const again = b!.getOrLoad('k', db.load)
  assert.is(db.calls, 2, 'the next getOrLoad loads again')
  db.gates[1]!.resolve()
  assert.is(await again, 'new')
  assert.is(b!.get('k'), 'new', 'a load with no change in flight is cached')
  await close()
})

test('a change delivered after the load landed evicts the loaded value', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2)
  assert.is(await b!.getOrLoad('k', () => 'old'), 'old')
  a!.invalidate('k')
  await net.flush()
  assert.is(b!.get('k'), undefined, 'a loaded value with no metadata is still dominated by any record')
  await close()
})

test('read after a local set: getOrLoad returns the set value while an older load is in flight', async () => {
  const { nodes: [c], close } = await cluster<string>(1)
  const db = slowSource('old')
  const older = c!.getOrLoad('k', db.load)
  c!.set('k', 'mine')
  assert.is(await c!.getOrLoad('k', db.load), 'mine')
  db.gates[0]!.resolve()
  assert.is(await older, 'old', 'the older load still answers its own callers')
  assert.is(c!.get('k'), 'mine', 'and does not overwrite the newer write')
  assert.is(db.calls, 1)
  await close()
})

test('read after a local invalidate: getOrLoad does not join the older load, it starts a new one', async () => {
  const { nodes: [c], close } = await cluster<string>(1)
  const db = slowSource('old')
  const older = c!.getOrLoad('k', db.load)
  db.row.value = 'new'
  c!.invalidate('k')
  const newer = c!.getOrLoad('k', db.load)
  assert.is(db.calls, 2)
  db.gates[1]!.resolve()
  assert.is(await newer, 'new')
  db.gates[0]!.resolve() // the older read lands last
  assert.is(await older, 'old')
  assert.is(c!.get('k'), 'new', 'the older read did not overwrite the newer one')
  await close()
})

test('a remote change of a base mid-load keeps the derived value out of the cache', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2)
  const db = slowSource('derived-from-old')
  const loading = b!.getOrLoad('dashboard', db.load, { dependsOn: ['user:1'] })
  a!.set('user:1', 'new email')
  await net.flush()
  db.gates[0]!.resolve()
  assert.is(await loading, 'derived-from-old')
  assert.is(b!.get('dashboard'), undefined)
  await close()
})

test('a remote tag invalidation mid-load keeps the tagged value out of the cache', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2)
  const db = slowSource('v')
  const loading = b!.getOrLoad('product:9', db.load, { tags: ['catalog'] })
  a!.invalidateTag('catalog')
  await net.flush()
  db.gates[0]!.resolve()
  await loading
  assert.is(b!.get('product:9'), undefined)
  await close()
})

test('a cascade mid-load through a dependent held here also counts as a change', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2)
  await b!.getOrLoad('profile', () => 'p1', { dependsOn: ['user:1'] })
  const db = slowSource('dash-from-p1')
  const loading = b!.getOrLoad('dashboard', db.load, { dependsOn: ['profile'] })
  a!.invalidate('user:1') // user:1 → profile (evicted on B) → dashboard's load
  await net.flush()
  db.gates[0]!.resolve()
  await loading
  assert.is(b!.get('profile'), undefined)
  assert.is(b!.get('dashboard'), undefined)
  await close()
})

test('loads are not writes: two instances loading the same key keep each other\'s copies', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2)
  assert.is(await a!.getOrLoad('k', () => 'v'), 'v')
  assert.is(await b!.getOrLoad('k', () => 'v'), 'v')
  await net.flush()
  assert.is(a!.get('k'), 'v')
  assert.is(b!.get('k'), 'v')
  assert.is(a!.stats().localUpdates + b!.stats().localUpdates, 0)
  await close()
})

test('a duplicate of an already applied record does not disturb a load', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2)
  a!.set('k', 'w1')
  await net.flush()
  const db = slowSource('w1-row')
  const loading = b!.getOrLoad('k', db.load)
  b!.sync() // anti-entropy re-sends what B already has: dominated, dropped
  await net.flush()
  db.gates[0]!.resolve()
  assert.is(await loading, 'w1-row')
  assert.is(b!.get('k'), 'w1-row')
  await close()
})

test.run()
