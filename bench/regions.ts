/**
 * bench:regions: two regions apart by a real one-way delay (a user-space TCP
 * delay proxy between network namespaces, test/helpers/region-lab.ts; root
 * only), default full mesh.
 *
 * Prints propagation p50/p99 inside a region and across regions beside the
 * link delay (the baseline: nothing can cross faster), then a region cut off
 * and healed, from the heal to every instance's convergence.
 *
 *   npm run bench:regions -- [--sizes 3,3] [--delay 40] [--writes 100] [--cuts 5000,8000] [--no-cut] [--stagger ms]
 *     [--max-peers N] [--cross-links N] [--region-links] [--one-copy] [--settle ms]
 * `--one-copy` sets crossRegionCopies 'one'; `--settle` waits before the measured writes (one copy a region pair
 * begins once the far links have been still for a few seconds). Cuts use keepalive 2 s and peerTimeout 6 s (as test/netns/heal.test.ts): the first cut outlasts the keepalive
 * only, the second both; `--timers keepaliveMs,peerTimeoutMs` changes them. `--stagger` starts the second region
 * that long after the first (its bootstrap addresses fail the first region's dials at start).
 */
import { cutAndHeal, measurePropagation, percentile, startRegions } from '../test/netns/regions.ts'
import type { TransportStats } from '../lib/net/libp2p/stats.ts'
import { numberOption, parseCli } from '../test/helpers/cli.ts'

const USAGE = `usage: npm run bench:regions -- [--sizes 3,3] [--delay 40] [--writes 100] [--cuts 5000,8000] [--no-cut]
  [--timers 2000,6000] [--max-peers N] [--cross-links N] [--region-links] [--stagger ms] [--settle ms] [--one-copy]   (root: network namespaces)`
const values = parseCli(USAGE, {
  sizes: { type: 'string', default: '3,3' },
  delay: { type: 'string', default: '40' },
  writes: { type: 'string', default: '100' },
  cuts: { type: 'string', default: '5000,8000' },
  timers: { type: 'string', default: '2000,6000' },
  'no-cut': { type: 'boolean', default: false },
  'max-peers': { type: 'string', default: '' },
  'cross-links': { type: 'string', default: '' },
  'region-links': { type: 'boolean', default: false },
  stagger: { type: 'string', default: '' },
  // wait this long before the measured writes: with --one-copy a region pair gets one copy of a write only once the
  // far links have been still for a few seconds (regions.ts CARRY_SETTLE_MS); until then, one a far link
  settle: { type: 'string', default: '0' },
  // crossRegionCopies 'one': one copy of a write a region pair, not one a far link
  'one-copy': { type: 'boolean', default: false },
})
const sizes = values.sizes.split(',').map(Number) as [number, number]
const delayMs = Number(values.delay)
const settleMs = numberOption('bench:regions', 'settle', values.settle, 0)
const [keepalive, peerTimeout] = values.timers.split(',')
const f = (ms: number): string => ms.toFixed(1)

const maxPeers = values['max-peers']
const r = await startRegions({ sizes, delayMs, ...(values.stagger === '' ? {} : { staggerMs: Number(values.stagger) }), env: { KEEPALIVE_MS: keepalive ?? '2000', PEER_TIMEOUT_MS: peerTimeout ?? '6000', REDIAL: 'default', ...(maxPeers === '' ? {} : { MAX_PEERS: maxPeers }), ...(values['cross-links'] === '' ? {} : { CROSS_LINKS: values['cross-links'] }), REGION_LINKS: values['region-links'] ? '1' : '0', ...(values['one-copy'] ? { CROSS_COPIES: 'one' } : {}) } })
try {
  console.log(`bench:regions: ${sizes.join('+')} instances, one-way link delay ${delayMs} ms, ${maxPeers === '' ? 'full mesh' : `partial mesh maxPeers ${maxPeers}${values['cross-links'] === '' ? '' : `, crossRegionLinks ${values['cross-links']}`}${values['region-links'] ? `, region links${values['one-copy'] ? ' (one copy a region pair)' : ''}` : ', no region links'}`}${values.stagger === '' ? '' : `, second region started ${values.stagger} ms later`}, ${values.writes} writes${settleMs === 0 ? '' : `, ${settleMs} ms after the warm-up`}`)
  await measurePropagation(r, 10, 'warm')
  await new Promise((resolve) => setTimeout(resolve, settleMs))
  await r.lab.proxyHolds()
  const statsOf = async (): Promise<TransportStats[]> => await Promise.all(r.children.map(async (_, i) => (await r.ask(i, { op: 'transport-stats' })).value as TransportStats))
  const before = await statsOf()
  const p = await measurePropagation(r, Number(values.writes))
  const { holds, connections } = await r.lab.proxyHolds()
  const after = await statsOf()
  const perWrite = (field: keyof TransportStats): string => f(after.reduce((n, s, i) => n + s[field] - (before[i] as TransportStats)[field], 0) / Number(values.writes))
  console.log(`  link delay (baseline)      ${f(delayMs)} ms nominal; as held by the proxy p50 ${f(percentile(holds, 0.5))} ms  p99 ${f(percentile(holds, 0.99))} ms`)
  // Chunks count every read the proxy forwarded, both ways: frames, acks of the protocols above TCP, PINGs.
  console.log(`  cross-region links         ${connections} connections through the proxy; ${f(holds.length / Number(values.writes))} chunks forwarded per write (both ways, all traffic)`)
  // The fast lane (a partial mesh's direct copies along the region path, lib/net/libp2p/fast-lane.ts): what it sent and what was dropped as already delivered.
  if (maxPeers !== '') console.log(`  fast lane                  ${perWrite('fastLaneSent')} copies sent per write (${perWrite('fastLaneForwarded')} forwarded, ${perWrite('fastLaneFar')} over far links, ${perWrite('fastLaneDeferred')} left to another holder); dropped as already delivered per write: ${perWrite('fastLaneDuplicates')} lane copies, ${perWrite('relayedDuplicates')} gossipsub copies; ${perWrite('relayedReceived')} frames per write delivered first by gossipsub`)
  console.log(`  intra-region  p50 ${f(percentile(p.intra, 0.5))} ms  p99 ${f(percentile(p.intra, 0.99))} ms  (${p.intra.length} arrivals)`)
  console.log(`  cross-region  p50 ${f(percentile(p.cross, 0.5))} ms  p99 ${f(percentile(p.cross, 0.99))} ms  (${p.cross.length} arrivals)  p50 − delay ${f(percentile(p.cross, 0.5) - delayMs)} ms (target ≤ 5)`)
  if (!values['no-cut']) {
    for (const [i, cutMs] of values.cuts.split(',').map(Number).entries()) {
      const { ms, liftMs } = await cutAndHeal(r, `cut${i}`, cutMs)
      console.log(`  region cut ${cutMs} ms, healed: converged ${ms.map((m) => m.toFixed(0)).join(', ')} ms after the heal; max ${f(Math.max(...ms))} ms (target ≤ delay + 1000 = ${delayMs + 1000}); lifting the cut took ${f(liftMs)} ms`)
    }
  }
} finally {
  await r.close()
}
