/** ReaderElection's rule over a hand-made membership view: deterministic, sticky, self-resolving. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ReaderElection, type ElectionHost } from '../../lib/sources/reader-election.ts'
import { createMeshCache, type MeshCache } from '../../lib/index.ts'
import { createMemoryNetwork } from '../../lib/testing/index.ts'

const NAME = 'pg-slot:s'

interface Member { origin: string, meta: Record<string, unknown> }

/** A shared membership board: what each instance advertises is what the others see, as awareness would carry it. */
function board () {
  const members = new Map<string, Member>()
  const connected = new Set<string>()
  const host = (origin: string): ElectionHost => {
    members.set(origin, { origin, meta: {} })
    connected.add(origin)
    return {
      origin,
      advertise (name, value) {
        const m = members.get(origin) as Member
        if (value === undefined) delete m.meta[name]
        else m.meta[name] = value
      },
      peers: () => [...members.values()].filter((m) => m.origin !== origin).map((m) => ({ origin: m.origin, peer: m.origin, meta: { ...m.meta } })),
      connectedPeers: () => [...connected].filter((p) => p !== origin),
    }
  }
  return { host, members, connected }
}

function elect (b: ReturnType<typeof board>, origin: string, log: string[], now?: () => number): ReaderElection {
  const e = new ReaderElection(b.host(origin), NAME, { intervalMs: 60_000, onChange: (on) => log.push(`${origin}:${on ? 'elected' : 'stood down'}`), ...(now === undefined ? {} : { now }) })
  return e
}

test('the lowest origin among candidates is elected, and only one', () => {
  const b = board()
  const log: string[] = []
  const es = ['c', 'a', 'b'].map((o) => elect(b, o, log))
  for (const e of es) e.evaluate()
  assert.equal(log, ['a:elected'])
  for (const e of es) e.stop()
})

test('a holder keeps the slot when a lower origin joins; a dead holder (connection gone) is replaced at the next evaluation', () => {
  const b = board()
  const log: string[] = []
  const bE = elect(b, 'b', log)
  bE.evaluate()
  bE.setHolds(true)
  const aE = elect(b, 'a', log)
  aE.evaluate()
  bE.evaluate()
  assert.equal(log, ['b:elected'], 'a newcomer with a lower origin does not displace the holder')
  // kill -9 of b: its connection drops; its awareness state may linger, but it is not connected.
  b.connected.delete('b')
  aE.evaluate()
  assert.equal(log, ['b:elected', 'a:elected'])
  aE.stop()
  bE.stop()
})

test('two holders at once (views differed): the higher origin stands down, the lower keeps reading', () => {
  const b = board()
  const log: string[] = []
  const aE = elect(b, 'a', log)
  const cE = elect(b, 'c', log)
  // c saw nobody when it started and took the slot; a did the same.
  b.connected.delete('a')
  b.connected.delete('c')
  aE.evaluate()
  cE.evaluate()
  aE.setHolds(true)
  cE.setHolds(true)
  b.connected.add('a')
  b.connected.add('c')
  aE.evaluate()
  cE.evaluate()
  assert.equal(log.slice(-1), ['c:stood down'])
  assert.ok(aE.elected && !cE.elected)
  aE.stop()
  cE.stop()
})

test('withdraw() leaves the candidates for a while; stop() leaves them for good', () => {
  const b = board()
  const log: string[] = []
  const aE = elect(b, 'a', log)
  const bE = elect(b, 'b', log)
  aE.evaluate()
  bE.evaluate()
  aE.withdraw(60_000)
  bE.evaluate()
  assert.equal(log, ['a:elected', 'a:stood down', 'b:elected'])
  assert.is(b.members.get('a')?.meta[NAME], undefined, 'a withdrawn instance advertises nothing')
  bE.stop()
  assert.is(b.members.get('b')?.meta[NAME], undefined)
  aE.stop()
})

