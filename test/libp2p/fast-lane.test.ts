/**
 * The fast lane's rules and seen-cache (lib/net/libp2p/fast-lane.ts), on a
 * simulated network of lanes in one process: who forwards what, at which hop,
 * and that each instance hands a frame to its core once whichever path
 * brought it first. Over real processes in two regions:
 * test/netns/regions.test.ts.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { FastLane, fastLaneKey, Hop, RELAYED, SeenFrames, type FastLaneHost, type HopValue } from '../../lib/net/libp2p/fast-lane.ts'
import { BodyReader, CHUNK_BYTES, encodeFast, MSG_FAST } from '../../lib/net/libp2p/envelope.ts'
import type { LocalNamespace } from '../../lib/net/libp2p/namespaces.ts'
import { emptyStats, type TransportStats } from '../../lib/net/libp2p/stats.ts'
import { encodeFrame, MessageType, RecordKind } from '../../protocol/index.ts'
import { createLibp2pTransport } from '../../lib/net/libp2p/index.ts'
import { encodeHello, encodeJoin, PROTOCOL } from '../../lib/net/libp2p/envelope.ts'
import { buildNode } from '../../lib/net/libp2p/node.ts'
import { FaultSwitch } from '../../lib/net/libp2p/fault.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { recorder, until } from './helpers.ts'

const updates = (origin: string, firstSeq: number, key = 'k'): Uint8Array => encodeFrame({
  type: MessageType.UPDATES,
  origin,
  firstSeq,
  records: [{ key, kind: RecordKind.INVALIDATE, hlc: 1_700_000_000_000_000, writer: origin, vv: [origin, firstSeq] }],
})

/** A namespace whose core knows the regions `written` of the writers (membership; FrameHandler.regionOf). */
const ns = (id = 1, written: Record<string, string> = {}): LocalNamespace =>
  ({ id, name: `ns${id}`, handler: { onFrame () {}, onPeerUp () {}, onPeerDown () {}, regionOf: origin => written[origin] }, open: true })

interface Sent { from: string, to: string, hop: HopValue }

/**
 * Instances named `<region><n>` (a1, b2…) with the given links; every sent
 * FAST envelope is decoded and queued, and delivered in order by `run()`.
 */
function network (links: Array<[string, string]>, opts: { regions?: boolean, writable?: (to: string) => boolean, holders?: string[], written?: Record<string, string>, deferring?: string[], oneCopy?: boolean } = {}) {
  const space = ns(1, opts.written)
  const neighbours = new Map<string, string[]>()
  for (const [x, y] of links) {
    neighbours.set(x, [...neighbours.get(x) ?? [], y])
    neighbours.set(y, [...neighbours.get(y) ?? [], x])
  }
  const delivered = new Map<string, Array<{ from: string, frame: Uint8Array }>>()
  const stats = new Map<string, TransportStats>()
  const sent: Sent[] = []
  /** Instances that published a frame on gossipsub for the lane (FastLaneHost.relay). */
  const relayed: string[] = []
  const queue: Array<{ to: string, from: string, hop: HopValue, frame: Uint8Array }> = []
  const lanes = new Map<string, FastLane>()
  for (const name of neighbours.keys()) {
    const s = emptyStats()
    stats.set(name, s)
    delivered.set(name, [])
    const host: FastLaneHost = {
      stats: s,
      peersOf: () => neighbours.get(name) ?? [],
      // `x…` instances have no region (so are far from nobody) and join no region's topic
      isFar: peer => opts.regions !== false && peer[0] !== name[0] && peer[0] !== 'x' && name[0] !== 'x',
      regionOf: peer => opts.regions !== false && peer[0] !== 'x' ? peer[0] : undefined,
      // with oneCopy, the holders in `deferring` leave every origin's writes to another holder of their region (regions.ts carries)
      carries: () => !(opts.deferring ?? []).includes(name),
      oneCopy: opts.oneCopy ?? false,
      // the neighbours of our region that said (VIEW) they hold a far link
      holdsFar: peer => peer[0] === name[0] && (opts.holders ?? []).includes(peer),
      write (peer, envelopes) {
        if (opts.writable?.(peer) === false) return false
        assert.is(envelopes.length, 1)
        const env = envelopes[0] as Uint8Array
        // the envelope as a reader sees it: length, FAST, nsId, hop, frame
        const r = new BodyReader(env, 1)
        assert.is(env[1], MSG_FAST)
        r.pos = 2
        r.uvarint() // nsId
        const hop = env[r.pos++] as HopValue
        sent.push({ from: name, to: peer, hop })
        queue.push({ to: peer, from: name, hop, frame: r.rest() })
        return true
      },
      deliver: (_ns, from, frame) => { delivered.get(name)?.push({ from, frame }) },
      relay: () => { relayed.push(name) },
      missesRegionWrites: (_ns, peer) => opts.regions !== false && name[0] !== 'x' && peer[0] === 'x'
    }
    lanes.set(name, new FastLane(host, 64))
  }
  const lane = (name: string): FastLane => lanes.get(name) as FastLane
  return {
    space, sent, delivered, stats, lane, relayed,
    /** Delivers queued envelopes, in order, until none is left. */
    run (): void {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) lane(item.to).receive(space, item.from, item.frame, item.hop)
    }
  }
}

