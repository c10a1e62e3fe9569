/**
 * Region links of a partial mesh (lib/net/libp2p/regions.ts) and the wire
 * fields that carry regions (HELLO's and PEERS' optional trailing region).
 * The effect on real processes across a delay is measured by
 * `npm run bench:regions -- --max-peers 3 --region-links` (SPEC.md §11.4).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Connection, Logger } from '@libp2p/interface'
import { RegionLinks } from '../../lib/net/libp2p/regions.ts'
import { PartialMesh, SHED_AFTER_MS } from '../../lib/net/libp2p/partial-mesh.ts'
import type { ResolvedOptions } from '../../lib/net/libp2p/options.ts'
import { emptyStats } from '../../lib/net/libp2p/stats.ts'
import { BodyReader, EnvelopeSplitter, MSG_HELLO, MSG_SHED, decodeAddrList, decodeHello, decodePeers, encodeHello, encodePeers } from '../../lib/net/libp2p/envelope.ts'
import { createLibp2pTransport } from '../../lib/net/libp2p/index.ts'
import { MeshCacheError } from '../../lib/errors.ts'

function body (envelope: Uint8Array): BodyReader {
  const bodies: Uint8Array[] = []
  new EnvelopeSplitter(b => bodies.push(b.slice()), () => {}).push(envelope)
  return new BodyReader(bodies[0] as Uint8Array, 1)
}

/** Node 'b1' in region eu; eu has a1 < b1 < c1 < d1, us has a2 < b2. */
function eu (crossLinks = 2): RegionLinks {
  const r = new RegionLinks('b1', 'eu', crossLinks)
  for (const p of ['a1', 'c1', 'd1']) r.learn(p, 'eu')
  for (const p of ['a2', 'b2']) r.learn(p, 'us')
  return r
}

test('a node prefers its own region: own region and unknown peers first, far peers by id', () => {
  const r = eu()
  // as the redialer sorts its entries (a bootstrap address not yet dialled has no peer id)
  const order = [{ peer: 'b2' }, { peer: 'c1' }, { peer: 'a2' }, { peer: undefined }, { peer: 'x' }].sort((a, b) => r.compare(a.peer, b.peer)).map(e => e.peer ?? '?')
  assert.equal(order.slice(0, 3).sort(), ['?', 'c1', 'x'], 'own region and unknown first')
  assert.equal(order.slice(3), ['a2', 'b2'], 'then far peers, smallest id (a far holder) first')
})

test('only a region\'s crossRegionLinks smallest ids (among what a node sees) dial a far peer, and one far link each', () => {
  // b1 sees a1 (smaller) and c1: one smaller id < 2 links, so it holds one
  assert.ok(eu().allowDial('a2', ['a1', 'c1']))
  // with one far link already it dials no other
  assert.not.ok(eu().allowDial('b2', ['a1', 'c1', 'a2']))
  // with crossRegionLinks 1, a1 holds the region's link and b1 does not
  assert.not.ok(eu(1).allowDial('a2', ['a1', 'c1']))
  // own region and unknown peers are always allowed
  assert.ok(eu(1).allowDial('d1', ['a1', 'c1', 'a2']))
  assert.ok(eu(1).allowDial('zz', ['a1']))
  assert.ok(eu(1).allowDial(undefined, ['a1']))
})

test('a holder without a far link needs one (dialled even at the bound); nobody else does', () => {
  assert.ok(eu().needsDial('a2', ['a1', 'c1', 'd1']), 'b1 holds (one smaller id) and has no far link')
  assert.not.ok(eu().needsDial('b2', ['a1', 'c1', 'a2']), 'it has one already')
  assert.not.ok(eu(1).needsDial('a2', ['a1', 'c1']), 'not a holder with crossRegionLinks 1')
  assert.not.ok(eu().needsDial('c1', ['a1']), 'own region: the bound applies')
  assert.not.ok(eu().needsDial('c1', ['a1', 'a2', 'b2']), 'own region, with a link there already: the bound applies')
  assert.not.ok(eu().needsDial('zz', ['a1']), 'a peer of unknown region')
})

