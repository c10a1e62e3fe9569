/**
 * Region links' reports (VIEW: lib/net/libp2p/region-view.ts, regions.ts
 * standsDown): a holder that hears of crossRegionLinks smaller same-region
 * holders stands down, claims count only through connected neighbours of its
 * region, and the region's smallest claimants never stand down. The effect on
 * real instances is in test/mesh/scale.test.ts and `npm run bench:scale --
 * --regions 2` (SPEC.md §11.4).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { CARRY_SETTLE_MS, RegionLinks } from '../../lib/net/libp2p/regions.ts'
import { RegionView } from '../../lib/net/libp2p/region-view.ts'
import { BodyReader, EnvelopeSplitter, MAX_PEERS_PER_MESSAGE, MSG_VIEW, decodeView, encodeView } from '../../lib/net/libp2p/envelope.ts'
import { MeshCacheError } from '../../lib/errors.ts'

/** A seeded generator (mulberry32): every layout is replayed from its seed. */
function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Node 'e1' in region eu; eu has a1 < b1 < c1 < d1 < e1 < f1, us has a2 < b2. */
/** The clock every RegionLinks here reads (`carries` waits CARRY_SETTLE_MS after the claims last changed). */
let clock = 0

function eu (self = 'e1', crossLinks = 2): RegionLinks {
  const r = new RegionLinks(self, 'eu', crossLinks, { oneCopy: true, now: () => clock })
  for (const p of ['a1', 'b1', 'c1', 'd1', 'e1', 'f1']) if (p !== self) r.learn(p, 'eu')
  for (const p of ['a2', 'b2']) r.learn(p, 'us')
  return r
}

test('a holder that hears of crossRegionLinks smaller holders stands down: no far dial, and its far link goes', () => {
  const r = eu()
  // by what it sees alone (d1 the one smaller id connected) e1 holds one of eu's links
  assert.ok(r.isHolder(['d1', 'f1']))
  assert.ok(r.needsDial('a2', ['d1', 'f1']))
  // d1 reports that a1 and b1 (its neighbours) said they hold far links
  r.heard('d1', { holds: false, holders: ['a1', 'b1'] })
  assert.ok(r.standsDown(['d1', 'f1']))
  assert.ok(r.stoodDown(['d1', 'f1']), 'a holder by its own view, one fewer by VIEW')
  assert.not.ok(r.stoodDown(['c1', 'd1', 'f1']), 'with two smaller ids connected it holds none by its own view either')
  assert.not.ok(r.isHolder(['d1', 'f1']))
  assert.not.ok(r.needsDial('a2', ['d1', 'f1']))
  assert.not.ok(r.allowDial('a2', ['d1', 'f1']))
  assert.ok(r.shouldShed('a2', ['d1', 'f1', 'a2']), 'the far link it dialled goes')
  assert.not.ok(r.shouldShed('a2', ['a2']), 'but not its only link')
})

test('a neighbour\'s own claim counts as one; so does one it relays, once each', () => {
  const r = eu()
  r.heard('c1', { holds: true, holders: ['a1'] })
  assert.ok(r.standsDown(['c1']), 'c1 itself and a1')
  const s = eu()
  s.heard('c1', { holds: true, holders: [] })
  s.heard('d1', { holds: false, holders: ['c1'] })
  assert.not.ok(s.standsDown(['c1', 'd1']), 'c1 twice is one holder')
})

test('claims count only from connected neighbours of our region, and only smaller ids', () => {
  const r = eu()
  r.heard('d1', { holds: false, holders: ['a1', 'b1'] })
  assert.not.ok(r.standsDown(['f1']), 'd1 is no longer connected: its report counts for nothing')
  const far = eu()
  far.heard('a2', { holds: true, holders: ['a1', 'b1'] })
  assert.not.ok(far.standsDown(['a2']), 'a far peer reports of its own region')
  const larger = eu('c1')
  larger.heard('d1', { holds: true, holders: ['e1', 'f1'] })
  assert.not.ok(larger.standsDown(['d1']), 'larger ids never count against a smaller one')
  const unknown = new RegionLinks('e1', 'eu', 2)
  unknown.heard('d1', { holds: true, holders: ['a1'] })
  assert.not.ok(unknown.standsDown(['d1']), 'a neighbour of unknown region')
})

test('a claim its holder withdraws (its far link lost) stops counting at the next report', () => {
  const r = eu()
  r.heard('d1', { holds: false, holders: ['a1', 'b1'] })
  assert.ok(r.standsDown(['d1']))
  r.heard('d1', { holds: false, holders: ['b1'] })
  assert.not.ok(r.standsDown(['d1']))
  assert.ok(r.needsDial('a2', ['d1']), 'a holder again, without a far link')
})

