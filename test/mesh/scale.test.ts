/**
 * A partial mesh over real processes (issue 21 §1, §3): 30 instances, 5 per
 * process, each with its own libp2p node and port, every one bootstrapped to
 * the same three, with `maxPeers: 6`. So no instance connects to all the
 * others: membership, writes and repairs must cross several hops (gossipsub
 * and anti-entropy with neighbours).
 *
 * Waits on replies only; the hosts poll membership every 20 ms (there is no
 * membership event). `npm run bench:scale` has the figures at larger sizes.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ScaleCluster } from '../../bench/scale/cluster.ts'

const INSTANCES = 30
const PER_PROCESS = 5
const MAX_PEERS = 6
const WRITES = 20

test(`${INSTANCES} instances with maxPeers ${MAX_PEERS}: full membership over the mesh, bounded connections, every write reaches everyone`, async () => {
  const cluster = await ScaleCluster.start({ instances: INSTANCES, perProcess: PER_PROCESS, maxPeers: MAX_PEERS })
  try {
    await cluster.awaitMembership(90_000)
    // Membership now forms within seconds (digests, SPEC §5), sooner than the connections settle:
    // newcomers greeted over the bound are let go a second after their greeting (SPEC §11.1), so a
    // snapshot at that instant can hold a few of them. The bound is checked once it holds, within
    // a deadline, and again after the writes.
    const formed = await settledWithinBound(cluster, 15_000)
    assert.ok(formed.some((s) => s.transport.connections < INSTANCES - 1), 'not a full mesh')

    const results = await writeEverywhere(cluster, 'w')
    const after = await cluster.stats()
    assertBound(after.map((f) => f.transport.connections))
    const relayed = after.reduce((n, s) => n + s.transport.framesRelayed, 0)
    assert.ok(relayed >= WRITES, `broadcasts went over gossipsub (${relayed} published)`)
    const last = results.map((r) => r.lastMs).sort((a, b) => a - b)
    console.log(`  scale: ${INSTANCES} instances, connections ${Math.min(...after.map((s) => s.transport.connections))}-${Math.max(...after.map((s) => s.transport.connections))}; last receiver p50 ${last[Math.floor(last.length / 2)]?.toFixed(1)} ms, max ${last.at(-1)?.toFixed(1)} ms (shared machine)`)
  } finally {
    await cluster.close()
  }
})

/**
 * The same mesh in two regions of 15 with region links (SPEC §11.4): the regions keep a few links across
 * (15+15 in bench:scale: 3-4, against 64-66 with the regions as labels only), and every write still reaches every
 * instance: over the fast lane across, and from a far link's end on through gossipsub in its region (the lane's
 * crossings are published there, fast-lane.ts; before, a 25+25 mesh's p99 read 0.3-0.8 s, waiting on gossipsub's
 * heartbeat or anti-entropy). Holders that hear of two smaller ones holding far links stand down (VIEW,
 * region-view.ts): 2-5 connections across here (6 runs), where the rule by each instance's own view alone kept 5-9
 * (9 runs); what fails without it is the count of holders that stood down.
 */
