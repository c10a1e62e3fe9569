/**
 * Cascades across instances on the seeded memory network: a remote change
 * of a base cascades on the receiver (including dependents only it has),
 * replicated dependents propagate their own invalidations, tags work
 * everywhere, and a lost tag invalidation is repaired by anti-entropy.
 */
import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cluster } from './helpers/cluster.ts'

test('a remote invalidation of a base cascades on every receiver, including dependents only it has', async () => {
  const { nodes: [a, b, c], net, close } = await cluster<string>(3)
  b!.set('b-view', 'x', { dependsOn: ['user:1'], local: true }) // exists only on B
  await c!.getOrLoad('c-view', () => 'y', { dependsOn: ['user:1'] }) // loaded only on C
  await c!.getOrLoad('c-deep', () => 'z', { dependsOn: ['c-view'] })
  await net.flush()
  a!.invalidate('user:1')
  assert.is(b!.get('b-view'), 'x', 'nothing happens before delivery')
  await net.flush()
  assert.is(b!.get('b-view'), undefined)
  assert.is(c!.get('c-view'), undefined)
  assert.is(c!.get('c-deep'), undefined)
  await close()
})

test('a remote write of a base cascades too (invalidate and replicate modes)', async () => {
  for (const mode of ['invalidate', 'replicate'] as const) {
    const { nodes: [a, b], net, close } = await cluster<string>(2, { mode })
    b!.set('derived', 'd', { dependsOn: ['base'], local: true })
    a!.set('base', 'v2')
    await net.flush()
    assert.is(b!.get('derived'), undefined, mode)
    await close()
  }
})

test('replicated dependents propagate their own invalidations, so replicas without the edge converge', async () => {
  const { nodes: [a, b, c], net, close } = await cluster<string>(3, { mode: 'replicate' })
  a!.set('dashboard', 'd1', { dependsOn: ['user:1'] }) // A knows the edge; B and C receive the value only
  await net.flush()
  assert.is(b!.get('dashboard'), 'd1')
  assert.is(c!.get('dashboard'), 'd1')
  c!.invalidate('user:1') // C does not know the edge…
  await net.flush()
  assert.is(a!.get('dashboard'), undefined, '…A cascades when the invalidation arrives…')
  assert.is(b!.get('dashboard'), undefined, '…and its invalidation of the dependent reaches B')
  assert.is(c!.get('dashboard'), undefined)
  assert.equal(b!.metadata(), a!.metadata())
  assert.equal(c!.metadata(), a!.metadata())
  await close()
})

test('invalidateTag works across instances for set and loaded values', async () => {
  const { nodes: [a, b, c], net, close } = await cluster<string>(3)
  a!.set('p1', 'a', { tags: ['catalog'] })
  await b!.getOrLoad('p2', () => 'b', { tags: ['catalog'] })
  c!.set('p3', 'c', { tags: ['catalog'], local: true })
  c!.set('p4', 'd', { tags: ['other'], local: true })
  await net.flush()
  b!.invalidateTag('catalog')
  assert.is(b!.get('p2'), undefined, 'at once on the caller')
  await net.flush()
  assert.is(a!.get('p1'), undefined)
  assert.is(c!.get('p3'), undefined)
  assert.is(c!.get('p4'), 'd')
  assert.equal(a!.metadata(), b!.metadata())
  assert.equal(c!.metadata(), b!.metadata())
  await close()
})

test('a lost tag invalidation is repaired by anti-entropy and still cascades', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2, {}, { seed: 7 })
  b!.set('p', 'v', { tags: ['t'], local: true })
  await net.flush()
  net.partition(['n0'], ['n1'])
  a!.invalidateTag('t')
  await net.flush() // lost: B is unreachable
  assert.is(b!.get('p'), 'v')
  net.heal() // reconnection starts anti-entropy
  await net.flush()
  assert.is(b!.get('p'), undefined)
  await close()
})

