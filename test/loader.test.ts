/**
 * getOrLoad on one instance: hits, coalescing, errors, negative caching,
 * grace, soft and hard timeouts, abort. TTL and grace use the injected test
 * clock. Timeouts are real timers (setTimeout inside the library), so the
 * tests that exercise them use small ones (a few ms) and wait on promises,
 * never on fixed sleeps.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ErrorCode, MeshCacheError } from '../lib/index.ts'
import { cluster } from './helpers/cluster.ts'

/** A promise the test settles by hand: the loader's source of truth "answers" when told. */
function deferred<T> (): { promise: Promise<T>, resolve: (v: T) => void, reject: (e: unknown) => void } {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

async function rejection (p: Promise<unknown>): Promise<MeshCacheError> {
  try {
    await p
  } catch (error) {
    return error as MeshCacheError
  }
  throw new Error('expected a rejection')
}

test('a hit resolves with the cached value without calling the loader', async () => {
  const { nodes: [c], close } = await cluster<string>(1)
  c!.set('k', 'v')
  let calls = 0
  assert.is(await c!.getOrLoad('k', () => { calls++; return 'x' }), 'v')
  assert.is(calls, 0)
  await close()
})

test('1,000 concurrent callers on a missing key cause exactly one loader call', async () => {
  const { nodes, net, close } = await cluster<string>(2)
  const c = nodes[0]
  const gate = deferred<string>()
  let calls = 0
  const waiters = Array.from({ length: 1000 }, () => c!.getOrLoad('k', () => { calls++; return gate.promise }))
  assert.is(calls, 1)
  gate.resolve('v')
  const values = await Promise.all(waiters)
  assert.ok(values.every((v) => v === 'v'))
  assert.is(calls, 1)
  assert.is(c!.get('k'), 'v')
  assert.is(c!.stats().loads, 1)
  assert.is(c!.stats().loadsCoalesced, 999)
  // A load is not a write: nothing numbered, nothing sent, no replicated state.
  assert.is(c!.stats().localUpdates, 0)
  assert.is(c!.inspect('k'), undefined)
  await net.flush()
  assert.is(nodes[1]!.inspect('k'), undefined, 'the peer never heard of it')
  await close()
})

test('a loader error reaches every waiter and is not cached', async () => {
  const { nodes: [c], close } = await cluster<string>(1)
  const gate = deferred<string>()
  let calls = 0
  const boom = new Error('db down')
  const waiters = Array.from({ length: 10 }, () => c!.getOrLoad('k', () => { calls++; return gate.promise }))
  gate.reject(boom)
  const errors = await Promise.all(waiters.map(rejection))
  assert.ok(errors.every((e) => (e as unknown) === boom))
  assert.is(c!.get('k'), undefined)
  assert.is(await c!.getOrLoad('k', () => { calls++; return 'ok' }), 'ok')
  assert.is(calls, 2)
  assert.is(c!.stats().loadErrors, 1)
  assert.is(c!.stats().loads, 2)
  await close()
})

test('a loader that throws synchronously rejects, it does not throw', async () => {
  const { nodes: [c], close } = await cluster<string>(1)
  const p = c!.getOrLoad('k', () => { throw new Error('sync') })
  assert.instance(p, Promise)
  assert.is((await rejection(p)).message, 'sync')
  await close()
})

test('not found is not cached unless negativeTtl asks for it', async () => {
  const { nodes: [c], clock, close } = await cluster<string>(1)
  let calls = 0
  const missing = (): undefined => { calls++; return undefined }
  assert.is(await c!.getOrLoad<string | undefined>('k', missing), undefined)
  assert.is(await c!.getOrLoad<string | undefined>('k', missing), undefined)
  assert.is(calls, 2)
  assert.is(await c!.getOrLoad<string | undefined>('n', missing, { negativeTtl: 1_000 }), undefined)
  assert.is(await c!.getOrLoad<string | undefined>('n', missing, { negativeTtl: 1_000 }), undefined)
  assert.is(calls, 3, 'the negative entry answers')
  clock.advance(1_000)
  assert.is(await c!.getOrLoad<string | undefined>('n', missing, { negativeTtl: 1_000 }), undefined)
  assert.is(calls, 4, 'it expires with its own ttl')
  c!.invalidate('n')
  assert.is(await c!.getOrLoad<string | undefined>('n', () => null as unknown as undefined), undefined, 'null means not found too')
  assert.is(await c!.getOrLoad('n', () => 'now here', { negativeTtl: 1_000 }), 'now here', 'an invalidation ends a negative entry')
  await close()
})

test('grace: a stale value is served while exactly one refresh runs', async () => {
  const { nodes: [c], clock, close } = await cluster<string>(1, { ttl: 1_000, maxTtl: 10_000 })
  let calls = 0
  let gate = deferred<string>()
  const load = (): Promise<string> => { calls++; return gate.promise }
  const opts = { ttl: 1_000, grace: 5_000 }
  const first = c!.getOrLoad('k', load, opts)
  gate.resolve('v1')
  assert.is(await first, 'v1')
  clock.advance(999)
  assert.is(await c!.getOrLoad('k', load, opts), 'v1')
  assert.is(calls, 1, 'fresh: no refresh')
  clock.advance(1)
  gate = deferred<string>()
  const stale = await Promise.all(Array.from({ length: 50 }, () => c!.getOrLoad('k', load, opts)))
  assert.ok(stale.every((v) => v === 'v1'), 'stale served at once')
  assert.is(calls, 2, 'exactly one refresh')
  assert.is(c!.stats().staleServed, 50)
  gate.resolve('v2')
  await gate.promise
  await new Promise((resolve) => setImmediate(resolve)) // the refresh lands in a microtask
  assert.is(await c!.getOrLoad('k', load, opts), 'v2')
  assert.is(calls, 2)
  // Past ttl + grace the value is gone: callers wait for the loader.
  clock.advance(6_001)
  gate = deferred<string>()
  const waiting = c!.getOrLoad('k', load, opts)
  assert.is(calls, 3)
  gate.resolve('v3')
  assert.is(await waiting, 'v3')
  await close()
})

test('grace: a failing refresh reaches callers still waiting; the stale value stays for the next call', async () => {
  const { nodes: [c], clock, close } = await cluster<string>(1, { ttl: 1_000, maxTtl: 10_000 })
  await c!.getOrLoad('k', () => 'v1', { ttl: 1_000, grace: 5_000 })
  clock.advance(1_500)
  let calls = 0
  assert.is(await c!.getOrLoad('k', () => { calls++; throw new Error('down') }, { ttl: 1_000, grace: 5_000 }), 'v1')
  await new Promise((resolve) => setImmediate(resolve))
  assert.is(calls, 1)
  assert.is(await c!.getOrLoad('k', () => { calls++; return 'v2' }, { ttl: 1_000, grace: 5_000 }), 'v1', 'stale again, new refresh')
  await new Promise((resolve) => setImmediate(resolve))
  assert.is(calls, 2)
  assert.is(c!.get('k'), 'v2')
  await close()
})

test('soft timeout: a slow refresh serves the stale value, then lands in the cache', async () => {
  // Real timers: the soft timeout is a setTimeout in the library; 5 ms keeps the test fast.
  const { nodes: [c], clock, close } = await cluster<string>(1, { ttl: 1_000, maxTtl: 10_000 })
  await c!.getOrLoad('k', () => 'v1', { ttl: 1_000, grace: 5_000 })
  clock.advance(1_500)
  const gate = deferred<string>()
  const served = await c!.getOrLoad('k', () => gate.promise, { ttl: 1_000, grace: 5_000, softTimeout: 5 })
  assert.is(served, 'v1')
  gate.resolve('v2')
  await gate.promise
  await new Promise((resolve) => setImmediate(resolve))
  assert.is(c!.get('k'), 'v2', 'the refresh went on and was stored')
  // A refresh faster than the soft timeout is returned fresh.
  clock.advance(1_500)
  assert.is(await c!.getOrLoad('k', async () => 'v3', { ttl: 1_000, grace: 5_000, softTimeout: 1_000 }), 'v3')
  await close()
})

test('soft timeout without a stale value does not apply: the caller waits for the loader', async () => {
  const { nodes: [c], close } = await cluster<string>(1)
  const gate = deferred<string>()
  const p = c!.getOrLoad('k', () => gate.promise, { softTimeout: 1 })
  setTimeout(() => gate.resolve('v'), 10) // real time past the soft timeout
  assert.is(await p, 'v')
  await close()
})

test('hard timeout: a typed error for that caller; the load goes on for others and is stored', async () => {
  // Real timers: the hard timeout is a setTimeout in the library; 5 ms keeps the test fast.
  const { nodes: [c], close } = await cluster<string>(1)
  const gate = deferred<string>()
  let calls = 0
  const load = (): Promise<string> => { calls++; return gate.promise }
  const patient = c!.getOrLoad('k', load)
  const hurried = c!.getOrLoad('k', load, { timeout: 5 })
  const error = await rejection(hurried)
  assert.instance(error, MeshCacheError)
  assert.is(error.code, ErrorCode.LOAD_TIMEOUT)
  gate.resolve('v')
  assert.is(await patient, 'v')
  assert.is(c!.get('k'), 'v')
  assert.is(calls, 1)
  await close()
})

test('abort: only the aborting caller fails; the load continues for the others', async () => {
  const { nodes: [c], close } = await cluster<string>(1)
  const gate = deferred<string>()
  let loaderSignal: AbortSignal | undefined
  const load = (_k: string, ctx: { signal: AbortSignal }): Promise<string> => { loaderSignal = ctx.signal; return gate.promise }
  const ac = new AbortController()
  const leaving = c!.getOrLoad('k', load, { signal: ac.signal })
  const staying = c!.getOrLoad('k', load, { signal: new AbortController().signal })
  const firm = c!.getOrLoad('k', load)
  ac.abort(new Error('user left'))
  const error = await rejection(leaving)
  assert.is(error.code, ErrorCode.LOAD_ABORTED)
  assert.is((error.cause as Error).message, 'user left')
  assert.is(loaderSignal?.aborted, false)
  gate.resolve('v')
  assert.equal(await Promise.all([staying, firm]), ['v', 'v'])
  assert.is(c!.get('k'), 'v')
  await close()
})

test('abort: when every caller aborted, the loader is told and its result is not stored', async () => {
  const { nodes: [c], close } = await cluster<string>(1)
  const gate = deferred<string>()
  let loaderSignal: AbortSignal | undefined
  let calls = 0
  const load = (_k: string, ctx: { signal: AbortSignal }): Promise<string> => { calls++; loaderSignal = ctx.signal; return gate.promise }
  const a = new AbortController()
  const b = new AbortController()
  const pa = c!.getOrLoad('k', load, { signal: a.signal })
  const pb = c!.getOrLoad('k', load, { signal: b.signal })
  a.abort()
  assert.is(loaderSignal?.aborted, false)
  b.abort()
  assert.is(loaderSignal?.aborted, true)
  assert.is((await rejection(pa)).code, ErrorCode.LOAD_ABORTED)
  assert.is((await rejection(pb)).code, ErrorCode.LOAD_ABORTED)
  gate.resolve('late')
  await new Promise((resolve) => setImmediate(resolve))
  assert.is(c!.get('k'), undefined)
  assert.is(await c!.getOrLoad('k', () => { calls++; return 'fresh' }), 'fresh', 'a new caller starts a new load')
  assert.is(calls, 2)
  await close()
})

test('an already aborted signal rejects at once without calling the loader', async () => {
  const { nodes: [c], close } = await cluster<string>(1)
  let calls = 0
  const error = await rejection(c!.getOrLoad('k', () => { calls++; return 'v' }, { signal: AbortSignal.abort() }))
  assert.is(error.code, ErrorCode.LOAD_ABORTED)
  assert.is(calls, 0)
  await close()
})

test('bad arguments reject with typed errors', async () => {
  const { nodes: [c], close } = await cluster<string>(1, { ttl: 1_000 })
  const load = (): string => 'v'
  assert.is((await rejection(c!.getOrLoad('k', load, { grace: 1 }))).code, ErrorCode.INVALID_ARGUMENT, 'ttl + grace > maxTtl')
  assert.is((await rejection(c!.getOrLoad('k', load, { timeout: 0 }))).code, ErrorCode.INVALID_ARGUMENT)
  assert.is((await rejection(c!.getOrLoad('k', load, { softTimeout: -1 }))).code, ErrorCode.INVALID_ARGUMENT)
  // Node arms a longer timer for 1 ms: refused, not a time-out after 1 ms.
  for (const name of ['timeout', 'softTimeout'] as const) {
    const error = await rejection(c!.getOrLoad('k', load, { [name]: 2 ** 31 }))
    assert.is(error.code, ErrorCode.INVALID_ARGUMENT, name)
    assert.match(error.message, new RegExp(`\`${name}\` must be at most 2147483647`))
  }
  assert.is((await rejection(c!.getOrLoad('k', load, { dependsOn: 'x' as unknown as string[] }))).code, ErrorCode.INVALID_ARGUMENT)
  assert.is((await rejection(c!.getOrLoad('k', load, { tags: [''] }))).code, ErrorCode.INVALID_ARGUMENT)
  assert.is((await rejection(c!.getOrLoad('\u0000tag:x', load))).code, ErrorCode.INVALID_ARGUMENT, 'reserved prefix')
  assert.is((await rejection(c!.getOrLoad('k', 'nope' as unknown as () => string))).code, ErrorCode.INVALID_ARGUMENT)
  assert.is((await rejection(c!.getOrLoad('k', load, { dependsOn: ['k'] }))).code, ErrorCode.DEPENDENCY_CYCLE)
  await c!.close()
  assert.is((await rejection(c!.getOrLoad('k', load))).code, ErrorCode.CLOSED)
  await close()
})

test('a loaded value hangs on the key\'s metadata: a later local write replaces it and propagates', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2)
  a!.set('k', 'written')
  await net.flush()
  assert.is(b!.get('k'), undefined, 'invalidate mode: B knows the write, holds no value')
  assert.is(await b!.getOrLoad('k', () => 'loaded'), 'loaded')
  assert.is(b!.inspect('k')?.writer, a!.origin, 'the loaded value kept the write\'s metadata')
  await b!.getOrLoad('fresh', () => 'loaded')
  assert.is(b!.invalidate('fresh'), true)
  await net.flush()
  assert.is(a!.inspect('fresh')?.kind, 'invalidate', 'invalidating a loaded key is an ordinary replicated invalidation')
  await close()
})