// Two regions of four: a1…a4 and b1…b4, a1 and b1 holding the far link a1–b1.
const twoRegions: Array<[string, string]> = [
  ['a1', 'a2'], ['a2', 'a3'], ['a3', 'a4'], ['a1', 'a3'],
  ['b1', 'b2'], ['b2', 'b3'], ['b3', 'b4'], ['b1', 'b3'],
  ['a1', 'b1'],
]

test('a write takes three direct hops to the far region: writer → its holder → the far holder → the far region', () => {
  const net = network(twoRegions)
  net.lane('a2').publish(net.space, updates('w~1', 1))
  net.run()
  // a2 sends to its neighbours a1, a3 (WRITER); a1 holds the far link (CROSSED to b1); b1 spreads to b2, b3 (LAST)
  assert.equal(net.sent.map(s => `${s.from}>${s.to}:${s.hop}`), ['a2>a1:0', 'a2>a3:0', 'a1>b1:1', 'b1>b2:2', 'b1>b3:2'])
  for (const name of ['a1', 'a3', 'b1', 'b2', 'b3']) assert.is(net.delivered.get(name)?.length, 1, `${name} got it once`)
  // a4 and b4 are not next to a writer or a far link's end: gossipsub carries it there
  assert.is(net.delivered.get('a4')?.length, 0)
  assert.is(net.delivered.get('b4')?.length, 0)
  assert.is(net.delivered.get('a2')?.length, 0, 'the writer never gets its own frame back')
  assert.equal(net.delivered.get('b2')?.[0]?.from, 'b1', 'the core sees the neighbour that forwarded it')
  assert.is(net.stats.get('a1')?.fastLaneForwarded, 1)
  assert.is(net.stats.get('a1')?.fastLaneFar, 1)
  assert.is(net.stats.get('b1')?.fastLaneForwarded, 2)
  assert.is(net.stats.get('b1')?.fastLaneFar, 0, 'LAST copies stay in the region')
  assert.is(net.stats.get('a2')?.fastLaneForwarded, 0, 'the writer\'s own copies are not forwards')
  // b1 also hands it to gossipsub in its region, which carries it on to b4; nobody else publishes it
  assert.equal(net.relayed, ['b1'])
  assert.is(net.stats.get('b1')?.fastLaneRelayed, 1)
})