test(`${INSTANCES} instances in two regions with region links: a few connections across, every write reaches everyone`, async () => {
  const cluster = await ScaleCluster.start({ instances: INSTANCES, perProcess: PER_PROCESS, maxPeers: MAX_PEERS, regions: 2, regionLinks: true })
  try {
    await cluster.awaitMembership(90_000)
    const across = (stats: Stats): number => stats.reduce((n, s, i) => n + s.connected.filter((p) => isFar(cluster, i, p)).length, 0) / 2
    // Far links dialled at start (every instance's bootstrap addresses are in the first region) are let go a second
    // after their instance has a link in its own region, and a holder's a second after it hears it need not hold
    // one: poll until they have been. The processes answer one after another, so a link opening or closing meanwhile
    // is seen by one end only (a count of 1.5, 1 run in ~80): poll until both ends agree, too.
    let stats = await cluster.stats()
    const settled = (n: number): boolean => Number.isInteger(n) && n >= 2 && n <= 5
    for (const until = Date.now() + 15_000; !settled(across(stats)) && Date.now() < until;) {
      await new Promise((resolve) => setTimeout(resolve, 200)) // polling real processes' connections: no event to wait on
      stats = await cluster.stats()
    }
    const farLinks = across(stats)
    assert.ok(farLinks >= 2 && farLinks <= 5, `${farLinks} connections across the regions (expected 2 to 5)`)
    const stoodDown = stats.reduce((n, s) => n + s.transport.farLinksStoodDown, 0)
    assert.ok(stoodDown > 0, 'no holder stood down on hearing of smaller ones (VIEW)')
    const results = await writeEverywhere(cluster, 'r')
    const after = await cluster.stats()
    const relayed = after.reduce((n, s, i) => n + s.transport.fastLaneRelayed - (stats[i] as Stats[number]).transport.fastLaneRelayed, 0)
    assert.ok(relayed > 0, 'no far end published a write that crossed by the lane on gossipsub')
    // Writes go on the region's gossipsub topic (relay.ts regionTopicOf): a far link carries the lane's copy of a
    // write, not gossipsub's too (nor a far end's publish coming back).
    const farUpdates = (s: Stats[number], i: number): number => Object.entries(s.gossipUpdatesFrom).reduce((m, [p, c]) => m + (isFar(cluster, i, p) ? c : 0), 0)
    const gossipAcross = after.reduce((n, s, i) => n + farUpdates(s, i) - farUpdates(stats[i] as Stats[number], i), 0) / WRITES
    const laneAcross = after.reduce((n, s, i) => n + s.transport.fastLaneFar - (stats[i] as Stats[number]).transport.fastLaneFar, 0) / WRITES
    assert.ok(gossipAcross < 0.25, `${gossipAcross} gossipsub copies of a write across (${laneAcross} by the lane)`)
    const last = results.map((r) => r.lastMs).sort((a, b) => a - b)
    console.log(`  scale, two regions: ${farLinks} connections across (${stoodDown} let go by holders that stood down); copies of a write across: ${laneAcross.toFixed(1)} by the lane, ${gossipAcross.toFixed(2)} by gossipsub; last receiver p50 ${last[Math.floor(last.length / 2)]?.toFixed(1)} ms, max ${last.at(-1)?.toFixed(1)} ms; ${relayed} lane crossings published on gossipsub`)
  } finally {
    await cluster.close()
  }
})

/**
 * Instances that set no region beside two regions with region links: writes go on a topic of each region, which
 * they join once a peer tells them it did (relay.ts), and until then the lane hands them a copy where a write
 * first arrives next to them (fast-lane.ts). Without either they heard some writes only from a repair (this test
 * on the code before both: 778 ms).
 */
test('instances without a region in a mesh with region links hear every write by its own frame, not by a repair', async () => {
  // 12 in two regions, 4 (the last host) with none; maxPeers 4, so most writers are not their neighbours
  const cluster = await ScaleCluster.start({ instances: 16, perProcess: 4, maxPeers: 4, regions: 2, regionLinks: true, regionless: 4 })
  try {
    await cluster.awaitMembership(90_000)
    const stats = await cluster.stats() // the links as the writes begin, named if one goes by a repair
    const writes: Array<{ key: string, sentAt: number }> = []
    for (let i = 0; i < 12; i++) {
      const key = `x${i}`
      writes.push({ key, sentAt: await cluster.write(i, key) })
      await new Promise((resolve) => setTimeout(resolve, 100)) // one write at a time: each one's path is its own
    }
    await cluster.awaitKeys(writes.map((w) => w.key), 30_000)
    const results = await cluster.results(writes)
    const regionless = cluster.hosts.findIndex((h) => cluster.regions[h.first] === '')
    const offTopic = (await cluster.stats()).reduce((n, s) => n + s.transport.fastLaneOffTopic, 0)
    const byRepair: string[] = []
    for (const r of results) {
      assert.is(r.receivers, 16, `${r.key} reached ${r.receivers} of 16`)
      const [lastMs, repaired] = r.byHost[regionless] as [number, number]
      if (repaired > 0) byRepair.push(`${r.key}: ${repaired} of the instances without a region got it by a repair (${where(cluster, stats, r.repairedAt.filter((i) => cluster.regions[i] === ''))}; ${lastMs.toFixed(0)} ms)`)
    }
    // One write of the 12 may (RARE_REPAIR, below); the failure this test is for was most of them.
    assert.ok(byRepair.length <= 1, byRepair.join('; '))
    if (byRepair.length > 0) console.log(`  (one write by a repair, the rare race: ${byRepair.join('')})`)
    const worst = Math.max(...results.map((r) => (r.byHost[regionless] as [number, number])[0]))
    console.log(`  scale, without a region beside two regions: every write by its frame, the last of them ${worst.toFixed(1)} ms after the write; ${offTopic} lane copies to neighbours off the region's topic`)
  } finally {
    await cluster.close()
  }
})

