/**
 * The repair relay (lib/sync/repair-relay.ts, SPEC §6.1): in a partial mesh,
 * what an anti-entropy answer repaired is re-published once on the relay, so
 * a healed cut spreads across each side in one pass instead of one exchange
 * a hop (each waiting for an announcement tick or a periodic round).
 *
 * Two "regions" on the seeded memory network, each a chain of four, joined by
 * one far link n0 – n4, broadcasts spread hop by hop (`spread`, as gossipsub).
 * No timer ever fires (the clock is never advanced): announcement ticks and
 * periodic rounds cannot carry anything, so whatever crosses a region after
 * the heal was relayed.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { MeshCache } from '../lib/index.ts'
import { AntiEntropy, type SyncHost } from '../lib/sync/anti-entropy.ts'
import { RELAY_BUDGET, RELAYED_SYNC_ID, RepairRelay } from '../lib/sync/repair-relay.ts'
import { decodeFrame, DEFAULT_LIMITS, encodeFrame, MessageType, RecordKind } from '../protocol/index.ts'
import type { WireRecord } from '../protocol/record.ts'
import { cluster, type Cluster } from './helpers/cluster.ts'

const REGION_A = ['n0', 'n1', 'n2', 'n3']
const REGION_B = ['n4', 'n5', 'n6', 'n7']
const LINKS: Array<[string, string]> = [['n0', 'n1'], ['n1', 'n2'], ['n2', 'n3'], ['n4', 'n5'], ['n5', 'n6'], ['n6', 'n7'], ['n0', 'n4']]
const KEYS = 10

const keys = (prefix: string): string[] => Array.from({ length: KEYS }, (_, i) => `${prefix}:${i}`)

/** Cuts the regions apart, writes KEYS keys at node `writers[0]` (region A) and `writers[1]` (B), heals; returns the caches. */
async function cutWriteHeal (c: Cluster<string>, writers: [number, number] = [3, 7]): Promise<Array<MeshCache<string>>> {
  const nodes = c.nodes
  await c.net.flush()
  c.net.partition(REGION_A, REGION_B)
  for (const k of keys('a')) nodes[writers[0]]?.set(k, 'from a')
  for (const k of keys('b')) nodes[writers[1]]?.set(k, 'from b')
  await c.net.flush()
  assert.is(nodes[0]?.get('b:0'), undefined, 'the cut held')
  c.net.heal()
  await c.net.flush()
  return nodes
}

test('a healed cut in a partial mesh reaches every node of both sides with no timer: the repairs are relayed', async () => {
  const c = await cluster<string>(8, { mode: 'replicate' }, { links: LINKS, spread: true, seed: 7 })
  try {
    const nodes = await cutWriteHeal(c)
    for (const [i, node] of nodes.entries()) {
      for (const k of [...keys('a'), ...keys('b')]) assert.is(node.get(k), k.startsWith('a') ? 'from a' : 'from b', `n${i} lacks ${k}`)
    }
    // Only the two ends of the far link repaired; the rest merged the relayed records as ordinary updates.
    assert.is(nodes[0]?.stats().repairs, KEYS)
    assert.is(nodes[4]?.stats().repairs, KEYS)
    for (const i of [1, 2, 3, 5, 6, 7]) {
      assert.is(nodes[i]?.stats().repairs, 0, `n${i} counted a relayed record as a repair (and would relay it again)`)
      // Relayed records mark no sequence number: no gap was seen, none of the origin's frames claimed.
      assert.is(nodes[i]?.stats().gapsDetected, 0, `n${i} saw a gap`)
    }
  } finally {
    await c.close()
  }
})

test('without relaying (a full mesh reaches everyone directly), repairs stay with the repairer', async () => {
  // Same graph, no hop-by-hop spread: the transport says it does not relay, so nothing is re-published.
  // B's writes are made at n4, the far link's end (without spread a write reaches only the neighbours).
  const c = await cluster<string>(8, { mode: 'replicate' }, { links: LINKS, spread: false, seed: 7 })
  try {
    const nodes = await cutWriteHeal(c, [3, 4])
    assert.is(nodes[0]?.get('b:0'), 'from b', 'the far link\'s end repaired')
    assert.is(nodes[1]?.get('b:0'), undefined, 'a repair was broadcast though the transport does not relay')
  } finally {
    await c.close()
  }
})