test('a writer\'s neighbour without a far link passes the writer\'s copy to a neighbour that holds one, which sends it across', () => {
  // a2 writes; its neighbour a3 has no far link, a3's neighbour a4 holds a4–b1 (and said so)
  const links: Array<[string, string]> = [['a2', 'a3'], ['a3', 'a4'], ['a4', 'b1'], ['b1', 'b2']]
  const net = network(links, { holders: ['a4'] })
  net.lane('a2').publish(net.space, updates('w~1', 1))
  net.run()
  assert.equal(net.sent.map(s => `${s.from}>${s.to}:${s.hop}`), ['a2>a3:0', 'a3>a4:3', 'a4>b1:1', 'b1>b2:2'])
  assert.is(net.stats.get('a3')?.fastLaneToHolders, 1)
  assert.is(net.delivered.get('b2')?.length, 1)
  // without the claim a3 passes nothing on: the far region waits for gossipsub (the rule before)
  const before = network(links)
  before.lane('a2').publish(before.space, updates('w~1', 1))
  before.run()
  assert.equal(before.sent.map(s => `${s.from}>${s.to}:${s.hop}`), ['a2>a3:0'])
})

test('a writer\'s copy goes to holders only from an instance that could not send it across itself, and a holder\'s copy on from a holder that left it to another', () => {
  const links: Array<[string, string]> = [['a2', 'a3'], ['a3', 'a4'], ['a3', 'b3'], ['a4', 'b1']]
  // a3 holds a3–b3 itself: it sends the writer's copy across, not to a4
  const own = network(links, { holders: ['a4'] })
  own.lane('a2').publish(own.space, updates('w~1', 1))
  own.run()
  assert.ok(!own.sent.some(s => s.hop === Hop.HOLDER), 'a holder passed a copy to another holder')
  assert.ok(own.sent.some(s => s.from === 'a3' && s.to === 'b3' && s.hop === Hop.CROSSED))
  // a copy that came through gossipsub is not passed on to holders (gossipsub brings it to them too)
  const chain = network([['a3', 'a4'], ['a4', 'a5'], ['a5', 'b1'], ['a4', 'b2']], { holders: ['a4', 'a5'], deferring: ['a4'], oneCopy: true })
  chain.lane('a3').receive(chain.space, 'x', updates('warm~1', 1), Hop.LAST) // a lane runs at a3 (else gossipsub's copies skip it)
  chain.lane('a3').receive(chain.space, 'a9', updates('w~1', 2), RELAYED)
  chain.run()
  assert.ok(!chain.sent.some(s => s.hop === Hop.HOLDER), chain.sent.map(s => `${s.from}>${s.to}:${s.hop}`).join(' '))
  // a HOLDER copy reaching a holder that leaves this origin's writes to another goes on to its holder neighbours,
  // so the carrier gets it in direct hops; the carrier sends it across and no further to holders
  chain.lane('a4').receive(chain.space, 'a3', updates('w~1', 3), Hop.HOLDER)
  chain.run()
  assert.equal(chain.sent.map(s => `${s.from}>${s.to}:${s.hop}`), ['a4>a5:3', 'a5>b1:1'])
})

test('a frame that crossed by the lane is published on gossipsub at the far end; one gossipsub brought across is not (gossipsub forwards it itself)', () => {
  const net = network(twoRegions)
  net.lane('b1').receive(net.space, 'x', updates('warm~1', 1), Hop.LAST) // a lane runs
  for (const d of net.delivered.values()) d.length = 0
  const frame = updates('w~1', 9)
  net.lane('b1').receive(net.space, 'a1', frame, RELAYED) // crossed in gossipsub's own mesh
  net.run()
  assert.equal(net.relayed, [], 'a gossipsub copy was published again')
  assert.is(net.delivered.get('b2')?.length, 1, 'still forwarded on the lane to the region')
  net.lane('b1').receive(net.space, 'a1', updates('w~1', 10), Hop.WRITER) // a far writer's own lane copy
  net.run()
  assert.equal(net.relayed, ['b1'])
  net.lane('b2').receive(net.space, 'a9', updates('w~1', 11), Hop.LAST) // a LAST copy: neither forwarded nor published
  assert.equal(net.relayed, ['b1'])
})

