/**
 * Two regions apart by a real 40 ms one-way delay (issue 21 §2): 3+3
 * meshcache processes in network namespaces, cross-region traffic through a
 * user-space TCP delay proxy (test/helpers/region-lab.ts), full mesh.
 *
 * - the delay is real and only between regions: every cross-region arrival
 *   takes at least the link delay, a write inside a region does not;
 * - a region cut off and healed, the delay still in place: every instance
 *   holds both regions' writes within link delay + 1 s of the heal, for a cut
 *   longer than the keepalive and shorter than `peerTimeout`, and one longer
 *   than both. The second failed (1.0-1.5 s) while a probe that reached a
 *   peer through its bootstrap address (the proxy) redialled only the
 *   addresses the peer advertises (unreachable from the other region): the
 *   bootstrap entry waited out its backoff (redial.ts `dialNow`).
 *
 * Real time is unavoidable (a delay and a cut are time); the transport's
 * timers are scaled down as in heal.test.ts (keepalive 2 s, peerTimeout 6 s).
 * The p50 target (cross-region within delay + 5 ms) is a figure of
 * `npm run bench:regions`, not asserted here. So is the heal target (link
 * delay + 1 s): timed from a simultaneous lift of the cut (region-lab.ts; it
 * was timed from the end of a sequential one, up to a second late under
 * load), the full mesh took 0.5-1.27 s at a load average of 9-16, the branch
 * point's code as much, so the bound here is HEAL_BOUND_MS, generous for a
 * loaded CI machine: it still catches a heal that waits for a backoff or a
 * periodic round (seconds). The probe's redial of the bootstrap address is
 * pinned by test/libp2p/redial-now.test.ts.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { isNetnsAvailable } from '../helpers/netns.ts'
import { cutAndHeal, measurePropagation, percentile, startRegions, type Regions } from './regions.ts'
import type { TransportStats } from '../../lib/net/libp2p/stats.ts'
import { CARRY_SETTLE_MS } from '../../lib/net/libp2p/regions.ts'

const DELAY_MS = 40
const SHORT_CUT_MS = 5_000
/** What the heal tests assert (the target, link delay + 1 s, is the bench's figure; see above). */
const HEAL_BOUND_MS = 3_000
const LONG_CUT_MS = 8_000

interface Context { r?: Regions }
const regions = suite<Context>('two regions 40 ms apart (netns + delay proxy)', {})

const availability = await isNetnsAvailable('regions')

/**
 * 4+4 instances in a partial mesh with region links (maxPeers 3) for suite `s`, the second region started
 * `staggerMs` after the first; false (and `s` skipped as `skipName`) without network namespaces.
 */
