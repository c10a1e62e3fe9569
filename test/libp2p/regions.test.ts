/**
 * Region links of a partial mesh (lib/net/libp2p/regions.ts) and the wire
 * fields that carry regions (HELLO's and PEERS' optional trailing region).
 * The effect on real processes across a delay is measured by
 * `npm run bench:regions -- --max-peers 3 --region-links` (SPEC.md §11.4).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { RegionLinks } from '../../lib/net/libp2p/regions.ts'
import { BodyReader, EnvelopeSplitter, MSG_HELLO, decodeAddrList, decodeHello, decodePeers, encodeHello, encodePeers } from '../../lib/net/libp2p/envelope.ts'
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
  assert.not.ok(eu().needsDial(undefined, ['a1']), 'unknown peer')
})

test('a far link a non-holder dialled is let go only while it has a link in its own region', () => {
  assert.ok(eu(1).shouldShed('a2', ['a1', 'a2']))
  assert.not.ok(eu(1).shouldShed('a2', ['a2']), 'its only link: kept')
  assert.not.ok(eu(2).shouldShed('a2', ['a1', 'a2']), 'a holder keeps its one far link')
  assert.ok(eu(2).shouldShed('b2', ['a1', 'a2', 'b2']), 'a second far link goes')
  assert.not.ok(eu(1).shouldShed('c1', ['a1', 'c1']), 'own region: never')
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
  for (const options of [{ region: 'x'.repeat(65) }, { region: 7 }, { crossRegionLinks: 0 }, { crossRegionLinks: 1 }, { crossRegionLinks: 1.5 }]) {
    try {
      await createLibp2pTransport({ listen: ['/ip4/127.0.0.1/tcp/0'], ...options } as never)
      assert.unreachable(`accepted ${JSON.stringify(options)}`)
    } catch (error) {
      assert.instance(error, MeshCacheError)
      assert.is((error as MeshCacheError).code, 'E_INVALID_OPTION')
      if ('crossRegionLinks' in options) assert.match((error as MeshCacheError).message, /crossRegionLinks/)
    }
  }
})

test.run()