test('a report says whether this node holds a far link and which near neighbours said they do, not what they relayed', () => {
  const r = eu('c1')
  r.heard('a1', { holds: true, holders: ['b1'] })
  r.heard('d1', { holds: false, holders: ['a1'] })
  r.heard('a2', { holds: true, holders: [] })
  assert.equal(r.report(['d1', 'a1', 'a2']), { holds: true, holders: ['a1'] })
  assert.equal(r.report(['d1']), { holds: false, holders: [] }, 'a1 gone: its report forgotten')
  r.heard('d1', { holds: false, holders: ['a1'] })
  assert.equal(r.report(['d1', 'a1']), { holds: false, holders: [] }, 'a1 reconnected says nothing until it reports again')
})

function body (envelope: Uint8Array): BodyReader {
  const bodies: Uint8Array[] = []
  new EnvelopeSplitter(b => bodies.push(b.slice()), () => {}).push(envelope)
  return new BodyReader(bodies[0] as Uint8Array, 1)
}

test('VIEW round-trips, and a bad one is refused with a typed error', () => {
  const holders = ['12D3KooWA', '12D3KooWB']
  assert.is(body(encodeView(true, holders)).buf[0], MSG_VIEW)
  assert.equal(decodeView(body(encodeView(true, holders))), { holds: true, holders })
  assert.equal(decodeView(body(encodeView(false, []))), { holds: false, holders: [] })
  assert.is(decodeView(body(encodeView(false, Array.from({ length: 300 }, (_, i) => `p${i}`)))).holders.length, MAX_PEERS_PER_MESSAGE)
  const bad: Array<[string, number[], string]> = [
    ['no flag', [MSG_VIEW], 'E_FRAME_TRUNCATED'],
    ['flag 2', [MSG_VIEW, 2, 0], 'E_FRAME_MALFORMED'],
    ['count past its entries', [MSG_VIEW, 1, 2, 1, 0x41], 'E_FRAME_TRUNCATED'],
    ['count over the limit', [MSG_VIEW, 1, 0x81, 0x02], 'E_FRAME_TOO_LARGE'],
    ['trailing bytes', [MSG_VIEW, 0, 0, 7], 'E_FRAME_MALFORMED'],
  ]
  for (const [what, bytes, code] of bad) {
    try {
      decodeView(new BodyReader(Uint8Array.from(bytes), 1))
      assert.unreachable(what)
    } catch (error) {
      assert.instance(error, MeshCacheError, what)
      assert.is((error as MeshCacheError).code, code, what)
    }
  }
})

test('a node sends its report to every connected peer not known to be far when it changed, and not otherwise', () => {
  const r = eu()
  let connected = ['d1', 'a2', 'f1', 'x']
  const sent: Array<[string, Uint8Array]> = []
  let up = new Set(['d1', 'a2', 'f1', 'x'])
  const view = new RegionView(r, { connectedPeers: () => connected, linkedPeers: () => connected, sendEnvelope: (peer, e) => { sent.push([peer, e]) }, isUp: (peer) => up.has(peer) })
  view.tick()
  assert.equal(sent.map(([p]) => p), ['d1', 'f1', 'x'], 'not to the far peer a2; to x, whose region is not known yet')
  assert.equal(decodeView(body(sent[0]?.[1] as Uint8Array)), { holds: true, holders: [] })
  connected = ['d1', 'a2', 'f1']
  sent.length = 0
  view.tick()
  assert.is(sent.length, 0, 'unchanged (x gone is nothing this node reports): nothing sent')
  r.heard('d1', { holds: true, holders: [] })
  view.tick()
  assert.is(sent.length, 2)
  assert.equal(decodeView(body(sent[1]?.[1] as Uint8Array)), { holds: true, holders: ['d1'] })
  connected = ['d1']
  view.tick()
  assert.equal(decodeView(body(view.current())), { holds: false, holders: ['d1'] }, 'the greeting carries the report now')
  assert.is(sent.length, 3)
  // a far link is claimed once it is up in a namespace (it carries writes then), not while only connected
  connected = ['d1', 'b2']
  up = new Set(['d1'])
  view.tick()
  assert.is(sent.length, 3, 'b2 connected, not up: no claim, nothing changed')
  up = new Set(['d1', 'b2'])
  view.tick()
  assert.equal(decodeView(body(sent[3]?.[1] as Uint8Array)), { holds: true, holders: ['d1'] })
})

/**
 * A region of `n` nodes over a random connected graph (each node linked to about `degree` others), every node
 * holding a far link at first (as after a start or a heal, when many dial across). Reports are exchanged in
 * rounds, and a node that stands down lets its far link go, until nothing changes.
 */
