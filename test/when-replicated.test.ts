/**
 * whenReplicated(): resolves once every peer connected at the call has
 * applied the writes made before it (ACK_REQUEST / ACK, SPEC §5.1), on the
 * seeded memory network with reordering and loss; times out naming the
 * peers that did not confirm. In a partial mesh (a `links` graph, broadcasts
 * spread hop by hop) the members beyond the neighbours confirm too, by
 * RELAY_ACK_REQUEST / RELAY_ACK. test/mesh/when-replicated.test.ts runs it
 * across real processes, test/mesh/when-replicated-partial.test.ts over a
 * partial libp2p mesh.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ErrorCode, MeshCacheError, createMeshCache, type MeshCache } from '../lib/index.ts'
import { createMemoryNetwork, type MemoryNetworkOptions } from '../lib/testing/index.ts'
import * as prng from 'lib0/prng'
import { randomGraph } from './helpers/graphs.ts'
import { eachSeed, seedsFromEnv } from './helpers/seeds.ts'
import { MessageType } from '../protocol/index.ts'

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

/** n caches on the memory network as a partial mesh; resolves once every node's membership lists every other as reachable. */
async function graph (names: string[], links: Array<[string, string]>, options: MemoryNetworkOptions, syncInterval = 0) {
  const net = createMemoryNetwork({ auto: true, links, spread: true, ...options })
  const nodes: Array<MeshCache<string>> = []
  // syncInterval 0: only the call itself may start a repair, so nothing else hides a missed relay.
  for (const name of names) nodes.push(await createMeshCache<string>({ namespace: 'w', nodeId: name, mode: 'replicate', transport: net.transport(name), announceInterval: 50, syncInterval }))
  const deadline = Date.now() + 5_000
  while (!nodes.every((n) => n.peers().filter((p) => p.connected).length === names.length - 1)) {
    if (Date.now() > deadline) throw new Error(`membership did not spread: ${nodes.map((n) => n.peers().filter((p) => p.connected).length).join(',')}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return { net, nodes, close: async () => { for (const c of nodes) await c.close() } }
}

test('a partial mesh: whenReplicated waits for the members beyond the neighbours, and a far member that lost the write repairs it', async () => {
  // n0 – n1 – n2: n2 is no neighbour of n0, and loses every copy of n0's writes n1 passes on.
  const { net, nodes, close } = await graph(['n0', 'n1', 'n2'], [['n0', 'n1'], ['n1', 'n2']], { seed: 3 })
  try {
    const [a, , c] = nodes as [MeshCache<string>, MeshCache<string>, MeshCache<string>]
    net.dropWhere((from, to, f) => from === 'n1' && to === 'n2' && f[1] === MessageType.UPDATES)
    a.set('k', 'v1')
    await a.whenReplicated({ timeout: 5_000 })
    assert.is(c.get('k'), 'v1', 'n2, two hops away, holds the write once the call resolved')
    assert.ok(c.stats().repairs > 0, 'it learned it by the repair the relayed request started')
  } finally {
    await close()
  }
})

test('a partial mesh: a member heard through a neighbour since let go reads connected, and is waited for', async () => {
  // n2's state reaches n0 through n1; then n0 lets n1 go and n2 links with n3: n2 is as reachable as before (via
  // n3). Judged by the neighbour its state came through, n0 read it not connected until its next renewal came by
  // the new path (up to 7.5 s), and whenReplicated skipped it.
  const { net, nodes, close } = await graph(['n0', 'n1', 'n2', 'n3'], [['n0', 'n1'], ['n1', 'n2'], ['n0', 'n3']], { seed: 6 })
  try {
    const [a, , c] = nodes as [MeshCache<string>, MeshCache<string>, MeshCache<string>]
    net.setLinks([['n0', 'n3'], ['n3', 'n2'], ['n1', 'n2']])
    await new Promise((resolve) => setTimeout(resolve, 20))
    assert.is(a.peers().find((p) => p.nodeId === 'n2')?.peer, 'n1', 'n2\'s state came through n1, no longer a neighbour')
    assert.is(a.peers().find((p) => p.nodeId === 'n2')?.connected, true, 'n0 reads n2 as connected: its renewals keep arriving')
    net.dropWhere((from, to, f) => to === 'n2' && f[1] === MessageType.UPDATES) // n2 loses every copy of the write
    a.set('k', 'v1')
    await a.whenReplicated({ timeout: 5_000 })
    assert.is(c.get('k'), 'v1', 'n2 holds the write once the call resolved')
  } finally {
    await close()
  }
})

test('a partial mesh: a far member cut off after the call is named by the timeout', async () => {
  const { net, nodes, close } = await graph(['n0', 'n1', 'n2'], [['n0', 'n1'], ['n1', 'n2']], { seed: 4 })
  try {
    const [a] = nodes as [MeshCache<string>]
    a.set('k', 'v')
    const waiting = a.whenReplicated({ timeout: 300 })
    net.partition(['n0', 'n1'], ['n2'])
    try {
      await waiting
      assert.unreachable('resolved without n2')
    } catch (e) {
      assert.is((e as MeshCacheError).code, ErrorCode.REPLICATION_TIMEOUT)
      assert.match((e as Error).message, /1 of 2 peer\(s\) did not confirm .*: n2$/)
    }
  } finally {
    await close()
  }
})

test('a full mesh asks its neighbours with ACK_REQUEST alone; a partial mesh relays', async () => {
  for (const [links, expected] of [[undefined, MessageType.ACK_REQUEST], [[['n0', 'n1'], ['n1', 'n2']], MessageType.RELAY_ACK_REQUEST]] as const) {
    const asked = new Set<number>()
    const { net, nodes, close } = await graph(['n0', 'n1', 'n2'], links as unknown as Array<[string, string]>, { seed: 5 })
    try {
      net.dropWhere((from, _to, f) => { if (from === 'n0' && (f[1] === MessageType.ACK_REQUEST || f[1] === MessageType.RELAY_ACK_REQUEST)) asked.add(f[1] as number); return false })
      const [a] = nodes as [MeshCache<string>]
      a.set('k', 'v')
      await a.whenReplicated({ timeout: 5_000 })
      assert.equal([...asked], [expected], links === undefined ? 'full mesh' : 'partial mesh')
    } finally {
      await close()
    }
  }
})

const { seeds } = seedsFromEnv(4)

test(`${seeds.length} seeded partial meshes with loss: after whenReplicated every member holds what the writer wrote`, async () => {
  await eachSeed(seeds, 'whenReplicated over a partial mesh', 'test/when-replicated.test.ts', async (seed) => {
    const gen = prng.create(seed)
    const names = Array.from({ length: prng.int32(gen, 5, 9) }, (_, i) => `n${i}`)
    const links = randomGraph(gen, names, 0.1)
    const { net, nodes, close } = await graph(names, links, { seed }, 200)
    // The loss starts once membership has spread (the call is under test, not membership's renewals): a third of
    // the writes' copies, and a few percent of every other frame, requests and answers included (asked again).
    const lossOfWrites = 0.2 + prng.real53(gen) * 0.2
    net.setFaults({ dropRate: 0.02 + prng.real53(gen) * 0.06 })
    net.dropWhere((_from, _to, f) => f[1] === MessageType.UPDATES && prng.real53(gen) < lossOfWrites)
    try {
      for (let round = 0; round < 4; round++) {
        const writer = prng.oneOf(gen, nodes)
        const truth = new Map<string, string>()
        for (let i = 0, n = prng.int32(gen, 1, 20); i < n; i++) {
          const key = `${writer.origin}:k${prng.int32(gen, 0, 9)}`
          const value = `r${round}v${i}`
          writer.set(key, value)
          truth.set(key, value)
        }
        await writer.whenReplicated({ timeout: 20_000 })
        for (const node of nodes) {
          for (const [key, value] of truth) assert.is(node.get(key), value, `${node.origin} right after ${writer.origin}'s whenReplicated, ${key} (graph ${JSON.stringify(links)})`)
        }
      }
    } finally {
      await close()
    }
  })
})

test.run()