function regionLinks (s: ReturnType<typeof suite<Context>>, skipName: string, staggerMs?: number, env: Record<string, string> = {}): boolean {
  if (!availability.ok) {
    s.skip(skipName, () => {})
    return false
  }
  s.before(async (ctx) => {
    ctx.r = await startRegions({ sizes: [4, 4], delayMs: DELAY_MS, ...(staggerMs !== undefined ? { staggerMs } : {}), env: { KEEPALIVE_MS: '2000', PEER_TIMEOUT_MS: '6000', REDIAL: 'default', MAX_PEERS: '3', REGION_LINKS: '1', ...env } })
  })
  s.after(async (ctx) => { await ctx.r?.close() })
  return true
}
if (!availability.ok) {
  console.log(`  regions: skipped: ${availability.reason}`)
  regions.skip('regions', () => {})
} else {
  regions.before(async (ctx) => {
    ctx.r = await startRegions({ sizes: [3, 3], delayMs: DELAY_MS, env: { KEEPALIVE_MS: '2000', PEER_TIMEOUT_MS: '6000', REDIAL: 'default' } })
  })
  regions.after(async (ctx) => { await ctx.r?.close() })

  regions('a write crosses regions no faster than the link delay, and stays fast inside its region', async (ctx) => {
    const p = await measurePropagation(ctx.r as Regions, 20)
    console.log(`  regions: intra p50 ${percentile(p.intra, 0.5).toFixed(1)} ms, cross p50 ${percentile(p.cross, 0.5).toFixed(1)} ms (link ${DELAY_MS} ms)`)
    assert.is(p.cross.length, 20 * 3)
    assert.is(p.intra.length, 20 * 2)
    for (const ms of p.cross) assert.ok(ms >= DELAY_MS, `a cross-region write arrived in ${ms.toFixed(1)} ms, under the ${DELAY_MS} ms link`)
    assert.ok(percentile(p.intra, 0.5) < DELAY_MS, `intra-region p50 ${percentile(p.intra, 0.5).toFixed(1)} ms: went through the proxy?`)
  })

  regions(`a region cut off for ${SHORT_CUT_MS} ms (past the keepalive, under peerTimeout) converges after the heal`, async (ctx) => {
    const { ms, liftMs } = await cutAndHeal(ctx.r as Regions, 'short', SHORT_CUT_MS)
    console.log(`  regions: ${SHORT_CUT_MS} ms cut: converged ${ms.map((m) => m.toFixed(0)).join(', ')} ms after the heal (lifting the cut took ${liftMs.toFixed(0)} ms)`)
    for (const [i, m] of ms.entries()) assert.ok(m < HEAL_BOUND_MS, `node ${i} converged ${m.toFixed(0)} ms after the heal (lifting the cut took ${liftMs.toFixed(0)} ms)`)
  })

  regions(`a region cut off for ${LONG_CUT_MS} ms (past peerTimeout) converges after the heal`, async (ctx) => {
    const { ms, liftMs } = await cutAndHeal(ctx.r as Regions, 'long', LONG_CUT_MS)
    console.log(`  regions: ${LONG_CUT_MS} ms cut: converged ${ms.map((m) => m.toFixed(0)).join(', ')} ms after the heal (lifting the cut took ${liftMs.toFixed(0)} ms)`)
    for (const [i, m] of ms.entries()) assert.ok(m < HEAL_BOUND_MS, `node ${i} converged ${m.toFixed(0)} ms after the heal (lifting the cut took ${liftMs.toFixed(0)} ms)`)
  })
}

regions.run()

/**
 * The same cuts in a partial mesh with region links (maxPeers 3, 4+4: each
 * region keeps a couple of far links), and the fast lane (fast-lane.ts:
 * writes forwarded over direct streams along the region path; its latency
 * is `npm run bench:regions`' figure, not asserted here). Before the repair relay and the
 * restore of lost links at the bound, the 8 s cut never converged within 60 s
 * (the far links were not redialled: every node was at its bound) and the 5 s
 * cut took 0.5-13 s (the side beyond the far link's end waited for
 * announcement ticks and periodic rounds; at 4+4 the branch point's code
 * converged in neither within 60 s). The bound is HEAL_BOUND_MS, as above;
 * `npm run bench:regions -- --sizes 5,5 --max-peers 3 --region-links`
 * reports the figure (0.36-0.98 s).
 */
const partial = suite<Context>('two regions 40 ms apart, partial mesh with region links (netns + delay proxy)', {})