// Found in review: a loaded value hanging on the entry of an evicted write was
// sent in anti-entropy as that write's value (and, if the codec refused it,
// the whole answer failed).
test('a loaded value never travels in anti-entropy as the value of the write it hangs on', async () => {
  const { nodes: [a, b, d], names, net, close } = await cluster<any>(3, { mode: 'replicate', max: 2 })
  net.partition([names[0]!, names[1]!], [names[2]!]) // D hears of nothing yet
  a!.set('k', 'written')
  a!.set('other', 'o')
  await net.flush()
  b!.set('f1', 1, { local: true })
  b!.set('f2', 2, { local: true }) // capacity evicts B's copies of k and other
  assert.is(b!.get('k'), undefined)
  assert.is(await b!.getOrLoad('k', () => 'loaded'), 'loaded')
  const big = { n: 2n } // loads never pass through the codec; JSON cannot encode this one
  assert.is(await b!.getOrLoad('other', () => big), big)
  net.partition([names[0]!], [names[1]!, names[2]!]) // D repairs from B alone
  await net.flush()
  d!.sync()
  await net.flush()
  assert.is(b!.stats().protocolErrors + d!.stats().protocolErrors, 0, 'B answered, D accepted')
  assert.is(d!.inspect('k')?.writer, a!.origin, 'D has the write\'s state')
  assert.is(d!.get('k'), undefined, 'but not B\'s loaded value as its value')
  assert.equal(d!.inspect('other')?.vv, a!.inspect('other')?.vv)
  await close()
})

test.run()