/**
 * Three regions with region links: each region's holders link to one far peer each, so two regions may share no
 * link and a write between them crosses a third. Writes go on a topic of each region, so gossipsub carries none
 * through it: the lane must (fast-lane.ts, a write goes on to the regions it has not come from). Before, a write
 * whose copy reached the third region's holder by its own region reached no further, and the far region heard it
 * from a repair, 0.5-1.5 s later (a scratch of 3 × 5 instances: 9 of 12 writes so). And a node whose bound
 * filled with far links, with none in its region, heard even its own region's writes only from a repair (5 s):
 * it now dials one there (regions.ts needsDial).
 */
test('three regions with region links: a write crosses a region between two that share no link, by its frame', async () => {
  const cluster = await ScaleCluster.start({ instances: 15, perProcess: 5, maxPeers: 3, regions: 3, regionLinks: true })
  try {
    await cluster.awaitMembership(90_000)
    // every instance keeps a link in its own region (regions.ts needsDial): its region's writes travel there; far
    // links are let go a second after a link in the region is up (SPEC §11.4)
    const nearLinks = (s: Stats): number[] => s.map((x, i) => x.connected.filter((p) => !isFar(cluster, i, p)).length)
    let stats = await cluster.stats()
    for (const until = Date.now() + 15_000; nearLinks(stats).some((n) => n === 0) && Date.now() < until;) {
      await new Promise((resolve) => setTimeout(resolve, 200)) // polling real processes' connections: no event to wait on
      stats = await cluster.stats()
    }
    assert.ok(nearLinks(stats).every((n) => n > 0), `an instance without a link in its own region (links there: ${nearLinks(stats).join(',')})`)
    await new Promise((resolve) => setTimeout(resolve, 2000)) // far links let go and settled
    stats = await cluster.stats()
    const pairs = new Set<string>()
    for (const [i, s] of stats.entries()) {
      for (const p of s.connected) {
        const at = cluster.peerIds.indexOf(p)
        if (at >= 0 && cluster.regions[at] !== cluster.regions[i]) pairs.add([cluster.regions[i], cluster.regions[at]].sort().join('-'))
      }
    }
    const writes: Array<{ key: string, sentAt: number }> = []
    const writers: Record<string, number> = {}
    for (let i = 0; i < 15; i++) {
      const key = `t${i}`
      writers[key] = (i * 7) % 15
      writes.push({ key, sentAt: await cluster.write((i * 7) % 15, key) })
      await new Promise((resolve) => setTimeout(resolve, 100)) // one write at a time: each one's path is its own
    }
    await cluster.awaitKeys(writes.map((w) => w.key), 30_000)
    const results = await cluster.results(writes)
    const byRepair: string[] = []
    for (const r of results) {
      assert.is(r.receivers, 15, `${r.key} reached ${r.receivers} of 15`)
      if (r.repaired > 0) byRepair.push(`${r.key} (written in ${cluster.regions[writers[r.key] as number]}): ${r.repaired} instances got it by a repair (${where(cluster, stats, r.repairedAt)}; region pairs linked: ${[...pairs].join(', ')}; the last ${r.lastMs.toFixed(0)} ms)`)
    }
    // One write of the 15 may (RARE_REPAIR, below); the failure this test is for was 9 of 12.
    assert.ok(byRepair.length <= 1, byRepair.join('; '))
    if (byRepair.length > 0) console.log(`  (one write by a repair, the rare race: ${byRepair.join('')})`)
    const last = results.map((r) => r.lastMs).sort((a, b) => a - b)
    console.log(`  scale, three regions: region pairs linked ${[...pairs].join(', ')}; every write by its frame, last receiver p50 ${last[Math.floor(last.length / 2)]?.toFixed(1)} ms, max ${last.at(-1)?.toFixed(1)} ms`)
  } finally {
    await cluster.close()
  }
})

type Stats = Awaited<ReturnType<ScaleCluster['stats']>>

