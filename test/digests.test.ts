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
import { decodeFrame, encodeFrame, MessageType } from '../protocol/index.ts'
import { ErrorCode } from '../lib/errors.ts'
import { captureTransport } from './helpers/capture-transport.ts'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as decoding from 'lib0/decoding'
import * as Y from 'yjs'
import { Membership, type MemberState } from '../lib/sync/membership.ts'
import { FULL_DIGEST_EVERY } from '../lib/sync/digests.ts'
import { PARTIAL_RENEW_MS } from '../lib/sync/replication.ts'
import { readFileSync } from 'node:fs'

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

interface Seen { byType: Map<number, number>, digestHops: Set<string>, lastAwareness: number, announced: Map<string, number> }

/** Each member state in an AWARENESS frame: origin → seq (y-protocols' update: count • (client • clock • JSON)*). */
function statesIn (frame: Uint8Array): Array<{ origin: string, seq: number }> {
  const msg = decodeFrame(frame)
  if (msg.type !== MessageType.AWARENESS) return []
  const d = decoding.createDecoder(msg.update)
  const out: Array<{ origin: string, seq: number }> = []
  for (let n = decoding.readVarUint(d); n > 0; n--) {
    decoding.readVarUint(d)
    decoding.readVarUint(d)
    const state = JSON.parse(decoding.readVarString(d)) as { origin?: string, seq?: number } | null
    if (state?.origin !== undefined && state.seq !== undefined) out.push({ origin: state.origin, seq: state.seq })
  }
  return out
}

async function mesh (n: number, links: 'chain' | 'full', tickMs = TICK_MS): Promise<{ net: MemoryNetwork, nodes: Array<MeshCache<string>>, names: string[], edges: Array<[string, string]> | undefined, seen: Seen, drop: (rule: DropRule) => void }> {
  const names = Array.from({ length: n }, (_, i) => `n${i}`)
  const edges = links === 'chain' ? chainOf(names) : undefined
  const net = createMemoryNetwork({ auto: true, latency: [0, 1], ...(edges !== undefined ? { links: edges, spread: true } : {}) })
  const nodes: Array<MeshCache<string>> = []
  for (const name of names) {
    // No periodic rounds: nothing but the announcements can reveal a lost last frame.
    nodes.push(await createMeshCache<string>({ namespace: 'd', nodeId: name, mode: 'replicate', transport: net.transport(name), syncInterval: 0, announceInterval: tickMs }))
  }
  // Counts frames by message type (byte 1) as the network delivers or drops them, and which hops digests took.
  const seen: Seen = { byType: new Map(), digestHops: new Set(), lastAwareness: Date.now(), announced: new Map() }
  let drop: DropRule | undefined
  net.dropWhere((from, to, frame) => {
    const type = frame[1] as number
    seen.byType.set(type, (seen.byType.get(type) ?? 0) + 1)
    if (type === MessageType.DIGEST) seen.digestHops.add(`${from} ${to}`)
    if (type === MessageType.AWARENESS) {
      seen.lastAwareness = Date.now()
      for (const { origin, seq } of statesIn(frame)) seen.announced.set(origin, Math.max(seen.announced.get(origin) ?? 0, seq))
    }
    return drop?.(from, to, frame) === true
  })
  nodes[0]?.set('warm', 'w')
  await until(() => nodes.every((c) => c.get('warm') === 'w') && nodes.every((c) => c.peers().length === n - 1), 'the warm-up write and full membership')
  // Membership settled: the joins (and, in a partial mesh, their forwarding by neighbours) are over.
  await until(() => Date.now() - seen.lastAwareness > 5 * TICK_MS, 'membership traffic to settle', 5 * tickMs + 3000)
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
    // n2 repaired it from n1's digest; further on the repair relay (SPEC §6.1) or the next digests carried it.
    assert.ok((nodes[2]?.stats().repairs ?? 0) >= 1, 'n2 got it by repair')
    assert.ok((seen.byType.get(MessageType.UPDATES) ?? 0) >= 1, 'the write was sent and lost')
    // Not announced by a relayed awareness update: n0's number moved to 2, but only digests told anyone.
    assert.ok((seen.announced.get(nodes[0]?.origin as string) ?? 0) < 2, 'no awareness frame announced n0\'s last number')
  } finally {
    net.dropWhere(undefined)
    for (const c of nodes) await c.close()
  }
})