test('a cascade of 1,000 replicated dependents crosses instances and the mesh converges', async () => {
  const { nodes: [a, b, c], net, close } = await cluster<number>(3, { max: 5_000, mode: 'replicate' })
  for (let i = 0; i < 1_000; i++) a!.set(`d${i}`, i, { dependsOn: ['base'] })
  for (let i = 0; i < 1_000; i++) await c!.getOrLoad(`c${i}`, () => i, { dependsOn: [`d${i % 10}`] })
  await net.flush()
  assert.is(b!.stats().liveKeys, 1_000)
  b!.set('base', 1)
  await net.flush()
  for (const n of [a, b, c]) assert.is(n!.stats().liveKeys, 1, 'only base itself (replicated); C\'s loaded values went with their bases')
  assert.is(c!.get('base'), 1)
  assert.equal(b!.metadata(), a!.metadata())
  assert.equal(c!.metadata(), a!.metadata())
  await close()
})

test('replicate mode: the edge holder evicting a replicated dependent for capacity keeps its edges until its deadline', async () => {
  const { nodes: [a, b, c], net, clock, close } = await cluster<string>(3, { mode: 'replicate', max: 3, ttl: 60_000 })
  a!.set('dashboard', 'd1', { dependsOn: ['user:1'] }) // only A knows the edge
  await net.flush()
  for (let i = 0; i < 3; i++) a!.set(`filler:${i}`, 'f', { local: true })
  assert.is(a!.get('dashboard'), undefined, 'evicted on A for capacity…')
  assert.is(b!.get('dashboard'), 'd1', '…while B and C still hold it')
  assert.equal(a!.dependencyStats().dependents, 1, 'its edges stay on A')
  c!.invalidate('user:1')
  await net.flush()
  assert.is(b!.get('dashboard'), undefined, 'A invalidated it for everyone')
  assert.is(c!.get('dashboard'), undefined)
  assert.is(b!.inspect('dashboard')?.kind, 'invalidate')
  assert.equal(a!.dependencyStats().dependents, 0, 'the change let the edges go')

  // Evicted again, then its value expires everywhere: the edges go at the next sweep, not before.
  a!.set('dashboard', 'd2', { dependsOn: ['user:1'] })
  await net.flush()
  for (let i = 3; i < 6; i++) a!.set(`filler:${i}`, 'f', { local: true })
  assert.is(b!.get('dashboard'), 'd2')
  clock.advance(59_000)
  a!.purgeStale()
  assert.equal(a!.dependencyStats().dependents, 1, 'kept while the value may live elsewhere')
  clock.advance(2_000)
  a!.purgeStale()
  assert.equal(a!.dependencyStats(), { dependents: 0, edges: 0, loading: 0 }, 'released after its deadline')
  await close()
})

test('invalidate mode: a capacity eviction drops the edges at once, and close invalidates nothing', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2, { max: 3 })
  a!.set('dashboard', 'd1', { dependsOn: ['user:1'] }) // B holds no value of it in invalidate mode…
  await b!.getOrLoad('mine', () => 'm', { dependsOn: ['user:2'] })
  await net.flush()
  for (let i = 0; i < 3; i++) a!.set(`filler:${i}`, 'f', { local: true })
  assert.equal(a!.dependencyStats().dependents, 0)
  a!.set('view', 'v', { dependsOn: ['user:2'] })
  await net.flush()
  await b!.getOrLoad('view', () => 'loaded on b', { dependsOn: ['user:2'] }) // …but may load its own
  await a!.close()
  await net.flush()
  assert.is(b!.get('view'), 'loaded on b', 'B keeps what it loaded: its own edges cover it')
  assert.is(b!.get('mine'), 'm')
  await close()
})