test('a frame gossipsub brought first is forwarded by the same rules, once; the later lane copy is dropped', () => {
  const net = network(twoRegions)
  for (const name of ['a1', 'b1', 'b2']) net.lane(name).receive(net.space, 'x', updates('warm~1', 1), Hop.LAST) // a lane runs
  for (const d of net.delivered.values()) d.length = 0
  const frame = updates('w~1', 5)
  // a4 is not next to the writer: gossipsub brings it to a3 and a1 first
  net.lane('a1').receive(net.space, 'a3', frame, RELAYED)
  net.run()
  assert.equal(net.sent.map(s => `${s.from}>${s.to}:${s.hop}`), ['a1>b1:1', 'b1>b2:2', 'b1>b3:2'])
  // the writer's lane copy reaches a1 afterwards: not delivered again, not forwarded again
  net.lane('a1').receive(net.space, 'a2', frame, Hop.WRITER)
  net.run()
  assert.is(net.delivered.get('a1')?.length, 1)
  assert.is(net.sent.length, 3)
  assert.is(net.stats.get('a1')?.fastLaneDuplicates, 1)
  // and the gossipsub copy reaching b2 after b1's lane copy is dropped and counted apart
  assert.not.ok(net.lane('b2').receive(net.space, 'b1', frame, RELAYED))
  assert.is(net.stats.get('b2')?.relayedDuplicates, 1)
  assert.is(net.delivered.get('b2')?.length, 1)
})

test('forwarding is bounded: each instance forwards a frame at most once, and a LAST copy goes nowhere', () => {
  // every far pair linked: the worst case for echoes
  const links: Array<[string, string]> = [['a1', 'a2'], ['b1', 'b2'], ['a1', 'b1'], ['a1', 'b2'], ['a2', 'b1'], ['a2', 'b2']]
  const net = network(links)
  net.lane('a1').publish(net.space, updates('w~1', 1))
  net.run()
  const perSender = new Map<string, number>()
  for (const s of net.sent) perSender.set(s.from, (perSender.get(s.from) ?? 0) + 1)
  // the writer sends to its 3 links; each other instance forwards once at most, to at most its links
  assert.is(perSender.get('a1'), 3)
  for (const [name, n] of perSender) assert.ok(n <= 3, `${name} sent ${n}`)
  assert.ok(net.sent.length <= 3 + 3 * 3)
  for (const name of ['a2', 'b1', 'b2']) assert.is(net.delivered.get(name)?.length, 1)
  const last = net.sent.filter(s => s.hop === Hop.LAST).map(s => s.from)
  assert.ok(last.every(from => from[0] === 'b'), 'only the far side spreads LAST copies')
})

