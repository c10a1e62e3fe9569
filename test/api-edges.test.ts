/**
 * The API's edges (issue 17 §5): bad keys fail the same way everywhere,
 * every method after close() does what SPEC §9 says, Symbol.asyncDispose,
 * and the `logger` option receives the cache's diagnostics.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMeshCache, ErrorCode, MeshCacheError, type MeshCache, type MeshLogger } from '../lib/index.ts'
import { createMemoryNetwork } from '../lib/testing/index.ts'
import { cluster } from './helpers/cluster.ts'

function code (fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (e) {
    assert.instance(e, MeshCacheError)
    return (e as MeshCacheError).code
  }
  return undefined
}

async function codeOf (p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
  } catch (e) {
    assert.instance(e, MeshCacheError)
    return (e as MeshCacheError).code
  }
  return undefined
}

test('a key that is not a non-empty string fails every method the same way: E_INVALID_ARGUMENT', async () => {
  const c = await cluster<string>(1)
  const [a] = c.nodes as [MeshCache<string>]
  for (const bad of [undefined, null, 42, '', {}] as unknown as string[]) {
    const what = JSON.stringify(bad) ?? String(bad)
    assert.is(code(() => a.get(bad)), ErrorCode.INVALID_ARGUMENT, `get(${what})`)
    assert.is(code(() => a.has(bad)), ErrorCode.INVALID_ARGUMENT, `has(${what})`)
    assert.is(code(() => a.peek(bad)), ErrorCode.INVALID_ARGUMENT, `peek(${what})`)
    assert.is(code(() => a.set(bad, 'v')), ErrorCode.INVALID_ARGUMENT, `set(${what})`)
    assert.is(code(() => a.delete(bad)), ErrorCode.INVALID_ARGUMENT, `delete(${what})`)
    assert.is(code(() => a.invalidate(bad)), ErrorCode.INVALID_ARGUMENT, `invalidate(${what})`)
    assert.is(await codeOf(a.getOrLoad(bad, () => 'v')), ErrorCode.INVALID_ARGUMENT, `getOrLoad(${what})`)
  }
  assert.is(code(() => a.get('')), ErrorCode.INVALID_ARGUMENT)
  try { a.set('', 'v') } catch (e) { assert.match((e as Error).message, /key must not be empty/) }
  try { a.get(42 as unknown as string) } catch (e) { assert.match((e as Error).message, /key must be a string, got number/) }
  assert.is(a.stats().localUpdates, 0, 'nothing changed')
  await c.close()
})

test('after close: reads serve what is held and honour TTL exactly; writes, loads, sync, clear, ready and whenReplicated throw E_CLOSED', async () => {
  // The real clock: after close the timers are stopped, and reads must check expiry themselves.
  let now = Date.now()
  const a = await createMeshCache<string>({ namespace: 'n', transport: createMemoryNetwork().transport('a'), ttl: 1_000, now: () => now })
  a.set('short', 'v', { ttl: 100 })
  a.set('long', 'v')
  await a.close()
  await a.close() // twice: nothing
  assert.is(a.get('long'), 'v', 'reads keep working on what is held')
  assert.is(a.has('short'), true)
  assert.is(a.peek('long'), 'v')
  assert.is(a.size, 2)
  assert.equal([...a.keys()].sort(), ['long', 'short'])
  now += 100
  assert.is(a.get('short'), undefined, 'expired exactly at its deadline, though no timer runs any more')
  assert.is(a.size, 1)
  now += 900
  assert.is(a.has('long'), false)
  assert.is(a.stats().liveKeys, 0, 'stats still work')
  assert.ok(a.inspect('long') !== undefined, 'inspect still works')
  assert.ok(Array.isArray(a.metadata()))
  assert.equal(a.peers(), [])
  assert.equal(a.connectedPeers(), [])
  for (const [name, fn] of [
    ['set', () => a.set('k', 'v')],
    ['delete', () => a.delete('k')],
    ['invalidate', () => a.invalidate('k')],
    ['invalidateTag', () => a.invalidateTag('t')],
    ['clear', () => a.clear()],
    ['sync', () => a.sync()],
  ] as Array<[string, () => unknown]>) {
    assert.is(code(fn), ErrorCode.CLOSED, `${name} after close`)
  }
  assert.is(await codeOf(a.getOrLoad('long', () => 'x')), ErrorCode.CLOSED, 'getOrLoad after close, even for a key it would not load')
  assert.is(await codeOf(a.ready()), ErrorCode.CLOSED)
  assert.is(await codeOf(a.whenReplicated()), ErrorCode.CLOSED)
})

test('after close with the real clock: a value past its deadline is not served though its timer was stopped', async () => {
  // Needs real time: the point is the real clock with the expiry timer stopped. It waits for the
  // clock to pass the deadline (yielding to the event loop), not for a fixed time.
  const a = await createMeshCache<string>({ namespace: 'n', transport: createMemoryNetwork().transport('a') })
  a.set('k', 'v', { ttl: 20 })
  const deadline = Date.now() + 20
  await a.close()
  assert.is(a.get('k'), 'v')
  while (Date.now() <= deadline) await new Promise((resolve) => setImmediate(resolve))
  assert.is(a.get('k'), undefined, 'expired on read')
})

test('close() fails a pending ready() with E_CLOSED', async () => {
  const a = await createMeshCache<string>({ namespace: 'n', transport: createMemoryNetwork().transport('a') })
  const waiting = a.ready({ peers: 1, timeout: 60_000 })
  await a.close()
  assert.is(await codeOf(waiting), ErrorCode.CLOSED)
})

test('ready() resolves when enough peers connect, and times out listing what it had', async () => {
  const net = createMemoryNetwork({ auto: true })
  const a = await createMeshCache<string>({ namespace: 'n', transport: net.transport('a') })
  const waiting = a.ready({ peers: 1, timeout: 5_000 })
  const b = await createMeshCache<string>({ namespace: 'n', transport: net.transport('b') })
  await waiting
  // What ready counts (README): the connected peers; peers() lists b once its membership state arrives.
  assert.equal(a.connectedPeers(), ['b'])
  for (let i = 0; i < 200 && a.peers().length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.is(a.peers()[0]?.peer, 'b')
  try {
    await a.ready({ peers: 2, timeout: 50 })
    assert.unreachable()
  } catch (e) {
    assert.is((e as MeshCacheError).code, ErrorCode.READY_TIMEOUT)
    assert.match((e as Error).message, /1 of 2 peer\(s\) connected in namespace "n" after 50 ms; no `peers` given/)
  }
  await a.close()
  await b.close()
})

test('await using closes the cache at the end of the scope (Symbol.asyncDispose)', async () => {
  let held: MeshCache<string> | undefined
  {
    await using cache = await createMeshCache<string>({ namespace: 'n', transport: createMemoryNetwork().transport('a') })
    held = cache
    cache.set('k', 'v')
  }
  assert.is(code(() => held!.set('k', 'v')), ErrorCode.CLOSED, 'closed by the scope')
})

test('the logger option receives the cache\'s diagnostics (pino-style: object, then message)', async () => {
  const lines: Array<[string, unknown, unknown]> = []
  const at = (level: string) => (obj?: unknown, msg?: unknown) => { lines.push([level, obj, msg]) }
  const logger: MeshLogger = { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
  const cap = createMemoryNetwork()
  const a = await createMeshCache<string>({ namespace: 'n', transport: cap.transport('a'), logger })
  const b = cap.transport('b')
  const channel = await b.join('n', { onFrame () {}, onPeerUp () {}, onPeerDown () {} })
  channel.broadcast(Uint8Array.of(1, 99)) // an unknown message type
  await cap.flush()
  assert.ok(lines.some(([level, obj, msg]) => level === 'debug' && (obj as { peer?: string })?.peer === 'b' && /frame refused: message type 99 is unknown/.test(String(msg))), JSON.stringify(lines))
  await channel.close()
  await a.close()
})

test.run()