test('a node whose links are all far needs one in its own region, even at its bound: its region\'s writes reach it there', () => {
  assert.ok(eu().needsDial('c1', ['a2', 'b2']), 'bound filled with far links')
  assert.ok(eu(1).needsDial('d1', ['a2']), 'holder or not')
  assert.ok(eu().needsDial('c1', []), 'no link at all')
  assert.not.ok(eu().needsDial('zz', ['a2', 'b2']), 'a peer of unknown region may be far: the bound applies')
  assert.not.ok(new RegionLinks('b1', 'eu', 2).needsDial('a1', ['a2']), 'a peer whose region is not known yet')
})

test('a holder without a far link needs the bootstrap addresses it has not met too: the far peers it knows may advertise only addresses it cannot reach', () => {
  // undefined: a bootstrap address whose dial failed or was never made (the redialer's entry has no peer id yet)
  assert.ok(eu().needsDial(undefined, ['a1', 'c1']), 'a holder without a far link')
  assert.not.ok(eu().needsDial(undefined, ['a1', 'c1', 'a2']), 'it has one already')
  assert.not.ok(eu(1).needsDial(undefined, ['a1', 'c1']), 'not a holder')
})

test('a far link a non-holder dialled is let go only while it has a link in its own region', () => {
  assert.ok(eu(1).shouldShed('a2', ['a1', 'a2']))
  assert.not.ok(eu(1).shouldShed('a2', ['a2']), 'its only link: kept')
  assert.not.ok(eu(2).shouldShed('a2', ['a1', 'a2']), 'a holder keeps its one far link')
  assert.ok(eu(2).shouldShed('b2', ['a1', 'a2', 'b2']), 'a second far link goes')
  assert.not.ok(eu(1).shouldShed('c1', ['a1', 'c1']), 'own region: never')
})

/** A connection as PartialMesh sees one: its direction, its status, and whether it was closed. */
interface FakeConnection { direction: 'inbound' | 'outbound', closed: boolean, readonly status: string, close (): Promise<void>, abort (): void }
const connection = (direction: FakeConnection['direction']): FakeConnection =>
  ({ direction, closed: false, get status () { return this.closed ? 'closed' : 'open' }, async close () { this.closed = true }, abort () { this.closed = true } })

/** Node 'b1' of eu (maxPeers 1, crossRegionLinks 2) in a partial mesh, connected as `conns` says; SHEDs sent are listed. */
function partialMesh (conns: Record<string, FakeConnection[]>, eu: string[], us: string[]): { mesh: PartialMesh, sheds: string[] } {
  const sheds: string[] = []
  const connected = (): string[] => Object.keys(conns).filter((p) => (conns[p] as FakeConnection[]).some((c) => !c.closed))
  const host = {
    stats: emptyStats(),
    redialer: undefined,
    connectedPeers: connected,
    linkedPeers: connected,
    connectedPeerCount: () => connected().length,
    connectionsOf: (peer: string) => (conns[peer] ?? []).filter((c) => !c.closed) as unknown as Connection[],
    sendEnvelope: (peer: string, envelope: Uint8Array) => { if (envelope[1] === MSG_SHED) sheds.push(peer) },
    isUp: () => true,
  }
  const mesh = new PartialMesh(host, 'b1', { maxPeers: 1, region: 'eu', crossRegionLinks: 2 } as ResolvedOptions, Object.assign(() => {}, { enabled: false, error: () => {}, trace: () => {} }) as unknown as Logger)
  for (const p of eu) mesh.regions?.learn(p, 'eu')
  for (const p of us) mesh.regions?.learn(p, 'us')
  return { mesh, sheds }
}

test('a far pair that dialled each other is judged by the smaller id, whose connection stays (crossed-dials.ts)', async () => {
  // b1 is a holder (one smaller id of its region in view) with two far links, each dialled both ways
  const toA2 = [connection('outbound'), connection('inbound')]
  const toC2 = [connection('outbound'), connection('inbound')]
  const { mesh, sheds } = partialMesh({ a1: [connection('outbound')], a2: toA2, c2: toC2 }, ['a1'], ['a2', 'c2'])
  mesh.shedFarLinks()
  await new Promise((resolve) => setTimeout(resolve, SHED_AFTER_MS + 100))
  // a2 < b1: a2's connection is the one kept, so the link is a2's to judge; b1 sheds nothing of it (its own
  // connection goes as a crossed dial, not here)
  assert.equal(toA2.map((c) => c.closed), [false, false])
  // b1 < c2: b1's connection is kept, so b1 judges; with a far link to a2 it needs no second one: the link goes whole
  assert.equal(toC2.map((c) => c.closed), [true, true])
  assert.equal(sheds, ['c2'])
})