function settle (seed: number, n: number, degree: number, crossLinks: number): { ids: string[], holders: string[], carriers: (origin: string) => string[] } {
  const random = mulberry32(seed)
  const ids = Array.from({ length: n }, (_, i) => `n${String(Math.floor(random() * 1e9)).padStart(9, '0')}-${i}`)
  const adj = new Map(ids.map((id) => [id, new Set<string>()]))
  const link = (a: string, b: string): void => { if (a !== b) { adj.get(a)?.add(b); adj.get(b)?.add(a) } }
  for (let i = 1; i < n; i++) link(ids[i] as string, ids[Math.floor(random() * i)] as string) // a spanning tree: connected
  for (const id of ids) while ((adj.get(id)?.size ?? 0) < degree) link(id, ids[Math.floor(random() * n)] as string)
  const nodes = new Map(ids.map((id) => {
    const r = new RegionLinks(id, 'eu', crossLinks, { oneCopy: true, now: () => clock })
    for (const other of ids) if (other !== id) r.learn(other, 'eu')
    r.learn('far', 'us')
    return [id, r]
  }))
  const far = new Set(ids)
  const near = (id: string): string[] => [...(adj.get(id) as Set<string>)]
  const connected = (id: string): string[] => far.has(id) ? [...near(id), 'far'] : near(id)
  for (let round = 1; round <= 20; round++) {
    const reports = new Map(ids.map((id) => [id, nodes.get(id)?.report(connected(id))]))
    for (const id of ids) for (const p of near(id)) nodes.get(p)?.heard(id, reports.get(id) as never)
    let changed = false
    for (const id of ids) {
      if (far.has(id) && nodes.get(id)?.shouldShed('far', connected(id)) === true) { far.delete(id); changed = true }
    }
    if (!changed && round > 2) break
  }
  // one more round of reports, as the links now stand
  const reports = new Map(ids.map((id) => [id, nodes.get(id)?.report(connected(id))]))
  for (const id of ids) for (const p of near(id)) nodes.get(p)?.heard(id, reports.get(id) as never)
  clock += CARRY_SETTLE_MS // the claims settled
  const carriers = (origin: string): string[] => [...far].filter((id) => nodes.get(id)?.carries(origin, connected(id)) === true)
  return { ids: ids.sort(), holders: [...far].sort(), carriers }
}

test('over random regions, the crossRegionLinks smallest ids always keep their far links, and few others do', () => {
  const seeds = Number(process.env.REGION_VIEW_SEEDS ?? 40)
  const from = Number(process.env.REGION_VIEW_FROM ?? 1)
  for (let seed = from; seed < from + seeds; seed++) {
    const n = 10 + (seed % 5) * 10 // 10 to 50
    const crossLinks = 2 + (seed % 2)
    const { ids, holders } = settle(seed, n, 8, crossLinks)
    const replay = `replay: REGION_VIEW_FROM=${seed} REGION_VIEW_SEEDS=1 node test/libp2p/region-view.test.ts`
    for (const id of ids.slice(0, crossLinks)) assert.ok(holders.includes(id), `seed ${seed} (${n} nodes): ${id}, among the ${crossLinks} smallest, lost its far link; ${replay}`)
    // each keeps one once it hears of crossLinks smaller holders: two hops of reports reach most of a region of
    // degree 8, so few more than crossLinks are left
    assert.ok(holders.length <= crossLinks + 3, `seed ${seed}: ${holders.length} far links kept in a region of ${n} (crossLinks ${crossLinks}); ${replay}`)
  }
})