test('crossRegionCopies \'one\': of a region\'s link holders one carries a write across, the others defer: one copy a region pair', () => {
  // a1 holds a1–b1 and a3 holds a3–b3; a2 writes, next to both: a3 leaves this origin's writes to a1
  const links: Array<[string, string]> = [['a1', 'a2'], ['a2', 'a3'], ['a1', 'b1'], ['a3', 'b3'], ['b1', 'b2'], ['b2', 'b3']]
  const net = network(links, { deferring: ['a3'], oneCopy: true })
  net.lane('a2').publish(net.space, updates('w~1', 1))
  net.run()
  assert.equal(net.sent.map(s => `${s.from}>${s.to}:${s.hop}`), ['a2>a1:0', 'a2>a3:0', 'a1>b1:1', 'b1>b2:2'])
  assert.is(net.stats.get('a3')?.fastLaneDeferred, 1)
  assert.is(net.stats.get('a1')?.fastLaneDeferred, 0)
  assert.is(net.sent.filter(s => s.from[0] === 'a' && s.to[0] === 'b').length, 1, 'one copy across')
  // crossRegionCopies 'one': a carrier with two far links to one region sends one copy, over the first that takes
  // it (its far end passes it on there); one stream saturated, the next. With 'each-link', over both
  const two = [['a1', 'a2'], ['a1', 'b1'], ['a1', 'b2'], ['b1', 'b2']] as Array<[string, string]>
  const each = network(two)
  each.lane('a1').receive(each.space, 'a2', updates('w~1', 1), Hop.WRITER)
  each.run()
  assert.equal(each.sent.filter(s => s.from === 'a1').map(s => `${s.to}:${s.hop}`), ['b1:1', 'b2:1'])
  const both = network(two, { oneCopy: true })
  both.lane('a1').receive(both.space, 'a2', updates('w~1', 1), Hop.WRITER)
  both.run()
  assert.equal(both.sent.filter(s => s.from === 'a1').map(s => `${s.to}:${s.hop}`), ['b1:1'])
  const full = network(two, { writable: to => to !== 'b1', oneCopy: true })
  full.lane('a1').receive(full.space, 'a2', updates('w~1', 1), Hop.WRITER)
  full.run()
  assert.equal(full.sent.filter(s => s.from === 'a1').map(s => `${s.to}:${s.hop}`), ['b2:1'])
  assert.is(full.stats.get('a1')?.droppedBackpressure, 1)
  // a holder that defers still passes a writer's copy on to a neighbour that holds a far link (it may be the carrier)
  const chain = network([['a2', 'a3'], ['a3', 'a4'], ['a3', 'b3'], ['a4', 'b1']], { deferring: ['a3'], holders: ['a4'], oneCopy: true })
  chain.lane('a2').publish(chain.space, updates('w~1', 1))
  chain.run()
  assert.equal(chain.sent.map(s => `${s.from}>${s.to}:${s.hop}`), ['a2>a3:0', 'a3>a4:3', 'a4>b1:1'])
  // a writer holding a far link that is not its origin's carrier sends its own copy only in its region
  const writer = network([['a1', 'a2'], ['a1', 'b1'], ['a2', 'b2']], { deferring: ['a1'], oneCopy: true })
  writer.lane('a1').publish(writer.space, updates('w~1', 1))
  writer.run()
  assert.equal(writer.sent.map(s => `${s.from}>${s.to}:${s.hop}`), ['a1>a2:0', 'a2>b2:1'])
  assert.is(writer.stats.get('a1')?.fastLaneDeferred, 1)
})

test('three regions, two of them sharing no link: the region between passes a write on by the lane, to the region it has not come from', () => {
  // a2–b1 and b2–c1 are the only far links: c hears a's writes only through b (gossipsub carries none across)
  const links: Array<[string, string]> = [['a1', 'a2'], ['a2', 'b1'], ['b1', 'b2'], ['b2', 'c1'], ['c1', 'c2']]
  const net = network(links, { written: { 'w~1': 'a' } })
  net.lane('a1').publish(net.space, updates('w~1', 1))
  net.run()
  // b2 gets a LAST copy from b1, knows the writer is in a (membership), so sends it on to c, never back to a
  assert.equal(net.sent.map(s => `${s.from}>${s.to}:${s.hop}`), ['a1>a2:0', 'a2>b1:1', 'b1>b2:2', 'b2>c1:1', 'c1>c2:2'])
  for (const name of ['a2', 'b1', 'b2', 'c1', 'c2']) assert.is(net.delivered.get(name)?.length, 1, `${name} got it once`)
  assert.equal(net.relayed, ['b1', 'c1'], 'each far end publishes it in its region')
  // not knowing where it was written, b2 cannot tell c from the region it came from: it sends nothing (the rule before)
  const unknown = network(links)
  unknown.lane('a1').publish(unknown.space, updates('w~1', 1))
  unknown.run()
  assert.equal(unknown.sent.map(s => `${s.from}>${s.to}:${s.hop}`), ['a1>a2:0', 'a2>b1:1', 'b1>b2:2'])
  assert.is(unknown.delivered.get('c1')?.length, 0)
})