test('relayed records leave the state vectors to the exchanges: after them, the origin\'s next frame is no gap', async () => {
  const c = await cluster<string>(8, { mode: 'replicate' }, { links: LINKS, spread: true, seed: 11 })
  try {
    const nodes = await cutWriteHeal(c)
    const gaps = nodes.map((n) => n.stats().gapsDetected)
    // Vectors cross one hop per exchange (SPEC §11.1): as many rounds as the longest path.
    for (let round = 0; round < 5; round++) {
      for (const node of nodes) node.sync()
      await c.net.flush()
    }
    nodes[7]?.set('after', 'heal')
    nodes[3]?.set('after-a', 'heal')
    await c.net.flush()
    for (const [i, node] of nodes.entries()) {
      assert.is(node.get('after'), 'heal')
      assert.is(node.get('after-a'), 'heal')
      assert.is(node.stats().gapsDetected, gaps[i], `n${i} took a next frame for a gap`)
    }
  } finally {
    await c.close()
  }
})

const record = (i: number): WireRecord => ({ key: `k${i}`, kind: RecordKind.SET, hlc: 1_000 + i, writer: 'o', vv: ['o', i + 1] })

test('RepairRelay: relays only where the transport relays, batched per run, as a syncId-0 answer part', async () => {
  const frames: Uint8Array[] = []
  let relays = false
  const relay = new RepairRelay({ relays: () => relays, broadcast: (f) => { frames.push(f) }, now: () => 0 }, 1_000)
  relay.offer([record(0)])
  await Promise.resolve()
  assert.is(frames.length, 0, 'relayed where the transport does not relay')
  relays = true
  relay.offer([record(1), record(2)])
  relay.offer([record(3)])
  await Promise.resolve()
  assert.is(frames.length, 1, 'one run, one frame')
  const msg = decodeFrame(frames[0] as Uint8Array, DEFAULT_LIMITS)
  assert.ok(msg.type === MessageType.SYNC_STEP2)
  if (msg.type !== MessageType.SYNC_STEP2) return
  assert.is(msg.syncId, RELAYED_SYNC_ID)
  assert.equal([msg.part, msg.parts, msg.sv.size], [0, 1, 0])
  assert.equal(msg.records.map((r) => r.key), ['k1', 'k2', 'k3'])
})

test('RepairRelay: at most RELAY_BUDGET records a second; the rest is left to ordinary repair', async () => {
  let sent = 0
  let t = 0
  const relay = new RepairRelay({ relays: () => true, broadcast: (f) => { const m = decodeFrame(f, DEFAULT_LIMITS); if (m.type === MessageType.SYNC_STEP2) sent += m.records.length }, now: () => t }, 1_000)
  relay.offer(Array.from({ length: RELAY_BUDGET + 100 }, (_, i) => record(i)))
  await Promise.resolve()
  assert.is(sent, RELAY_BUDGET)
  assert.is(relay.skipped, 100)
  relay.offer([record(1)])
  await Promise.resolve()
  assert.is(sent, RELAY_BUDGET, 'the budget was spent')
  t += 500
  relay.offer(Array.from({ length: RELAY_BUDGET }, (_, i) => record(i)))
  await Promise.resolve()
  assert.is(sent, RELAY_BUDGET + RELAY_BUDGET / 2, 'half a second refills half the budget')
})

test('AntiEntropy: a syncId-0 answer part is merged as relayed, never as a repair of a session', () => {
  const repaired: WireRecord[][] = []
  const relayed: WireRecord[][] = []
  const advanced: unknown[] = []
  const sent: Uint8Array[] = []
  const host: SyncHost = {
    stateVector: () => new Map(),
    reportedStateVector: () => new Map(),
    flowing: () => new Set(),
    recordsBeyond: (_sv, done) => { done([]) },
    applyRepair: (r) => { repaired.push(r) },
    applyRelayed: (r) => { relayed.push(r) },
    advance: (sv) => { advanced.push(sv) },
    send: (_p, f) => { sent.push(f) },
    now: () => 0,
  }
  const sync = new AntiEntropy(host, 1_000, 10_000)
  const frame = decodeFrame(encodeFrame({ type: MessageType.SYNC_STEP2, syncId: RELAYED_SYNC_ID, part: 0, parts: 1, sv: new Map([['o', 9]]), records: [record(0)] }), DEFAULT_LIMITS)
  if (frame.type !== MessageType.SYNC_STEP2) throw new Error('not a step 2')
  sync.onStep2('p', frame)
  assert.is(relayed.length, 1)
  assert.is(repaired.length, 0)
  assert.is(advanced.length, 0, 'a relayed part raised the state vector')
})

test.run()