test('of a region\'s link holders, one carries each origin\'s writes across; each carries a share; views that differ add copies, never lose one', () => {
  // d1 and e1 hold far links and hear each other's claim: each origin has one carrier of the two
  const d1 = eu('d1')
  const e1 = eu('e1')
  d1.heard('e1', { holds: true, holders: [] })
  e1.heard('d1', { holds: true, holders: [] })
  const origins = Array.from({ length: 200 }, (_, i) => `node${i}~k${i % 7}`)
  // while the claims are new (links moving, a claim maybe stale, gossipsub's meshes settling) both carry every origin
  clock += CARRY_SETTLE_MS - 1
  assert.ok(origins.every((o) => d1.carries(o, ['e1', 'a2']) && e1.carries(o, ['d1', 'b2'])), 'both carry while the claims settle')
  clock += 1
  const byD = origins.filter((o) => d1.carries(o, ['e1', 'a2']))
  const byE = origins.filter((o) => e1.carries(o, ['d1', 'b2']))
  assert.is(byD.length + byE.length, 200, 'one carrier an origin')
  assert.equal(byD.filter((o) => byE.includes(o)), [])
  assert.ok(byD.length > 60 && byE.length > 60, `a share each: ${byD.length} and ${byE.length} of 200`)
  // the same origin, the same carrier (its writes keep to one far link, in order)
  assert.is(d1.carries('node5~k5', ['e1', 'a2']), byD.includes('node5~k5'))
  // a claim relayed by a neighbour of our region counts; one from a far peer, or a peer not connected, does not
  // the same report again is no change; another one is
  e1.heard('d1', { holds: true, holders: [] })
  assert.ok(origins.some((o) => !e1.carries(o, ['d1', 'b2'])), 'an unchanged report: still settled')
  e1.heard('f1', { holds: false, holders: ['d1'] })
  assert.ok(origins.some((o) => !e1.carries(o, ['d1', 'f1', 'b2'])), 'a claim told again by another neighbour (links rotate): still settled')
  e1.heard('d1', { holds: true, holders: ['c1'] })
  assert.ok(origins.some((o) => !e1.carries(o, ['d1', 'b2'])), 'what a neighbour relays changed (links rotate): still settled')
  e1.heard('d1', { holds: false, holders: ['c1'] })
  e1.heard('d1', { holds: true, holders: ['c1'] })
  assert.ok(origins.every((o) => e1.carries(o, ['d1', 'b2'])), 'a neighbour\'s far link went and came: every origin again for a while')
  clock += CARRY_SETTLE_MS
  assert.ok(origins.some((o) => !e1.carries(o, ['d1', 'b2'])))
  // d1 disconnects from e1; f1 still tells of d1's claim, so without the wait e1 would leave some origins to d1
  e1.report(['b2', 'f1'])
  assert.ok(origins.every((o) => e1.carries(o, ['b2', 'f1'])), 'a neighbour holding a far link gone: every origin again for a while')
  clock += CARRY_SETTLE_MS
  assert.ok(origins.some((o) => !e1.carries(o, ['b2', 'f1'])), 'then d1, told of by f1, carries its share')
  const c1 = eu('c1')
  c1.heard('f1', { holds: false, holders: ['e1'] })
  const direct = eu('c1')
  direct.heard('e1', { holds: true, holders: [] })
  clock += CARRY_SETTLE_MS
  assert.equal(origins.filter((o) => c1.carries(o, ['f1'])), origins.filter((o) => direct.carries(o, ['e1'])), 'relayed or its own, the same claim')
  assert.ok(origins.some((o) => !c1.carries(o, ['f1'])), 'e1 relayed by f1 takes some origins')
  assert.ok(origins.every((o) => c1.carries(o, ['f1', 'x9']) === c1.carries(o, ['f1'])), 'a peer of no known region reports nothing')
  assert.ok(origins.every((o) => c1.carries(o, ['a2'])), 'no claim heard from a connected neighbour of our region: c1 carries all')
  // e1 does not know of d1 (no report): it carries every origin, d1 its share; none is lost
  const alone = eu('e1')
  assert.ok(origins.every((o) => alone.carries(o, ['f1'])))
  // crossRegionCopies 'each-link' (the default): every holder carries every origin
  const each = new RegionLinks('e1', 'eu', 2, { now: () => clock })
  each.learn('d1', 'eu')
  each.learn('a2', 'us')
  each.heard('d1', { holds: true, holders: [] })
  clock += CARRY_SETTLE_MS
  assert.ok(origins.every((o) => each.carries(o, ['d1'])), 'each link carries')
  // a second far region known: far links may go to either, a claim does not say which, so every holder carries
  e1.learn('z3', 'ap')
  assert.ok(origins.every((o) => e1.carries(o, ['d1'])))
})

test('over random regions after the holders settle, every origin has a carrier, and nearly always one', () => {
  const seeds = Number(process.env.REGION_VIEW_SEEDS ?? 20)
  const from = Number(process.env.REGION_VIEW_FROM ?? 1)
  let copies = 0
  let writes = 0
  for (let seed = from; seed < from + seeds; seed++) {
    const n = 10 + (seed % 5) * 10
    const { holders, carriers } = settle(seed, n, 8, 2)
    const replay = `replay: REGION_VIEW_FROM=${seed} REGION_VIEW_SEEDS=1 node test/libp2p/region-view.test.ts`
    for (let o = 0; o < 50; o++) {
      const by = carriers(`w${seed}-${o}~x`)
      assert.ok(by.length >= 1, `seed ${seed}: no holder of ${holders.join(',')} carries origin ${o}; ${replay}`)
      copies += by.length
      writes++
    }
  }
  console.log(`  carriers: ${(copies / writes).toFixed(2)} holders carry an origin's writes, over ${writes} origins and ${seeds} regions`)
  assert.ok(copies / writes < 1.5, `${(copies / writes).toFixed(2)} carriers an origin`)
})

test.run()