test('a far link both dialled that the smaller id needs stays; one the peer alone dialled is its decision', async () => {
  // b1 (a holder) < d2: d2's link is b1's only far link, so b1 keeps its own connection (d2 closes its own, there)
  const both = [connection('inbound'), connection('outbound')]
  const one = partialMesh({ a1: [connection('outbound')], d2: both }, ['a1'], ['d2'])
  one.mesh.shedFarLinks()
  // b1 with a far link c2 dialled, and one it dialled itself to a2: its own goes, c2's stays
  const inbound = [connection('inbound')]
  const outbound = [connection('outbound')]
  const two = partialMesh({ a1: [connection('outbound')], c2: inbound, a2: outbound }, ['a1'], ['a2', 'c2'])
  two.mesh.shedFarLinks()
  await new Promise((resolve) => setTimeout(resolve, SHED_AFTER_MS + 100))
  assert.equal(both.map((c) => c.closed), [false, false])
  assert.equal(one.sheds, [])
  assert.equal(inbound.map((c) => c.closed), [false], 'the dialer decided')
  assert.equal(outbound.map((c) => c.closed), [true])
  assert.equal(two.sheds, ['a2'])
})

test('without a region of its own a node has no preference', () => {
  const r = new RegionLinks('b1', '', 2)
  r.learn('a2', 'us')
  assert.not.ok(r.isFar('a2'))
  assert.ok(r.allowDial('a2', ['a2', 'c2']))
})

test('HELLO and PEERS carry regions as optional trailing fields, readable as before', () => {
  const hello = decodeHello(body(encodeHello(['/ip4/10.0.0.1/tcp/1'], 'eu-west')))
  assert.equal(hello, { addrs: ['/ip4/10.0.0.1/tcp/1'], region: 'eu-west' })
  assert.equal(decodeHello(body(encodeHello(['/ip4/10.0.0.1/tcp/1']))), { addrs: ['/ip4/10.0.0.1/tcp/1'], region: '' })
  // an older reader (addresses only) still reads a HELLO with a region
  const r = body(encodeHello(['/ip4/10.0.0.1/tcp/1'], 'eu-west'))
  assert.equal(decodeAddrList(r), ['/ip4/10.0.0.1/tcp/1'])
  assert.is(body(encodeHello([], 'x')).buf[0], MSG_HELLO)
  const peers = [{ peer: 'QmA', addrs: ['/ip4/10.0.0.2/tcp/1'], region: 'us' }, { peer: 'QmB', addrs: [], region: '' }]
  assert.equal(decodePeers(body(encodePeers(peers))), peers)
  // no regions at all: no trailing field, entries without one
  assert.equal(decodePeers(body(encodePeers([{ peer: 'QmA', addrs: [] }]))), [{ peer: 'QmA', addrs: [] }])
})

test('bad region options are refused with E_INVALID_OPTION', async () => {
  for (const options of [{ region: 'x'.repeat(65) }, { region: 7 }, { crossRegionLinks: 0 }, { crossRegionLinks: 1 }, { crossRegionLinks: 1.5 }, { crossRegionCopies: 'two' }, { crossRegionCopies: 1 }]) {
    try {
      await createLibp2pTransport({ listen: ['/ip4/127.0.0.1/tcp/0'], ...options } as never)
      assert.unreachable(`accepted ${JSON.stringify(options)}`)
    } catch (error) {
      assert.instance(error, MeshCacheError)
      assert.is((error as MeshCacheError).code, 'E_INVALID_OPTION')
      if ('crossRegionLinks' in options) assert.match((error as MeshCacheError).message, /crossRegionLinks/)
      if ('crossRegionCopies' in options) assert.match((error as MeshCacheError).message, /crossRegionCopies.*'each-link' or 'one'/)
    }
  }
})

test.run()