test('a far link\'s end that holds a link to a third region passes a write on at once, to that region alone', () => {
  const links: Array<[string, string]> = [['a1', 'b1'], ['b1', 'c1'], ['b1', 'a2'], ['c1', 'c2']]
  for (const written of [{ 'w~1': 'a' }, {}] as Array<Record<string, string>>) {
    const net = network(links, { written })
    net.lane('a1').publish(net.space, updates('w~1', 1))
    net.run()
    // b1 got it from a: on to c, not to a2 (a's, where it came from), whether or not b1 knows where it was written
    assert.equal(net.sent.map(s => `${s.from}>${s.to}:${s.hop}`), ['a1>b1:0', 'b1>c1:1', 'c1>c2:2'])
    assert.is(net.stats.get('b1')?.fastLaneFar, 1)
  }
})

test('a far link\'s end that got a write from its own region first does not send it back to the region it was written in', () => {
  // b2 holds b2–a2; a write of region a reaches b2 from its own region (gossipsub on b's topic, or b1's LAST copy)
  const links: Array<[string, string]> = [['b1', 'b2'], ['b2', 'a2']]
  for (const [hop, regional] of [[RELAYED, true], [Hop.LAST, false]] as const) {
    const net = network(links, { written: { 'w~1': 'a' } })
    net.lane('b2').receive(net.space, 'b1', updates('w~1', 1), hop, regional)
    net.run()
    assert.equal(net.sent, [], `hop ${hop}: sent back`)
    assert.is(net.delivered.get('b2')?.length, 1)
  }
  // before (and still, while membership has not told b2 the writer's region): gossipsub's copy went back across
  const unknown = network(links)
  unknown.lane('b2').receive(unknown.space, 'b1', updates('w~1', 1), RELAYED, true)
  unknown.run()
  assert.equal(unknown.sent.map(s => `${s.from}>${s.to}:${s.hop}`), ['b2>a2:1'])
  // a write of b's own region still goes across
  const own = network(links, { written: { 'v~1': 'b' } })
  own.lane('b2').receive(own.space, 'b1', updates('v~1', 1), RELAYED, true)
  own.run()
  assert.equal(own.sent.map(s => `${s.from}>${s.to}:${s.hop}`), ['b2>a2:1'])
})

test('a neighbour off our region\'s topic (no region set, an older release) gets a LAST copy where the frame first arrives next to it, and forwards nothing', () => {
  // x1 and x2 set no region (so join no region's topic): gossipsub brings them none of the regions' writes
  const links: Array<[string, string]> = [...twoRegions, ['a4', 'x1'], ['b4', 'x2'], ['x1', 'x2'], ['a2', 'x3'], ['b1', 'x4']]
  const net = network(links)
  const frame = updates('w~1', 1)
  net.lane('a2').publish(net.space, frame)
  net.run()
  // the writer's own copies reach x3 as any neighbour; the far end b1 hands x4 its LAST copy as any neighbour not far
  assert.equal(net.sent.map(s => `${s.from}>${s.to}:${s.hop}`), ['a2>a1:0', 'a2>a3:0', 'a2>x3:0', 'a1>b1:1', 'b1>b2:2', 'b1>b3:2', 'b1>x4:2'])
  // gossipsub then brings it to a4 and b4 on their region's topic (a4 and b4 ran no lane before: that starts it),
  // and each hands it to its neighbour off that topic
  net.lane('a4').receive(net.space, 'a3', frame, RELAYED, true)
  net.lane('b4').receive(net.space, 'b3', frame, RELAYED, true)
  net.run()
  assert.equal(net.sent.slice(7).map(s => `${s.from}>${s.to}:${s.hop}`), ['a4>x1:2', 'b4>x2:2'])
  for (const name of ['x1', 'x2', 'x3', 'x4']) assert.is(net.delivered.get(name)?.length, 1, `${name} got it once`)
  assert.is(net.stats.get('a4')?.fastLaneOffTopic, 1)
  assert.is(net.stats.get('b1')?.fastLaneOffTopic, 1)
  assert.is(net.stats.get('a2')?.fastLaneOffTopic, 0, 'a writer\'s own copies are not counted as such')
})

