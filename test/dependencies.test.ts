/**
 * The dependency graph on one instance: cascades (depth, fan-out,
 * diamonds), cycles refused without a state change, edges that go with
 * their keys, tags, and reserved keys.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ErrorCode, MeshCacheError, type EvictEvent } from '../lib/index.ts'
import { DependencyGraph } from '../lib/loading/dependencies.ts'
import { cluster } from './helpers/cluster.ts'

function thrown (fn: () => unknown): MeshCacheError {
  try {
    fn()
  } catch (error) {
    return error as MeshCacheError
  }
  throw new Error('expected a throw')
}

test('invalidating, deleting or overwriting a base evicts its dependents', async () => {
  const { nodes: [c], close } = await cluster<string>(1)
  for (const change of [(k: string) => c!.invalidate(k), (k: string) => c!.delete(k), (k: string) => c!.set(k, 'new')]) {
    c!.set('user:1', 'u')
    c!.set('dashboard', 'd', { dependsOn: ['user:1', 'plan:1'] })
    c!.set('other', 'o')
    change('user:1')
    assert.is(c!.get('dashboard'), undefined)
    assert.is(c!.get('other'), 'o')
    assert.equal(c!.dependencyStats().edges, 0, 'the evicted dependent took its edges along')
  }
  // A base never cached here still cascades by name.
  c!.set('dashboard', 'd', { dependsOn: ['plan:1'] })
  c!.invalidate('plan:1')
  assert.is(c!.get('dashboard'), undefined)
  await close()
})

test('a cascade of depth 6 ending in a fan-out of 1,000 evicts every transitive dependent', async () => {
  const { nodes: [c], close } = await cluster<number>(1, { max: 20_000 })
  c!.set('l0', 0)
  for (let d = 1; d <= 6; d++) c!.set(`l${d}`, d, { dependsOn: [`l${d - 1}`] })
  for (let i = 0; i < 1_000; i++) c!.set(`leaf${i}`, i, { dependsOn: ['l6'], local: i % 2 === 0 })
  // A diamond: reachable twice, evicted once.
  c!.set('diamond', 1, { dependsOn: ['l2', 'l5'] })
  c!.set('unrelated', 1, { dependsOn: ['elsewhere'] })
  const evicted: string[] = []
  c!.on('evict', (e: { key: string }) => evicted.push(e.key))
  c!.invalidate('l0')
  for (let d = 1; d <= 6; d++) assert.is(c!.get(`l${d}`), undefined)
  for (let i = 0; i < 1_000; i++) assert.is(c!.get(`leaf${i}`), undefined)
  assert.is(c!.get('diamond'), undefined)
  assert.is(c!.get('unrelated'), 1)
  assert.is(evicted.filter((k) => k === 'diamond').length, 1)
  assert.is(evicted.length, 1 + 6 + 1_000 + 1, 'each once (l0 itself included)')
  assert.equal(c!.dependencyStats(), { dependents: 1, edges: 1, loading: 0 })
  await close()
})

test('fan-out of 10,000 on one base', async () => {
  const { nodes: [c], close } = await cluster<number>(1, { max: 20_000 })
  for (let i = 0; i < 10_000; i++) c!.set(`d${i}`, i, { dependsOn: ['base'], local: true })
  assert.is(c!.dependencyStats().edges, 10_000)
  c!.invalidate('base')
  assert.is(c!.stats().liveKeys, 0)
  assert.is(c!.dependencyStats().edges, 0)
  await close()
})

test('drops queued while a cascade runs are taken in the same pass, each with its own change\'s reason', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2)
  for (const k of ['d1', 'd2', 'd3']) b!.set(k, k, { dependsOn: ['base'], local: true })
  b!.set('x', 'x', { dependsOn: ['X'], local: true })
  b!.set('y', 'y', { dependsOn: ['x'], local: true })
  const seen: string[] = []
  // The first drop of a remote cascade makes a local change: its dependents queue behind the rest.
  b!.on('evict', (e: EvictEvent) => {
    seen.push(`${e.key} ${e.reason}`)
    if (e.key === 'd1') b!.invalidate('X')
  })
  await net.flush()
  a!.invalidate('base')
  await net.flush()
  assert.equal(seen, ['d1 remote', 'd2 remote', 'd3 remote', 'x local', 'y local'])
  assert.is(b!.stats().liveKeys, 0, 'nothing queued was left behind')
  assert.is(b!.dependencyStats().edges, 0)
  await close()
})

test('replicated dependents are invalidated as writes; local ones are dropped silently', async () => {
  const { nodes: [c], close } = await cluster<string>(1)
  c!.set('rep', 'r', { dependsOn: ['b'] })
  c!.set('loc', 'l', { dependsOn: ['b'], local: true })
  const before = c!.stats().localUpdates
  c!.invalidate('b')
  assert.is(c!.stats().localUpdates - before, 2, 'one for b, one for the replicated dependent')
  assert.is(c!.inspect('rep')?.kind, 'invalidate')
  assert.is(c!.inspect('loc'), undefined)
  await close()
})

test('a cycle is refused with E_DEPENDENCY_CYCLE and changes nothing', async () => {
  const { nodes: [c], close } = await cluster<string>(1)
  assert.is(thrown(() => c!.set('a', 'x', { dependsOn: ['a'] })).code, ErrorCode.DEPENDENCY_CYCLE)
  assert.is(c!.get('a'), undefined)
  c!.set('a', 'a0')
  c!.set('b', 'b0', { dependsOn: ['a'] })
  c!.set('c', 'c0', { dependsOn: ['b'] })
  const stats = c!.stats()
  const graph = c!.dependencyStats()
  const meta = c!.metadata()
  const error = thrown(() => c!.set('a', 'a1', { dependsOn: ['c'] }))
  assert.instance(error, MeshCacheError)
  assert.is(error.code, ErrorCode.DEPENDENCY_CYCLE)
  assert.match(error.message, /"a" → "b" → "c" → "a"/)
  assert.equal(c!.stats(), stats)
  assert.equal(c!.dependencyStats(), graph)
  assert.equal(c!.metadata(), meta)
  assert.is(c!.get('a'), 'a0')
  assert.is(c!.get('b'), 'b0')
  assert.is(c!.get('c'), 'c0')
  // Through a tag nothing can cycle (tags have no bases), and a sibling edge is fine.
  c!.set('d', 'd0', { dependsOn: ['a', 'c'], tags: ['t'] })
  assert.is(c!.get('d'), 'd0')
  await close()
})

test('edges go with their keys: TTL, capacity, delete, overwrite', async () => {
  const { nodes: [c], clock, close } = await cluster<string>(1, { max: 3, ttl: 1_000 })
  c!.set('x', 'x', { dependsOn: ['b1', 'b2'], ttl: 500 })
  assert.is(c!.dependencyStats().edges, 2)
  clock.advance(501)
  c!.purgeStale()
  assert.equal(c!.dependencyStats(), { dependents: 0, edges: 0, loading: 0 }, 'TTL')
  for (let i = 0; i < 4; i++) c!.set(`k${i}`, 'v', { dependsOn: ['b'], local: true })
  assert.is(c!.dependencyStats().edges, 3, 'capacity eviction dropped the oldest dependent\'s edge')
  c!.delete('k3')
  assert.is(c!.dependencyStats().edges, 2, 'delete')
  c!.set('k2', 'v', { dependsOn: ['b', 'b9'], local: true })
  assert.is(c!.dependencyStats().edges, 3, 'overwrite replaces edges')
  c!.set('k2', 'v', { local: true })
  assert.is(c!.dependencyStats().edges, 1, 'overwrite without dependsOn removes them')
  await close()
})

test('a chain stays whole while something depends on an evicted middle, and goes with the last dependent', async () => {
  const { nodes: [c], clock, close } = await cluster<string>(1, { ttl: 10_000 })
  c!.set('profile', 'p', { dependsOn: ['user'], ttl: 100 })
  c!.set('dashboard', 'd', { dependsOn: ['profile'] })
  clock.advance(101)
  c!.purgeStale() // profile expires; dashboard still hangs on user through it
  assert.is(c!.get('profile'), undefined)
  assert.is(c!.dependencyStats().edges, 2)
  c!.invalidate('user')
  assert.is(c!.get('dashboard'), undefined, 'the chain still cascaded')
  c!.set('profile', 'p', { dependsOn: ['user'], ttl: 100 })
  c!.set('dashboard', 'd', { dependsOn: ['profile'], ttl: 200 })
  clock.advance(201)
  c!.purgeStale()
  assert.equal(c!.dependencyStats(), { dependents: 0, edges: 0, loading: 0 }, 'nothing held, nothing kept')
  await close()
})

// Found in review: the three ways a value derived from an old base stayed cached.
test('replicate mode: a remote write that loses a conflict leaves the winner\'s edges in place', async () => {
  const { nodes: [a, b], net, clock, close } = await cluster<string>(2, { mode: 'replicate' })
  b!.set('d', 'D(older)')
  clock.advance(1)
  a!.set('d', 'D(base=1)', { dependsOn: ['base'] }) // concurrent with B's, and wins (higher HLC)
  await net.flush()
  assert.is(a!.get('d'), 'D(base=1)', 'A kept its winning value')
  assert.is(a!.dependencyStats().edges, 1, 'and its edge to base')
  a!.invalidate('base')
  await net.flush()
  assert.is(a!.get('d'), undefined, 'a change of base still evicts it here')
  assert.is(b!.get('d'), undefined, 'and, as a replicated dependent, everywhere')
  await close()
})

for (const via of ['set', 'getOrLoad'] as const) {
  test(`${via}: storing a value that evicts its own base for capacity keeps the chain through that base`, async () => {
    const { nodes: [c], close } = await cluster<string>(1, { max: 3 })
    c!.set('X', 'x(root=1)', { dependsOn: ['root'] })
    c!.set('o1', 'o')
    c!.set('o2', 'o') // full, X the oldest: storing k evicts X
    if (via === 'set') c!.set('k', 'k(x)', { dependsOn: ['X'] })
    else await c!.getOrLoad('k', () => 'k(x)', { dependsOn: ['X'] })
    assert.is(c!.has('X'), false, 'X was evicted by storing k')
    c!.invalidate('root')
    assert.is(c!.get('k'), undefined, 'root\'s change reaches k through X')
    await close()
  })
}

test('a base evicted while a load that depends on it runs keeps its edges for that load', async () => {
  const { nodes: [c], clock, close } = await cluster<string>(1)
  c!.set('profile', 'P(user=v1)', { dependsOn: ['user'], ttl: 1000 })
  let open!: () => void
  const gate = new Promise<void>((resolve) => { open = resolve })
  const load = c!.getOrLoad('dash', async () => { const p = c!.get('profile'); await gate; return `D(${p})` }, { dependsOn: ['profile'], ttl: 60_000 })
  clock.advance(1001)
  assert.is(c!.get('profile'), undefined, 'profile expired while dash loads')
  open()
  assert.is(await load, 'D(P(user=v1))')
  assert.is(c!.get('dash'), 'D(P(user=v1))')
  c!.invalidate('user')
  assert.is(c!.get('dash'), undefined, 'user\'s change reaches dash through the expired profile')
  assert.equal(c!.dependencyStats(), { dependents: 0, edges: 0, loading: 0 }, 'and nothing is left pinned')
  await close()
})

test('a failed load releases the bases it pinned', async () => {
  const { nodes: [c], clock, close } = await cluster<string>(1)
  c!.set('profile', 'P', { dependsOn: ['user'], ttl: 1000 })
  const load = c!.getOrLoad('dash', async () => { await new Promise((resolve) => setTimeout(resolve, 5)); throw new Error('db down') }, { dependsOn: ['profile'] })
  clock.advance(1001)
  assert.is(c!.get('profile'), undefined)
  assert.is(c!.dependencyStats().dependents, 1, 'profile\'s node is kept while the load runs')
  await load.catch(() => {})
  assert.equal(c!.dependencyStats(), { dependents: 0, edges: 0, loading: 0 }, 'and goes with the failed load')
  await close()
})

test('tags on one instance; reserved keys are refused', async () => {
  const { nodes: [c], close } = await cluster<string>(1)
  c!.set('p1', 'a', { tags: ['catalog'] })
  c!.set('p2', 'b', { tags: ['catalog', 'promo'], local: true })
  c!.set('p3', 'c', { tags: ['promo'] })
  c!.invalidateTag('catalog')
  assert.equal([c!.get('p1'), c!.get('p2'), c!.get('p3')], [undefined, undefined, 'c'])
  assert.is(thrown(() => c!.set('\u0000tag:catalog', 'x')).code, ErrorCode.INVALID_ARGUMENT)
  assert.is(thrown(() => c!.invalidate('\u0000tag:catalog')).code, ErrorCode.INVALID_ARGUMENT)
  assert.is(thrown(() => c!.delete('\u0000x')).code, ErrorCode.INVALID_ARGUMENT)
  assert.is(thrown(() => c!.set('k', 'v', { dependsOn: ['\u0000tag:promo'] })).code, ErrorCode.INVALID_ARGUMENT)
  assert.is(thrown(() => c!.set('k', 'v', { tags: [42 as unknown as string] })).code, ErrorCode.INVALID_ARGUMENT)
  assert.is(thrown(() => c!.invalidateTag('')).code, ErrorCode.INVALID_ARGUMENT)
  assert.is(c!.get('k'), undefined, 'refused before any change')
  await close()
})

test('DependencyGraph: release keeps a node while it has dependents; changed visits each once', () => {
  const g = new DependencyGraph()
  g.link('b', ['a'], false)
  g.link('c', ['b'], true)
  g.link('d', ['b', 'c'], false)
  g.release('b')
  assert.equal(g.basesOf('b'), ['a'], 'b is kept: c and d hang on it')
  const seen: Array<[string, boolean]> = []
  assert.is(g.changed('a', (k, r) => seen.push([k, r])), 3)
  assert.equal(seen.sort(), [['b', false], ['c', true], ['d', false]])
  assert.is(g.size, 0)
  assert.is(g.edges, 0)
  g.link('y', ['x'], false)
  g.release('y')
  assert.is(g.size, 0)
})

test('DependencyGraph: an evicted replicated dependent keeps its edges until its deadline, at most maxKept of them', () => {
  const g = new DependencyGraph(2)
  g.link('r1', ['a'], true)
  g.link('r2', ['a'], true)
  g.link('r3', ['a'], true)
  g.link('l', ['a'], false)
  assert.is(g.release('l', 5_000), undefined)
  assert.is(g.size, 3, 'a loaded or local dependent goes at once, whatever the deadline')
  assert.is(g.release('r1', 1_000), undefined)
  assert.is(g.release('r2', 2_000), undefined)
  assert.equal(g.basesOf('r1'), ['a'], 'kept')
  assert.is(g.release('r3', 3_000), 'r1', 'a third is one too many: the oldest is named for invalidation')
  g.changed('r1', () => {}) // what the cache's invalidation of it does
  g.expire(1_999)
  assert.is(g.size, 2)
  g.expire(2_000)
  assert.equal([g.size, g.basesOf('r2')], [1, []], 'r2 went at its deadline')
  g.link('r3', ['a'], true) // held again: no longer kept
  g.expire(10_000)
  assert.equal(g.basesOf('r3'), ['a'])
  const seen: string[] = []
  g.changed('a', (k) => seen.push(k))
  assert.equal(seen, ['r3'])
  assert.is(g.size, 0)

  // Only nodes kept now count against maxKept: one held again, changed or gone does not.
  const h = new DependencyGraph(1)
  for (const k of ['s1', 's2', 's3']) h.link(k, ['b'], true)
  h.release('s1', 1_000)
  h.link('s1', ['b'], true) // held again
  assert.is(h.release('s2', 1_000), undefined)
  h.changed('s2', () => {})
  assert.is(h.release('s3', 1_000), undefined)
  assert.is(h.release('s1', 1_000), 's3', 'two kept at once is one too many')
})

test.run()
