/**
 * Membership metadata (`cache.advertise`, SPEC §8) on the memory network:
 * what one member advertises shows up in the others' peers(), a removal
 * too, and what cannot travel is refused with nothing changed.
 */
import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMeshCache, ErrorCode, MeshCacheError, type MeshCache } from '../lib/index.ts'
import { MAX_META_BYTES } from '../lib/sync/membership.ts'
import { createMemoryNetwork } from '../lib/testing/index.ts'

async function pair () {
  const net = createMemoryNetwork({ seed: 7 })
  const mk = (name: string) => createMeshCache<string>({ namespace: 'm', nodeId: name, transport: net.transport(name), syncInterval: 0 })
  const a = await mk('a')
  const b = await mk('b')
  await net.flush()
  return { net, a, b }
}

function metaOf (viewer: MeshCache<string>, member: MeshCache<string>): Record<string, unknown> | undefined {
  return viewer.peers().find((p) => p.origin === member.origin)?.meta
}

function refused (fn: () => void, what: string): MeshCacheError {
  try {
    fn()
  } catch (error) {
    assert.instance(error, MeshCacheError, what)
    assert.is((error as MeshCacheError).code, ErrorCode.INVALID_ARGUMENT, what)
    return error as MeshCacheError
  }
  throw new Error(`${what}: not refused`)
}

test('an advertised value shows up in the other members\' peers(), and its removal too', async () => {
  const { net, a, b } = await pair()
  assert.equal(metaOf(b, a), {}, 'nothing advertised yet')
  const http = { port: 8080, paths: ['/users'] }
  a.advertise('http', http)
  a.advertise('role', 'writer')
  http.port = 1 // the caller's object is copied, not shared
  await net.flush()
  assert.equal(metaOf(b, a), { http: { port: 8080, paths: ['/users'] }, role: 'writer' })
  assert.equal(metaOf(a, b), {}, 'b advertised nothing')
  a.advertise('http', undefined)
  await net.flush()
  assert.equal(metaOf(b, a), { role: 'writer' }, 'removed')
  const seen = b.peers()[0] as { meta: Record<string, unknown> }
  seen.meta.role = 'changed by the caller'
  assert.equal(metaOf(b, a), { role: 'writer' }, 'peers() hands out copies')
  await a.close()
  await b.close()
})

test('a member that connects later learns what was advertised before it came', async () => {
  const net = createMemoryNetwork({ seed: 8 })
  const a = await createMeshCache<string>({ namespace: 'm', nodeId: 'a', transport: net.transport('a'), syncInterval: 0 })
  a.advertise('version', '1.2.3')
  const c = await createMeshCache<string>({ namespace: 'm', nodeId: 'c', transport: net.transport('c'), syncInterval: 0 })
  await net.flush()
  assert.equal(metaOf(c, a), { version: '1.2.3' })
  await a.close()
  await c.close()
})

test('oversized, unserializable and badly named advertisements are refused and change nothing', async () => {
  const { net, a, b } = await pair()
  a.advertise('keep', 'me')
  await net.flush()
  const big = refused(() => a.advertise('blob', 'x'.repeat(MAX_META_BYTES)), 'over 2 KiB')
  assert.match(big.message, /2048-byte limit/)
  // The limit is on the total: many small names add up.
  a.advertise('alone', 'v'.repeat(700)) // fits on its own
  a.advertise('alone', undefined)
  for (let i = 0; i < 40; i++) a.advertise(`k${i}`, 'v'.repeat(30))
  refused(() => a.advertise('k40', 'v'.repeat(700)), 'over 2 KiB in total')
  for (let i = 0; i < 40; i++) a.advertise(`k${i}`, undefined)
  refused(() => a.advertise('n', 10n), 'a BigInt')
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  refused(() => a.advertise('c', cyclic), 'a cycle')
  refused(() => a.advertise('f', () => 1), 'a function')
  refused(() => a.advertise('', 1), 'an empty name')
  refused(() => a.advertise(5 as unknown as string, 1), 'a non-string name')
  await net.flush()
  assert.equal(metaOf(b, a), { keep: 'me' }, 'only what was accepted travelled')
  await a.close()
  try {
    a.advertise('late', 1)
    assert.unreachable('a closed cache must refuse')
  } catch (error) {
    assert.is((error as MeshCacheError).code, ErrorCode.CLOSED)
  }
  await b.close()
})

test('SPEC §8 states the metadata limit the code enforces', () => {
  const spec = readFileSync(new URL('../SPEC.md', import.meta.url), 'utf8')
  const m = /`MAX_META_BYTES` = (\d+)/.exec(spec)
  assert.ok(m, 'SPEC.md names MAX_META_BYTES')
  assert.is(Number(m?.[1]), MAX_META_BYTES)
})

test.run()