test('replicate mode: closing invalidates the replicated dependents only this instance has edges for', async () => {
  const { nodes: [a, b, c], net, clock, close } = await cluster<string>(3, { mode: 'replicate', ttl: 60_000 })
  a!.set('dashboard', 'd1', { dependsOn: ['user:1'] })
  a!.set('old', 'o1', { dependsOn: ['user:1'], ttl: 1_000 })
  a!.set('plain', 'p1')
  a!.set('summary', 's1', { dependsOn: ['dashboard'] }) // a chain: the dashboard's invalidation cascades to it
  b!.set('b-view', 'b1', { dependsOn: ['user:1'] }) // B's own edge: B is staying
  await net.flush()
  clock.advance(1_500) // 'old' has expired everywhere: nothing to hand over for it
  const before = c!.stats().remoteUpdates
  const closing = a!.close()
  await net.flush() // delivers the invalidations, the confirmation requests and their answers
  await closing
  for (const n of [b!, c!]) {
    assert.is(n.get('dashboard'), undefined)
    assert.is(n.get('summary'), undefined)
    assert.is(n.get('plain'), 'p1', 'values without edges stay')
  }
  assert.is(c!.get('b-view'), 'b1')
  assert.is(c!.stats().remoteUpdates - before, 2, 'two invalidations: the dashboard and its dependent, once each')
  c!.invalidate('user:1')
  await net.flush()
  assert.is(c!.get('b-view'), undefined, 'B still cascades its own')
  await close()
})

test('replicate mode: close waits for the hand-over to be confirmed, so a lost frame of it is repaired before the cache goes', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2, { mode: 'replicate', ttl: 60_000 })
  a!.set('dashboard', 'd1', { dependsOn: ['user:1'] })
  await net.flush()
  assert.is(b!.get('dashboard'), 'd1')
  // Every UPDATES frame from a to b is lost: the hand-over's own. Without the wait b would keep d1 until its TTL.
  net.dropWhere((from, to, frame) => from === 'n0' && to === 'n1' && frame[1] === 0)
  const repairsBefore = b!.stats().repairs
  const closing = a!.close()
  await net.flush() // the confirmation request shows b the gap; b asks a, still open, and confirms once repaired
  await closing
  net.dropWhere(undefined)
  assert.is(b!.get('dashboard'), undefined, 'repaired from the closing instance')
  assert.is(b!.stats().repairs - repairsBefore, 1)
  await close()
})

test('replicate mode: a peer that cannot confirm the hand-over delays close by `timeout` at most (2 s, as the README says), and is named in a warning', async () => {
  const warnings: string[] = []
  const logger = { trace () {}, debug () {}, info () {}, warn (_fields?: object | string, message?: string) { warnings.push(String(message)) }, error () {} }
  const { nodes: [a, b], net, close } = await cluster<string>(2, { mode: 'replicate', ttl: 60_000, logger })
  a!.set('dashboard', 'd1', { dependsOn: ['user:1'] })
  await net.flush()
  net.dropWhere((from, to) => from === 'n0' && to === 'n1') // nothing of a's reaches b any more
  const started = performance.now()
  await a!.close() // the default timeout, which the README's API table gives
  const waited = performance.now() - started
  assert.ok(waited >= 1_990 && waited < 3_000, `waited ${waited} ms`)
  const row = readFileSync(new URL('../README.md', import.meta.url), 'utf8').split('\n').find((line) => line.startsWith('| `await cache.close('))
  assert.match(row ?? '', /waits up to `timeout` ms \(2 s\)/)
  assert.is(warnings.length, 1)
  assert.match(warnings[0]!, /close: the invalidation of 1 replicated dependent\(s\) .* was not confirmed: .*1 of 1 peer\(s\) did not confirm .*: n1;/)
  net.dropWhere(undefined)
  await close()
})

test('close: options are checked before anything closes; a second call settles with the first', async () => {
  const { nodes: [a], close } = await cluster<string>(1, { mode: 'replicate' })
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    try {
      await a!.close({ timeout: bad })
      assert.unreachable(`timeout ${bad} accepted`)
    } catch (e) {
      assert.is((e as { code?: string }).code, 'E_INVALID_ARGUMENT')
      assert.match((e as Error).message, /^close: timeout must be a positive integer of ms/)
    }
  }
  try {
    await a!.close(null as never)
    assert.unreachable('null options accepted')
  } catch (e) {
    assert.is((e as { code?: string }).code, 'E_INVALID_ARGUMENT')
  }
  a!.set('k', 'v') // still open
  let first = false
  const one = a!.close().then(() => { first = true })
  await a!.close()
  assert.ok(first, 'the second call settled after the first')
  await one
  assert.throws(() => a!.set('k', 'w'), /closed/)
  await close()
})