if (regionLinks(partial, 'regions (partial mesh)')) {
  partial('a write crosses on the fast lane: holders forward it over their far links, far holders to their region', async (ctx) => {
    const r = ctx.r as Regions
    const stats = async (): Promise<TransportStats[]> => await Promise.all(r.children.map(async (_, i) => (await r.ask(i, { op: 'transport-stats' })).value as TransportStats))
    const before = await stats()
    const p = await measurePropagation(r, 20, 'lane')
    const after = await stats()
    console.log(`  regions (partial mesh, region links): intra p50 ${percentile(p.intra, 0.5).toFixed(1)} ms, cross p50 ${percentile(p.cross, 0.5).toFixed(1)} ms (link ${DELAY_MS} ms)`)
    for (const ms of p.cross) assert.ok(ms >= DELAY_MS, `a cross-region write arrived in ${ms.toFixed(1)} ms, under the ${DELAY_MS} ms link`)
    // A far link's end forwards every write that reaches it from the other region to its own
    // region (whoever holds the links); with forwarding off only the writers' own copies go.
    const forwarded = after.reduce((n, s, i) => n + s.fastLaneForwarded - (before[i] as TransportStats).fastLaneForwarded, 0)
    const duplicates = after.reduce((n, s, i) => n + s.fastLaneDuplicates + s.relayedDuplicates - (before[i] as TransportStats).fastLaneDuplicates - (before[i] as TransportStats).relayedDuplicates, 0)
    assert.ok(forwarded >= 20, `${forwarded} copies forwarded for 20 writes: the far ends do not spread them`)
    assert.ok(duplicates > 0, 'no second copy was dropped: the lane and gossipsub did not both deliver')
    // A far end hands what crossed by the lane to gossipsub in its region (fast-lane.ts), so the instances beyond its
    // own neighbours need not wait for gossipsub's heartbeat or anti-entropy.
    const relayed = after.reduce((n, s, i) => n + s.fastLaneRelayed - (before[i] as TransportStats).fastLaneRelayed, 0)
    assert.ok(relayed > 0, 'no far end published a frame that crossed by the lane on gossipsub')
  })

  partial('far links: one connection a far pair, whichever side dialled, carrying gossipsub both ways, and a link between the regions', async (ctx) => {
    const r = ctx.r as Regions
    // Every connection across goes through the proxy, at the gateway's address (region-lab.ts), either way.
    const farPairs = async (): Promise<{ doubled: string[], noGossip: string[] }> => {
      const doubled: string[] = []
      const noGossip: string[] = []
      for (let i = 0; i < r.children.length; i++) {
        const { connections } = (await r.ask(i, { op: 'links' })).value as { connections: Array<{ peer: string, direction: string, addr: string, streams: string[] }> }
        const far = connections.filter((c) => c.addr.includes('.254/'))
        for (const peer of new Set(far.map((c) => c.peer))) if (far.filter((c) => c.peer === peer).length > 1) doubled.push(`node ${i} ↔ …${peer.slice(-6)}`)
        // gossipsub keeps one stream each way a peer, on the connection it was opened on: the one kept must carry both
        for (const c of far) if (!['i', 'o'].every((d) => c.streams.some((s) => s.startsWith('/meshsub/') && s.endsWith(`:${d}`)))) noGossip.push(`node ${i} ↔ …${c.peer.slice(-6)}: ${c.streams.join(' ')}`)
      }
      return { doubled, noGossip }
    }
    // Both ends of a pair that dialled each other keep the smaller id's connection a second after the second one
    // opened (partial-mesh.ts); links formed at start, so poll (no event says a connection closed on purpose).
    let seen = await farPairs()
    for (const until = Date.now() + 10_000; (seen.doubled.length > 0 || seen.noGossip.length > 0) && Date.now() < until;) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      seen = await farPairs()
    }
    const { connections } = await r.lab.proxyHolds()
    console.log(`  regions (partial mesh, region links): ${connections} connections through the proxy`)
    assert.equal(seen.doubled, [], `far pairs connected twice (they dialled each other): ${seen.doubled.join(', ')}`)
    assert.equal(seen.noGossip, [], `far connections without gossipsub's streams both ways: ${seen.noGossip.join(', ')}`)
    assert.ok(connections >= 1, 'no link between the regions')
  })

  for (const [round, cutMs, what] of [['p-short', SHORT_CUT_MS, 'past the keepalive, under peerTimeout'], ['p-long', LONG_CUT_MS, 'past peerTimeout']] as const) {
    partial(`a region cut off for ${cutMs} ms (${what}) converges after the heal: far links come back, repairs are relayed`, async (ctx) => {
      const { ms, liftMs } = await cutAndHeal(ctx.r as Regions, round, cutMs)
      console.log(`  regions (partial mesh, region links): ${cutMs} ms cut: converged ${ms.map((m) => m.toFixed(0)).join(', ')} ms after the heal (lifting the cut took ${liftMs.toFixed(0)} ms)`)
      for (const [i, m] of ms.entries()) assert.ok(m < HEAL_BOUND_MS, `node ${i} converged ${m.toFixed(0)} ms after the heal (lifting the cut took ${liftMs.toFixed(0)} ms)`)
    })
  }
}

partial.run()

/**
 * Region links when the second region starts 2 s after the first (as after a
 * deploy of one region): the first region's dials of its bootstrap addresses
 * there fail, and then it knows the far peers only by the addresses they
 * advertise, which nobody in the other region can dial (region-lab.ts: only
 * the proxy crosses, as behind NAT). Each region's `crossRegionLinks` (2)
 * smallest ids are link holders in every node's view (regions.ts), so each
 * must end with a far link. Before, a holder at its bound tried only the far
 * peers it knew by id, never a bootstrap address it had not met: some holder
 * still had none 15 s after membership formed in 3 of 4 runs (this test: 2
 * of 3), and 5+5 runs of the bench kept one link between the regions
 * (bench/README.md, 2026-12-06).
 */
