/**
 * A partial mesh's sequence announcements (SPEC §5, §11.1, lib/sync/digests.ts),
 * on the memory network with a topology (`links`) and gossipsub-like relaying
 * (`spread`): every instance tells its neighbours, on the announcement tick,
 * what moved of its state vector (DIGEST), instead of re-broadcasting its own
 * number to all; a neighbour behind asks (anti-entropy), so a lost last frame
 * is repaired hop by hop. The full mesh keeps the relayed announcement.
 *
 * Real timers: the announcement tick is the mechanism under test, so it runs
 * (every 10 ms here); each wait is a guard that resolves as soon as its
 * condition holds.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMeshCache, type MeshCache } from '../lib/index.ts'
import { createMemoryNetwork, type MemoryNetwork } from '../lib/testing/index.ts'
import { MessageType } from '../protocol/index.ts'

const TICK_MS = 10
type DropRule = (from: string, to: string, frame: Uint8Array) => boolean

function until (cond: () => boolean, what: string, ms = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const check = (): void => {
      if (cond()) return resolve()
      if (Date.now() - started > ms) return reject(new Error(`timed out waiting for ${what}`))
      setTimeout(check, 1)
    }
    check()
  })
}

const chainOf = (names: string[]): Array<[string, string]> => names.slice(1).map((name, i) => [names[i] as string, name])

interface Seen { byType: Map<number, number>, digestHops: Set<string>, lastAwareness: number }

async function mesh (n: number, links: 'chain' | 'full'): Promise<{ net: MemoryNetwork, nodes: Array<MeshCache<string>>, names: string[], edges: Array<[string, string]> | undefined, seen: Seen, drop: (rule: DropRule) => void }> {
  const names = Array.from({ length: n }, (_, i) => `n${i}`)
  const edges = links === 'chain' ? chainOf(names) : undefined
  const net = createMemoryNetwork({ auto: true, latency: [0, 1], ...(edges !== undefined ? { links: edges, spread: true } : {}) })
  const nodes: Array<MeshCache<string>> = []
  for (const name of names) {
    // No periodic rounds: nothing but the announcements can reveal a lost last frame.
    nodes.push(await createMeshCache<string>({ namespace: 'd', nodeId: name, mode: 'replicate', transport: net.transport(name), syncInterval: 0, announceInterval: TICK_MS }))
  }
  // Counts frames by message type (byte 1) as the network delivers or drops them, and which hops digests took.
  const seen: Seen = { byType: new Map(), digestHops: new Set(), lastAwareness: Date.now() }
  let drop: DropRule | undefined
  net.dropWhere((from, to, frame) => {
    const type = frame[1] as number
    seen.byType.set(type, (seen.byType.get(type) ?? 0) + 1)
    if (type === MessageType.DIGEST) seen.digestHops.add(`${from} ${to}`)
    if (type === MessageType.AWARENESS) seen.lastAwareness = Date.now()
    return drop?.(from, to, frame) === true
  })
  nodes[0]?.set('warm', 'w')
  await until(() => nodes.every((c) => c.get('warm') === 'w') && nodes.every((c) => c.peers().length === n - 1), 'the warm-up write and full membership')
  // Membership settled: the joins (and, in a partial mesh, their forwarding by neighbours) are over.
  await until(() => Date.now() - seen.lastAwareness > 5 * TICK_MS, 'membership traffic to settle')
  seen.byType.clear()
  seen.digestHops.clear()
  return { net, nodes, names, edges, seen, drop: (rule) => { drop = rule } }
}

test('a partial mesh: a lost last frame, four hops from the writer, is repaired hop by hop from neighbours\' digests', async () => {
  const { net, nodes, seen, drop } = await mesh(6, 'chain')
  try {
    // Every copy of UPDATES from n1 to n2 is lost: n2 to n5 (2 to 5 hops from the writer) miss it, and
    // no later frame of n0 shows them a gap (it is n0's last write).
    drop((from, to, frame) => from === 'n1' && to === 'n2' && frame[1] === MessageType.UPDATES)
    nodes[0]?.set('last', 'v')
    await until(() => nodes[1]?.get('last') === 'v', 'n1 to receive the write')
    await until(() => nodes.every((c) => c.get('last') === 'v'), 'every instance to hold the last write')
    for (const c of nodes.slice(2)) assert.ok(c.stats().repairs >= 1, `${c.origin} got it by repair`)
    assert.ok((seen.byType.get(MessageType.UPDATES) ?? 0) >= 1, 'the write was sent and lost')
    // Not announced by a relayed awareness update: n0's number moved, but only digests told anyone.
    assert.is(seen.byType.get(MessageType.AWARENESS) ?? 0, 0, 'no awareness frame (no relayed announcement)')
  } finally {
    net.dropWhere(undefined)
    for (const c of nodes) await c.close()
  }
})

test('a partial mesh: digests go to neighbours only, and only while something moved', async () => {
  const { net, nodes, edges, seen } = await mesh(5, 'chain')
  try {
    for (let i = 0; i < 10; i++) nodes[i % 5]?.set(`k${i}`, 'v')
    await until(() => nodes.every((c) => c.get('k9') === 'v'), 'the writes everywhere')
    await until(() => seen.byType.has(MessageType.DIGEST), 'digests')
    const links = new Set((edges ?? []).flatMap(([a, b]) => [`${a} ${b}`, `${b} ${a}`]))
    for (const hop of seen.digestHops) assert.ok(links.has(hop), `a digest went ${hop}, not along a link`)
    assert.is(seen.byType.get(MessageType.AWARENESS) ?? 0, 0, 'no relayed announcement')
    // Quiet: once every vector stopped moving, digests stop too (but for the full one every few ticks).
    await new Promise((resolve) => setTimeout(resolve, 3 * TICK_MS)) // real time: ticks must pass for the vectors to settle
    const before = seen.byType.get(MessageType.DIGEST) ?? 0
    await new Promise((resolve) => setTimeout(resolve, 4 * TICK_MS)) // real time: four ticks, fewer than one full-digest period (FULL_DIGEST_EVERY)
    const quiet = (seen.byType.get(MessageType.DIGEST) ?? 0) - before
    assert.ok(quiet <= 2 * (edges?.length ?? 0), `${quiet} digests in 4 quiet ticks: at most one full round (one per neighbour)`)
  } finally {
    net.dropWhere(undefined)
    for (const c of nodes) await c.close()
  }
})

test('a full mesh keeps the relayed announcement, and sends no digest', async () => {
  const { net, nodes, seen, drop } = await mesh(4, 'full')
  try {
    drop((from, to, frame) => from === 'n0' && to === 'n3' && frame[1] === MessageType.UPDATES)
    nodes[0]?.set('last', 'v')
    await until(() => nodes[3]?.get('last') === 'v', 'n3 to repair the lost write')
    assert.ok((seen.byType.get(MessageType.AWARENESS) ?? 0) >= 3, 'n0 announced its number to all three')
    assert.is(seen.byType.get(MessageType.DIGEST) ?? 0, 0, 'no digest in a full mesh')
  } finally {
    net.dropWhere(undefined)
    for (const c of nodes) await c.close()
  }
})

test.run()