test('without regions only the writer sends: its neighbours forward nothing', () => {
  const net = network(twoRegions, { regions: false })
  net.lane('a1').publish(net.space, updates('w~1', 1))
  net.run()
  assert.equal(net.sent.map(s => `${s.from}>${s.to}`), ['a1>a2', 'a1>a3', 'a1>b1'])
  assert.is(net.stats.get('a1')?.fastLaneSent, 3)
  assert.is(net.stats.get('a1')?.framesSent, 3)
})

test('until a lane copy is sent or received, gossipsub copies skip the seen-cache (the relay tier of a full mesh)', () => {
  const net = network(twoRegions)
  const frame = updates('w~1', 1)
  assert.ok(net.lane('a3').receive(net.space, 'a2', frame, RELAYED))
  assert.ok(net.lane('a3').receive(net.space, 'a4', frame, RELAYED))
  net.run()
  assert.is(net.delivered.get('a3')?.length, 2, 'both delivered (the core dedups)')
  assert.is(net.sent.length, 0, 'and nothing forwarded')
  // a lane copy arrives: from now on the cache applies to both paths
  assert.ok(net.lane('a3').receive(net.space, 'a2', updates('w~1', 2), Hop.WRITER))
  assert.not.ok(net.lane('a3').receive(net.space, 'a4', updates('w~1', 2), RELAYED))
  // and a node that published on the lane dedups gossipsub's copies at once
  net.lane('a4').publish(net.space, updates('w~2', 1))
  assert.ok(net.lane('a4').receive(net.space, 'a3', updates('w~1', 9), RELAYED))
  assert.not.ok(net.lane('a4').receive(net.space, 'a3', updates('w~1', 9), RELAYED))
})

test('frames other than UPDATES are delivered every time and never forwarded', () => {
  const net = network(twoRegions)
  const awareness = encodeFrame({ type: MessageType.AWARENESS, update: Uint8Array.of(1, 2, 3) })
  net.lane('a2').publish(net.space, awareness)
  assert.is(net.sent.length, 0, 'the writer does not put them on the lane')
  assert.ok(net.lane('a1').receive(net.space, 'a2', awareness, RELAYED))
  assert.ok(net.lane('a1').receive(net.space, 'a2', awareness, RELAYED))
  net.run()
  assert.is(net.sent.length, 0)
  assert.is(net.delivered.get('a1')?.length, 2, 'no id: no deduplication (the core handles repeats)')
})

test('two frames of one origin are told apart by first sequence number and length; another namespace has its own cache', () => {
  const net = network(twoRegions)
  net.lane('a1').receive(net.space, 'x', updates('warm~1', 1), Hop.LAST) // a lane runs
  assert.ok(net.lane('a1').receive(net.space, 'a3', updates('w~1', 1), RELAYED))
  assert.ok(net.lane('a1').receive(net.space, 'a3', updates('w~1', 2), RELAYED))
  assert.ok(net.lane('a1').receive(net.space, 'a3', updates('w~1', 1, 'another key'), RELAYED), 'same numbers, other bytes (length)')
  assert.not.ok(net.lane('a1').receive(net.space, 'a3', updates('w~1', 2), RELAYED))
  assert.ok(net.lane('a1').receive(ns(2), 'a3', updates('w~1', 2), RELAYED))
  assert.is(fastLaneKey(updates('w~1', 7)), `w~1/7/${updates('w~1', 7).length}`)
  assert.is(fastLaneKey(new Uint8Array(CHUNK_BYTES + 1)), undefined, 'too large for the lane')
})

test('a copy not written (backpressure) is counted as dropped, not as sent', () => {
  const net = network(twoRegions, { writable: to => to !== 'a3' })
  net.lane('a2').publish(net.space, updates('w~1', 1))
  const s = net.stats.get('a2') as TransportStats
  assert.is(s.fastLaneSent, 1)
  assert.is(s.droppedBackpressure, 1)
})