const staggered = suite<Context>('two regions 40 ms apart, the second started 2 s later: every link holder gets a far link (netns + delay proxy)', {})

if (regionLinks(staggered, 'regions (staggered start)', 2_000)) {
  staggered('each region\'s two smallest ids hold a far link, reached through the bootstrap address (the proxy)', async (ctx) => {
    const r = ctx.r as Regions
    const lacking = async (): Promise<string[]> => {
      const nodes = await Promise.all(r.children.map(async (_, i) => ({ i, region: i < 4 ? 0 : 1, ...((await r.ask(i, { op: 'links' })).value as { self: string, connections: Array<{ addr: string }> }) })))
      return [0, 1].flatMap((region) => nodes.filter((n) => n.region === region).sort((a, b) => a.self < b.self ? -1 : 1).slice(0, 2)
        .filter((n) => !n.connections.some((c) => c.addr.includes('.254/'))).map((n) => `node ${n.i} (region ${region}, ${n.connections.length} connections)`))
    }
    // Holders may change while links rotate (a node's view is the peers it is connected to), so poll for the state.
    const started = Date.now()
    let missing = await lacking()
    while (missing.length > 0 && Date.now() - started < 20_000) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      missing = await lacking()
    }
    console.log(`  regions (staggered start): every holder had a far link ${Date.now() - started} ms after membership formed`)
    assert.equal(missing, [], `link holders without a far link 20 s after membership formed: ${missing.join(', ')}`)
  })
}

staggered.run()

/**
 * The far links' holders killed (SIGKILL): in a large region most holders
 * stand down on hearing of smaller ones (VIEW, region-view.ts), so the links
 * hang on a few instances. When those die, their claims must go with them
 * (a claim counts only while a connected neighbour reports it afresh) and the
 * survivors become holders by their own view again and dial across, so the
 * regions are never left apart. Here 4+4: each region's two smallest ids
 * (holders in every view, crossRegionLinks 2) are killed in both regions at
 * once, so neither side's holders redial the other at once and each survivor
 * has two dead smaller claimants; then a survivor must get a far link and
 * keep it (5 s: a far link dialled without need is let go within a second or
 * two), and writes must cross both ways. With claims that outlived their holders (a
 * planted bug: reports of peers gone never forgotten) no survivor did.
 */
const killed = suite<Context>('two regions 40 ms apart, partial mesh with region links: the far links\' holders killed (netns + delay proxy)', {})

if (regionLinks(killed, 'regions (holders killed)')) {
  killed('survivors take the far links over, and writes cross both ways', async (ctx) => {
    const r = ctx.r as Regions
    const farLinks = async (i: number): Promise<number> =>
      ((await r.ask(i, { op: 'links' })).value as { connections: Array<{ addr: string }> }).connections.filter((c) => c.addr.includes('.254/')).length
    const holders = async (region: number[]): Promise<number[]> => (await Promise.all(region.map(farLinks))).flatMap((n, j) => n > 0 ? [region[j] as number] : [])
    const regions = [[0, 1, 2, 3], [4, 5, 6, 7]]
    // The far links dialled at start are let go over a few seconds: wait until the holders stay the same for 3 s
    // (polled: a process's connections have no event to wait on).
    const all = async (): Promise<number[]> => [...await holders(regions[0] as number[]), ...await holders(regions[1] as number[])]
    let holding = await all()
    for (let same = 0, until = Date.now() + 30_000; same < 12 && Date.now() < until;) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      const now = await all()
      same = now.join() === holding.join() && now.length > 0 ? same + 1 : 0
      holding = now
    }
    assert.ok(holding.length > 0, 'no far link between the regions')
    const ids = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(async (i) => ((await r.ask(i, { op: 'links' })).value as { self: string }).self))
    const victims = regions.flatMap((region) => [...region].sort((x, y) => (ids[x] as string) < (ids[y] as string) ? -1 : 1).slice(0, 2))
    const survivors = regions.map((region) => region.filter((i) => !victims.includes(i)))
    for (const i of victims) r.children[i]?.kill('SIGKILL')
    const killedAt = Date.now()
    const before = (await holders(survivors[0] as number[])).length
    // A far link that stays: one a survivor dials to a bootstrap address of unknown peer is let go a second or two
    // later unless it holds it, so only a holder's link lasts 5 s.
    let heldSince: number | undefined
    for (const until = Date.now() + 40_000; Date.now() < until;) {
      const across = (await holders(survivors[0] as number[])).length
      if (across === 0) heldSince = undefined
      else heldSince ??= Date.now()
      if (heldSince !== undefined && Date.now() - heldSince >= 5_000) break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    assert.ok(heldSince !== undefined && Date.now() - heldSince >= 5_000, `no survivor (${survivors.flat().join(', ')}) kept a far link 5 s within 40 s of the holders (${victims.join(', ')}) being killed`)
    const tookMs = heldSince - killedAt
    const [a, b] = [survivors[0]?.[0] as number, survivors[1]?.[0] as number]
    await r.ask(a, { op: 'set', key: 'after-kill-0', value: 'a' })
    await r.ask(b, { op: 'set', key: 'after-kill-1', value: 'b' })
    const holds = async (): Promise<boolean> => (await Promise.all(survivors.flat().map(async (i) => (await r.ask(i, { op: 'get', keys: ['after-kill-0', 'after-kill-1'] })).value as Array<string | null>)))
      .every((v) => v[0] === 'a' && v[1] === 'b')
    let crossed = await holds()
    for (const until = Date.now() + 15_000; !crossed && Date.now() < until;) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      crossed = await holds()
    }
    assert.ok(crossed, 'a write did not reach every live instance across the regions')
    console.log(`  regions (holders killed): the two smallest ids of each region killed (${victims.join(', ')}; far links were held by ${holding.join(', ')}); ${before > 0 ? 'a survivor held a far link already' : `a survivor held a far link from ${tookMs} ms later`} and kept it, and writes crossed both ways`)
  })
}

