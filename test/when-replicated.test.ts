/**
 * whenReplicated(): resolves once every peer connected at the call has
 * applied the writes made before it (ACK_REQUEST / ACK, SPEC §5.1), on the
 * seeded memory network with reordering and loss; times out naming the
 * peers that did not confirm. test/mesh/when-replicated.test.ts runs it
 * across real processes.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ErrorCode, MeshCacheError, createMeshCache, type MeshCache } from '../lib/index.ts'
import { createMemoryNetwork } from '../lib/testing/index.ts'

async function mesh (n: number, seed: number, dropRate = 0) {
  const net = createMemoryNetwork({ seed, auto: true, dropRate })
  const nodes: Array<MeshCache<string>> = []
  for (let i = 0; i < n; i++) nodes.push(await createMeshCache<string>({ namespace: 'w', nodeId: `n${i}`, mode: 'replicate', transport: net.transport(`n${i}`), announceInterval: 50, syncInterval: 200 }))
  return { net, nodes, close: async () => { for (const c of nodes) await c.close() } }
}

test('after whenReplicated every peer holds every write made before the call (reordering and 20% loss)', async () => {
  const seed = Number(process.env.SEED ?? 17)
  const { nodes, close } = await mesh(3, seed, 0.2)
  try {
    const [a, ...others] = nodes as [MeshCache<string>, ...Array<MeshCache<string>>]
    await a.ready({ peers: 2, timeout: 5_000 })
    for (let i = 0; i < 50; i++) a.set(`k${i}`, `v${i}`)
    await a.whenReplicated({ timeout: 10_000 })
    for (const o of others) for (let i = 0; i < 50; i++) assert.is(o.get(`k${i}`), `v${i}`, `seed ${seed} (replay: SEED=${seed}): ${o.origin} k${i}`)
  } finally {
    await close()
  }
})

test('nothing written, or no peer: resolves at once', async () => {
  const { nodes, close } = await mesh(2, 1)
  const lone = await createMeshCache<string>({ namespace: 'alone', transport: createMemoryNetwork().transport('x') })
  try {
    await (nodes[0] as MeshCache<string>).whenReplicated()
    lone.set('k', 'v')
    await lone.whenReplicated()
  } finally {
    await close()
    await lone.close()
  }
})

test('a peer that cannot confirm: E_REPLICATION_TIMEOUT names it', async () => {
  const { net, nodes, close } = await mesh(3, 5)
  try {
    const [a] = nodes as [MeshCache<string>]
    await a.ready({ peers: 2, timeout: 5_000 })
    a.set('k', 'v')
    const waiting = a.whenReplicated({ timeout: 300 })
    net.partition(['n0', 'n1'], ['n2']) // n2 was a peer at the call, and now cannot confirm
    try {
      await waiting
      assert.unreachable('resolved without n2')
    } catch (e) {
      assert.instance(e, MeshCacheError)
      assert.is((e as MeshCacheError).code, ErrorCode.REPLICATION_TIMEOUT)
      assert.match((e as Error).message, /1 of 2 peer\(s\) did not confirm .*: n2$/)
    }
  } finally {
    await close()
  }
})

test('a lost last frame: the request itself shows the gap, and the peer repairs it at once', async () => {
  const net = createMemoryNetwork({ seed: 3 })
  const nodes: Array<MeshCache<string>> = []
  // No periodic rounds and announcements far off: only the request can start the repair.
  for (const name of ['a', 'b']) nodes.push(await createMeshCache<string>({ namespace: 'w', nodeId: name, mode: 'replicate', transport: net.transport(name), announceInterval: 60_000, syncInterval: 0 }))
  const [a, b] = nodes as [MeshCache<string>, MeshCache<string>]
  await net.flush()
  net.dropWhere((from, to, frame) => from === 'a' && to === 'b' && frame[1] === 0) // a's UPDATES to b
  a.set('k', 'v1')
  let settled: string | undefined
  const waiting = a.whenReplicated({ timeout: 5_000 }).then(() => { settled = 'resolved' }, (e: Error) => { settled = e.message })
  await net.flush()
  net.dropWhere(undefined)
  await net.flush()
  assert.is(settled, 'resolved', 'confirmed once the request had started the repair')
  assert.is(b.get('k'), 'v1')
  assert.ok(b.stats().repairs > 0, 'by anti-entropy')
  await waiting
  for (const c of nodes) await c.close()
})

test('bad arguments and a closed cache are refused', async () => {
  const { nodes, close } = await mesh(1, 1)
  const [a] = nodes as [MeshCache<string>]
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    try {
      await a.whenReplicated({ timeout: bad })
      assert.unreachable()
    } catch (e) {
      assert.is((e as MeshCacheError).code, ErrorCode.INVALID_ARGUMENT)
    }
  }
  await close()
  try {
    await a.whenReplicated()
    assert.unreachable()
  } catch (e) {
    assert.is((e as MeshCacheError).code, ErrorCode.CLOSED)
  }
})

test.run()