test('a partial mesh: a write lost on the second hop of ten is repaired across the other eight within about one tick (the first digest, then the repair relay), not one a hop', async () => {
  const TICK = 1000
  const { net, nodes } = await mesh(10, 'chain', TICK)
  try {
    // Real time: n0's warm-up frame must be two periods old, or n0 still counts as flowing (SPEC §5)
    // and every instance rightly leaves its tail to the next frame or tick.
    await new Promise((resolve) => setTimeout(resolve, 2 * TICK + 100))
    net.dropWhere((from, to, frame) => from === 'n1' && to === 'n2' && frame[1] === MessageType.UPDATES)
    nodes[0]?.set('last', 'v')
    await until(() => nodes[1]?.get('last') === 'v', 'n1 to receive the write')
    const lost = Date.now()
    // n1's next tick (up to one period) tells n2, which repairs; its repair is relayed on (SPEC §6.1).
    await until(() => nodes.every((c) => c.get('last') === 'v'), 'every instance to hold the last write', 10 * TICK)
    const took = Date.now() - lost
    // A tick a hop (each repaired instance waiting for its own next tick) would take about 1 + 7 × 0.5 periods.
    assert.ok(took < 2.5 * TICK, `the last of 8 hops repaired ${took} ms after the loss (ticks every ${TICK} ms)`)
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
    for (const c of nodes) assert.ok((seen.announced.get(c.origin) ?? 0) < c.stats().localUpdates, `no awareness frame announced ${c.origin}'s last number`)
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

test('a partial mesh: a member\'s renewal crosses the mesh hop by hop, batched per neighbour on the tick (in its digest), never relayed to all', () => {
  // A chain x - b - c - d of Memberships; x is a plain awareness (a member b hears of directly).
  const members = new Map<string, Membership>()
  const broadcasts: string[] = []
  const sent: string[] = []
  let batch = true
  const wire = (name: string) => ({
    broadcast: () => { broadcasts.push(name) },
    send: (peer: string, update: Uint8Array) => { members.get(peer)?.apply(update, name) },
    onSummary: () => {},
    batchRenewals: () => batch,
  })
  const state = (name: string): MemberState => ({ origin: `${name}~1`, nodeId: name, incarnation: '1', region: '', namespaces: ['m'], seq: 0 })
  for (const name of ['b', 'c', 'd']) members.set(name, new Membership(state(name), wire(name), { maxClockSkew: 5_000 }))
  const [b, c, d] = ['b', 'c', 'd'].map((n) => members.get(n) as Membership) as [Membership, Membership, Membership]
  const x = new awarenessProtocol.Awareness(new Y.Doc())
  x.setLocalState(state('x'))
  // The announcement tick's part: each passes on what moved, in its digest to each neighbour.
  const tick = (): void => {
    for (const [name, m, neighbours] of [['b', b, ['x', 'c']], ['c', c, ['b', 'd']], ['d', d, ['c']]] as const) {
      for (const [peer, update] of m.takeRenewals(neighbours)) {
        sent.push(`${name} ${peer}`)
        members.get(peer)?.apply(update, name)
      }
    }
  }
  try {
    broadcasts.length = 0
    b.apply(awarenessProtocol.encodeAwarenessUpdate(x, [x.clientID]), 'x')
    tick() // b passes x on to c (not back to x)
    tick() // c to d
    assert.equal(d.peers().filter((p) => p.nodeId === 'x').map((p) => [p.seq, p.peer]), [[0, 'c']], 'd heard of x through c')
    x.setLocalState({ ...state('x'), seq: 7 }) // x's renewal (with a moved number)
    b.apply(awarenessProtocol.encodeAwarenessUpdate(x, [x.clientID]), 'x')
    sent.length = 0
    tick()
    assert.equal(sent, ['b c', 'c d'], 'one update a link a tick, along the chain, none back to where it came from')
    assert.is(d.peers().find((p) => p.nodeId === 'x')?.seq, 7)
    tick()
    assert.equal(sent, ['b c', 'c d'], 'd does not send it back to c, where it came from; nothing moved: nothing sent')
    assert.equal(broadcasts, [], 'no relayed broadcast of a renewal')
    // A full mesh: nothing waits for a tick (renewals are broadcast as before).
    batch = false
    sent.length = 0
    x.setLocalState({ ...state('x'), seq: 8 })
    b.apply(awarenessProtocol.encodeAwarenessUpdate(x, [x.clientID]), 'x')
    tick()
    assert.equal(sent, [], 'not batched in a full mesh')
  } finally {
    x.destroy()
    for (const m of members.values()) m.destroy()
  }
})

test('a DIGEST: a neighbour ahead is asked at once; one whose awareness part is malformed is refused whole and asks nothing', async () => {
  const cap = captureTransport()
  const a = await createMeshCache<string>({ namespace: 'm', transport: cap.transport, syncInterval: 0, announceInterval: 60_000 })
  try {
    const errors: string[] = []
    a.on('frameError', (e) => errors.push(e.error.code))
    const asked = (): number => cap.sent.filter((s) => s.to === 'peer' && s.frame[1] === MessageType.SYNC_STEP1).length
    // The request made on joining is answered (nothing to send), so the next one goes out at once.
    const first = cap.sent.find((s) => s.frame[1] === MessageType.SYNC_STEP1)
    const step1 = first === undefined ? undefined : decodeFrame(first.frame)
    assert.ok(step1?.type === MessageType.SYNC_STEP1)
    cap.deliver('peer', encodeFrame({ type: MessageType.SYNC_STEP2, syncId: step1.syncId, part: 0, parts: 1, sv: new Map(), records: [] }))
    const before = asked()
    cap.deliver('peer', encodeFrame({ type: MessageType.DIGEST, sv: new Map([['x~1', 5]]), update: Uint8Array.of(1, 5, 1, 3, 123, 34, 120) }))
    assert.equal(errors, [ErrorCode.FRAME_MALFORMED])
    assert.is(asked(), before, 'refused whole: no request')
    cap.deliver('peer', encodeFrame({ type: MessageType.DIGEST, sv: new Map([['x~1', 5]]), update: new Uint8Array(0) }))
    assert.is(asked(), before + 1, 'behind x~1: asked the neighbour that has it')
    cap.deliver('peer', encodeFrame({ type: MessageType.DIGEST, sv: new Map([['x~1', 5]]), update: new Uint8Array(0) }))
    assert.is(asked(), before + 1, 'not asked again within an announcement period')
    cap.deliver('peer', encodeFrame({ type: MessageType.DIGEST, sv: new Map([[a.origin, 99]]), update: new Uint8Array(0) }))
    assert.is(asked(), before + 1, 'our own origin is never asked about')
  } finally {
    await a.close()
  }
})

test('SPEC.md names the digest constants the code uses', () => {
  const spec = readFileSync(new URL('../SPEC.md', import.meta.url), 'utf8')
  assert.is(Number(/`FULL_DIGEST_EVERY` \((\d+)\)/.exec(spec)?.[1]), FULL_DIGEST_EVERY)
  assert.is(Number(/`PARTIAL_RENEW_MS` \(([\d.]+) s\)/.exec(spec)?.[1]) * 1000, PARTIAL_RENEW_MS)
})

test.run()