killed.run()

/**
 * crossRegionCopies 'one' (regions.ts `carries`, SPEC.md §11.4): once the far links have been still for
 * CARRY_SETTLE_MS, of a region's link holders one carries each writer's writes across, one copy a far region;
 * the others count the write deferred. Every write still reaches the far region by its frame: the lane's
 * crossing, spread by the one far end and gossipsub (a repair would take a second or more). At 4+4 in the lab
 * the far links take some seconds past the warm-up to be still (bench:regions --settle at 5+5: 1.0 copy a write
 * across, against 3.0 with 'each-link', the default).
 */
const oneCopy = suite<Context>('two regions 40 ms apart, crossRegionCopies \'one\' (netns + delay proxy)', {})

if (regionLinks(oneCopy, 'regions (one copy)', undefined, { CROSS_COPIES: 'one' })) {
  oneCopy('once the far links are still, one holder carries each writer\'s writes across: about one copy a write, each by its frame', async (ctx) => {
    const r = ctx.r as Regions
    const stats = async (): Promise<TransportStats[]> => await Promise.all(r.children.map(async (_, i) => (await r.ask(i, { op: 'transport-stats' })).value as TransportStats))
    const sum = (after: TransportStats[], before: TransportStats[], field: 'fastLaneFar' | 'fastLaneDeferred'): number =>
      after.reduce((n, s, i) => n + s[field] - (before[i] as TransportStats)[field], 0)
    await measurePropagation(r, 4, 'warm')
    await new Promise((resolve) => setTimeout(resolve, CARRY_SETTLE_MS + 10_000)) // the far links still for a while: a wait, nothing to poll
    const before = await stats()
    const p = await measurePropagation(r, 20, 'one')
    const after = await stats()
    const far = sum(after, before, 'fastLaneFar') / 20
    const deferred = sum(after, before, 'fastLaneDeferred') / 20
    console.log(`  regions (one copy): ${far.toFixed(1)} copies over far links a write, ${deferred.toFixed(1)} left to another holder; cross p50 ${percentile(p.cross, 0.5).toFixed(1)} ms, max ${Math.max(...p.cross).toFixed(1)} ms (link ${DELAY_MS} ms)`)
    assert.ok(deferred > 0, 'no holder left a write to another: every far link carried every write')
    assert.ok(far < 2, `${far} copies over far links a write`)
    assert.ok(Math.max(...p.cross) < DELAY_MS + 500, `a write reached the far region ${Math.max(...p.cross).toFixed(0)} ms after it: not by its frame`)
  })
}

oneCopy.run()