test('a candidate whose counter stands still for three beats is not counted, though its state and neighbour stay; one without a counter is', () => {
  const b = board()
  const log: string[] = []
  let t = 0
  const now = () => t
  const bE = elect(b, 'b', log, now)
  bE.evaluate()
  bE.setHolds(true)
  const cE = elect(b, 'c', log, now)
  for (; t <= 5_000; t += 100) { bE.evaluate(); cE.evaluate() }
  assert.equal(log, ['b:elected'], 'b beats: c stands by')
  assert.is((b.members.get('b')?.meta[NAME] as { beat: number }).beat > 5, true, 'b moved its counter every second')
  // b dies in a partial mesh: its state stays (membership keeps it 30 s) and the neighbour it came through stays connected.
  const diedAt = t
  for (; !cE.elected && t < diedAt + 10_000; t += 100) cE.evaluate()
  assert.ok(cE.elected, 'c takes over')
  assert.ok(t - diedAt > 2_000 && t - diedAt <= 3_100, `after three beats missed: ${t - diedAt} ms`)
  // An older version's advert has no counter: judged by its connection alone, never stale.
  const d = b.host('a')
  d.advertise(NAME, { holds: true })
  for (const end = t + 10_000; t < end; t += 100) cE.evaluate()
  assert.is(cE.elected, false, 'a, lower and holding, without a counter, counts for as long as it is connected')
  cE.stop()
  bE.stop()
})

test('a candidate whose state came through a neighbour since let go counts while membership reads it connected (a partial mesh)', () => {
  const log: string[] = []
  // c's view: a's state came through x, a neighbour c has let go; membership still reads a connected (its renewals
  // arrive by another path). Judged by x's connection alone, c saw itself lowest and took the feed beside a.
  const c: ElectionHost = {
    origin: 'c',
    advertise () {},
    peers: () => [{ origin: 'a', peer: 'x', connected: true, meta: { [NAME]: { holds: false, beat: 1 } } }],
    connectedPeers: () => [],
  }
  const e = new ReaderElection(c, NAME, { intervalMs: 60_000, onChange: (on) => log.push(`c:${on ? 'elected' : 'stood down'}`) })
  e.evaluate()
  assert.equal(log, [], 'a, lower, counts: c stands by')
  e.stop()
})

test('over a partial mesh (a line a—b—c, the memory network relaying): a holder cut off is replaced in seconds, not at the membership timeout', async () => {
  const net = createMemoryNetwork({ auto: true, links: [['a', 'b'], ['b', 'c']], spread: true })
  const caches: Array<MeshCache<string>> = []
  const elections: ReaderElection[] = []
  try {
    for (const n of ['a', 'b', 'c']) caches.push(await createMeshCache<string>({ namespace: 'election', nodeId: n, transport: net.transport(n) }))
    const [a, , c] = caches as [MeshCache<string>, MeshCache<string>, MeshCache<string>]
    const aE = new ReaderElection(a, NAME, { onChange: () => {} })
    elections.push(aE)
    for (let i = 0; i < 100 && !aE.elected; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    aE.setHolds(true)
    const cE = new ReaderElection(c, NAME, { onChange: () => {} })
    elections.push(cE)
    for (let i = 0; i < 100 && !c.peers().some((p) => p.nodeId === 'a' && (p.meta[NAME] as { holds?: boolean } | undefined)?.holds === true); i++) await new Promise((resolve) => setTimeout(resolve, 20))
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.is(cE.elected, false, 'c stands by while a holds')
    assert.is(c.peers().find((p) => p.nodeId === 'a')?.peer, 'b', 'c hears a through b')
    net.partition(['a'], ['b', 'c'])
    const t0 = Date.now()
    while (!cE.elected && Date.now() - t0 < 10_000) await new Promise((resolve) => setTimeout(resolve, 50))
    const took = Date.now() - t0
    assert.ok(cE.elected, `c took over after ${took} ms`)
    assert.ok(took < 5_000, `within four beats, not membership's 30 s: ${took} ms`)
    assert.ok(c.peers().some((p) => p.nodeId === 'a'), 'a is still a member at c (its state not yet stale)')
  } finally {
    for (const e of elections) e.stop()
    for (const cache of caches) await cache.close()
  }
})

test.run()