test('replicate mode: past `max` kept edges, the oldest evicted replicated dependent is invalidated everywhere', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2, { mode: 'replicate', max: 2 })
  for (let i = 1; i <= 4; i++) a!.set(`d${i}`, `v${i}`, { dependsOn: ['user:1'] })
  await net.flush()
  a!.set('filler:1', 'f', { local: true })
  a!.set('filler:2', 'f', { local: true }) // d1…d4 have all left A's LRU, oldest first
  await net.flush()
  assert.equal(a!.dependencyStats().dependents, 2, 'edges kept for two: the cache\'s max')
  assert.equal([1, 2, 3, 4].map((i) => b!.get(`d${i}`) ?? null), [null, null, 'v3', 'v4'], 'the two oldest were invalidated for everyone')
  assert.is(b!.inspect('d1')?.kind, 'invalidate')
  b!.invalidate('user:1')
  await net.flush()
  assert.equal([3, 4].map((i) => b!.get(`d${i}`) ?? null), [null, null], 'the kept ones still cascade')
  assert.equal(a!.dependencyStats().dependents, 0)
  await close()
})

test('replicate mode: a local-only value over a replicated dependent written here invalidates the replicated one first', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2, { mode: 'replicate' })
  a!.set('dashboard', 'd1', { dependsOn: ['user:1'] })
  await net.flush()
  a!.set('dashboard', 'mine', { local: true }) // A's edges for the replicated value would go with it
  await net.flush()
  assert.is(a!.get('dashboard'), 'mine')
  assert.is(b!.get('dashboard'), undefined, 'no replica keeps a dependent no base change could reach')
  b!.set('other', 'o1', { dependsOn: ['user:1'] })
  await net.flush()
  a!.set('other', 'local', { local: true }) // written elsewhere: B keeps its edges, nothing is sent
  await net.flush()
  assert.is(b!.get('other'), 'o1')
  await close()
})

test('replicate mode: a dependent\'s own write coming back with a longer vector (a conflict it won elsewhere) keeps its edges', async () => {
  const { nodes: [a, b, c], names: [na, , nc], net, clock, close } = await cluster<string>(3, { mode: 'replicate' })
  net.partition([na!], [])
  c!.delete('dashboard') // concurrent with A's write below, which wins by its later HLC
  clock.advance(10)
  a!.set('dashboard', 'd1', { dependsOn: ['user:1'] })
  await net.flush()
  // B merges A's write with C's delete before A hears of the delete: A's answers reach B, no records reach A.
  net.dropWhere((_from, to, frame) => to === na && (frame[1] === 0 || frame[1] === 2))
  net.heal()
  await net.flush()
  assert.is(b!.inspect('dashboard')?.vv.length, 4)
  net.dropWhere((from, to) => from === nc && to === na)
  a!.sync() // A gets B's merged state: its own write, with a vector that dominates its own
  await net.flush()
  assert.equal(a!.inspect('dashboard')?.vv.length, 4)
  assert.is(a!.get('dashboard'), 'd1')
  assert.equal(a!.dependencyStats().dependents, 1, 'its edges stay: the value did not change')
  net.dropWhere(undefined)
  c!.invalidate('user:1')
  await net.flush()
  assert.equal([a, b, c].map((n) => n!.get('dashboard') ?? null), [null, null, null], 'A still invalidates it for everyone')
  await close()
})

test('replicate mode: a value loaded over an evicted replicated dependent written here keeps its edges replicated', async () => {
  const { nodes: [a, b, c], net, close } = await cluster<string>(3, { mode: 'replicate', max: 2 })
  a!.set('dashboard', 'd1', { dependsOn: ['user:1'] })
  await net.flush()
  a!.set('filler:1', 'f', { local: true })
  a!.set('filler:2', 'f', { local: true }) // the dashboard leaves A's LRU; B and C still hold it
  assert.is(await a!.getOrLoad('dashboard', () => 'loaded', { dependsOn: ['user:2'] }), 'loaded')
  assert.is(a!.get('dashboard'), 'loaded')
  c!.invalidate('user:1') // a base of the replicated value, not of the loaded one
  await net.flush()
  assert.equal([a, b, c].map((n) => n!.get('dashboard') ?? null), [null, null, null], 'the replicated one is still invalidated for everyone')
  await close()
})

test.run()