test('the seen-cache is bounded: the oldest key goes first, and a frame seen again after it is delivered again', () => {
  const seen = new SeenFrames(3)
  for (const k of ['a', 'b', 'c']) assert.ok(seen.add(k))
  assert.not.ok(seen.add('a'))
  assert.ok(seen.add('d'))
  assert.is(seen.size, 3)
  assert.not.ok(seen.has('a'))
  assert.ok(seen.has('b') && seen.has('c') && seen.has('d'))
  assert.throws(() => new SeenFrames(0), /capacity/)
  // through the lane (capacity 64): the 65th frame pushes the first out, which is then delivered again
  const net = network(twoRegions)
  const first = updates('w~1', 1)
  assert.ok(net.lane('b4').receive(net.space, 'b3', first, Hop.LAST))
  for (let seq = 2; seq <= 65; seq++) net.lane('b4').receive(net.space, 'b3', updates('w~1', seq), Hop.LAST)
  assert.ok(net.lane('b4').receive(net.space, 'b3', first, Hop.LAST))
  assert.is(net.delivered.get('b4')?.length, 66)
})

test('FAST envelope: nsId, hop and the frame, in one envelope', () => {
  const frame = updates('w~1', 3)
  const env = encodeFast(300, Hop.CROSSED, frame)
  const r = new BodyReader(env)
  const len = r.uvarint()
  assert.is(len, env.length - r.pos)
  assert.is(env[r.pos++], MSG_FAST)
  assert.is(r.uvarint(), 300)
  assert.is(env[r.pos++], Hop.CROSSED)
  assert.equal([...r.rest()], [...frame])
})

test('over a real stream: a FAST frame is delivered once (and not remembered while its namespace is not joined), malformed FAST envelopes are dropped and counted', async () => {
  const a = await createLibp2pTransport()
  const peer = await buildNode({ listen: ['/ip4/127.0.0.1/tcp/0'], psk: undefined, gater: new FaultSwitch().gater(), logger: undefined })
  await peer.handle(PROTOCOL, () => {}) // takes a's stream and ignores it
  await peer.start()
  try {
    const got = recorder()
    const stream = await peer.dialProtocol(multiaddr(a.multiaddrs()[0] as string), PROTOCOL)
    stream.send(encodeHello([]))
    stream.send(encodeJoin(7, 'ns'))
    const frame = updates('w~1', 1)
    const fast = encodeFast(7, Hop.LAST, frame)
    // before a joins 'ns' the frame is dropped as unjoined, and not remembered: it is delivered when it comes again
    stream.send(fast)
    await until(() => a.stats().droppedUnjoined === 1, 'the frame for an unjoined namespace dropped')
    await a.join('ns', got.handler)
    // the hop byte after nsId 7 (one byte) sits at offset 3: length, type, nsId
    const badHop = fast.slice(); badHop[3] = 9
    stream.send(badHop)
    stream.send(Uint8Array.of(2, MSG_FAST, 7)) // no hop byte
    stream.send(encodeFast(8, Hop.LAST, frame)) // nsId never announced
    stream.send(fast)
    stream.send(fast) // the same frame again: dropped by the seen-cache
    stream.send(encodeFast(7, Hop.LAST, updates('w~1', 2)))
    await got.waitFrame()
    await got.waitFrame()
    await until(() => a.stats().fastLaneDuplicates === 1, 'the second copy counted')
    assert.equal([...(got.frames[0]?.frame ?? [])], [...frame])
    assert.is(got.frames[0]?.from, peer.peerId.toString())
    assert.is(got.frames.length, 2, 'each frame handed to the core once')
    assert.is(a.stats().framesReceived, 2)
    assert.is(a.stats().badEnvelopes, 3)
  } finally {
    await Promise.all([a.close(), peer.stop()])
  }
})

test.run()