/*
 * RARE_REPAIR. The two tests above pin that writes travel by their own frames, not by repairs; each allows one write
 * by a repair and prints it. Until 2026-12-07 about one run of the file in eight failed (one write, or one to nine in a
 * row, reaching one or two instances by a repair 23 ms to 2 s after it; and once the two-region test finding no holder
 * that stood down). Diagnostics later that day (each instance's connections opened and closed, links up and down and
 * frames by sender around the writes, in about 100 runs) named the long forms: each time a link being let go over a
 * node's bound (SPEC §11.1). A newcomer counted such a link up, and as a far link held, for the second before the
 * close, while the node letting it go sent nothing on it, and its region's holder stood down on that claim; a holder
 * whose only far link was such a one neither needed nor was allowed another until the close; an instance whose every
 * link was such a one sat at its bound, dialled nobody, and had no link at all for 0.4 s after the closes. The SHED
 * now comes in the greeting, and a link being let go is up in no namespace and counted by neither the bound nor the
 * region links (shed.test.ts pins each). Since the three changes, 34 runs of the file: 0 failing, one write by a
 * repair (61 ms) in one.
 * What remains allowed is the fast form: a write made while a link is being set up, before the writer counts it up,
 * reaches the link's other end by the link's first anti-entropy, tens of milliseconds after the write.
 */

/** The instances `at` (global indexes), each with its region and the instances it was connected to in `stats`. */
function where (cluster: ScaleCluster, stats: Stats, at: number[]): string {
  const name = (i: number): string => `i${i}${cluster.regions[i] === '' ? '' : ` (${cluster.regions[i]})`}`
  return at.map((i) => `${name(i)}, linked to ${(stats[i]?.connected ?? []).map((p) => name(cluster.peerIds.indexOf(p))).join(', ')}`).join('; ')
}

/** Whether `peer` is an instance of the cluster in another region than instance `i`. */
function isFar (cluster: ScaleCluster, i: number, peer: string): boolean {
  const at = cluster.peerIds.indexOf(peer)
  return at >= 0 && cluster.regions[at] !== cluster.regions[i]
}

/** WRITES writes from instances in turn, keys `<prefix><i>`; asserts each reached every instance. */
async function writeEverywhere (cluster: ScaleCluster, prefix: string): Promise<Awaited<ReturnType<ScaleCluster['results']>>> {
  const writes: Array<{ key: string, sentAt: number }> = []
  for (let i = 0; i < WRITES; i++) {
    const key = `${prefix}${i}`
    writes.push({ key, sentAt: await cluster.write((i * 7) % INSTANCES, key) })
  }
  await cluster.awaitKeys(writes.map((w) => w.key), 60_000)
  const results = await cluster.results(writes)
  for (const r of results) assert.is(r.receivers, INSTANCES, `${r.key} reached ${r.receivers} of ${INSTANCES} (the writer counts itself)`)
  return results
}

/**
 * SPEC §11.1: at most 2 × maxPeers kept, plus the newcomers being greeted for their second before
 * they are let go. The three bootstrap instances take the first dial of everyone and a share of the
 * link rotations, so they sit a few above 2 × maxPeers (12-16 seen at 30); what matters is a bound
 * set by maxPeers, not by the mesh's size (a full mesh here is 29).
 */
function boundProblem (counts: number[]): string | undefined {
  const all = `(all: ${counts.join(',')})`
  for (const [i, n] of counts.entries()) {
    if (n < 1) return `instance ${i} has no connection ${all}`
    if (n > 3 * MAX_PEERS) return `instance ${i} holds ${n} connections ${all}`
  }
  const sorted = [...counts].sort((a, b) => a - b)
  if ((sorted[Math.floor(sorted.length / 2)] as number) > 2 * MAX_PEERS) return `median above 2 × maxPeers ${all}`
  return undefined
}

function assertBound (counts: number[]): void {
  const problem = boundProblem(counts)
  assert.ok(problem === undefined, problem)
}

/** Polls the instances' connection counts until they are within the bound, or fails at `deadlineMs` with the last counts. */
async function settledWithinBound (cluster: ScaleCluster, deadlineMs: number): Promise<Stats> {
  const until = Date.now() + deadlineMs
  for (;;) {
    const stats = await cluster.stats()
    const counts = stats.map((f) => f.transport.connections)
    if (boundProblem(counts) === undefined || Date.now() >= until) {
      assertBound(counts)
      return stats
    }
    await new Promise((resolve) => setTimeout(resolve, 200)) // polling real processes' counts: no event to wait on
  }
}

test.run()
