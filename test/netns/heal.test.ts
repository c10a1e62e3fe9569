/**
 * Heal fast after a real cut (issue 21 §2): five meshcache processes, each in
 * its own network namespace, are cut 3+2 with nft, write on both sides, and
 * must all hold the merged state within 1 s of the heal.
 *
 * Two cuts, since they fail differently:
 * - longer than the keepalive interval but shorter than `peerTimeout`: the
 *   connections survive the cut, stalled in TCP's retransmission backoff, and
 *   without a fresh probe they resume only at the next retransmission (seconds
 *   after the heal for a cut of seconds);
 * - longer than both: liveness gave the peers up during the cut, and the
 *   redialer's dials back off (and hang on dropped SYNs) while it lasts.
 *
 * Real time is unavoidable: a cut is the absence of packets for a while, and
 * what is measured is the wall-clock time from the heal to convergence. The
 * transport's timers are scaled down (keepalive 2 s, peerTimeout 6 s) so the
 * two cuts take 5 s and 8 s; everything else waits on replies. Namespaces are
 * named `scale-…`. Manual runs with other timers:
 * `HEAL_TIMERS=keepaliveMs,peerTimeoutMs,shortCutMs,longCutMs` (e.g.
 * `5000,30000,20000,35000`, the transport's defaults).
 */
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import type { ChildProcess } from 'node:child_process'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ask as askNode } from '../helpers/mesh-process.ts'
import { createNetnsLab, isNetnsAvailable, type NetnsLab } from '../helpers/netns.ts'

const NODE = new URL('./mesh-node.ts', import.meta.url)
const PORT = 7000
const SIDE_A = [0, 1, 2]
const SIDE_B = [3, 4]
const KEYS = 100
const GUARD_MS = 60_000
const TARGET_MS = 1_000
const [KEEPALIVE_MS, PEER_TIMEOUT_MS, SHORT_CUT_MS, LONG_CUT_MS] =
  (process.env.HEAL_TIMERS ?? '2000,6000,5000,8000').split(',').map(Number) as [number, number, number, number]

interface Context { lab?: NetnsLab, nodes: ChildProcess[] }
const heal = suite<Context>('heal after a real cut (netns)', { nodes: [] })
const now = (): number => Number(process.hrtime.bigint()) / 1e6 // CLOCK_MONOTONIC, as the nodes' `at`

const ask = (child: ChildProcess, request: Record<string, unknown>) => askNode(child, request, GUARD_MS)

const keysOf = (prefix: string): Record<string, string> =>
  Object.fromEntries(Array.from({ length: KEYS }, (_, i) => [`${prefix}:${i}`, prefix]))

/** Cuts 3+2 for `cutMs`, writes on both sides, heals; returns each node's ms from the heal to convergence. */
async function cutWriteHeal(ctx: Context, round: string, cutMs: number): Promise<number[]> {
  const lab = ctx.lab as NetnsLab
  const node = (i: number): ChildProcess => ctx.nodes[i] as ChildProcess
  await lab.cut(SIDE_A, SIDE_B)
  const cutAt = now()
  const a = keysOf(`${round}-a`)
  const b = keysOf(`${round}-b`)
  for (const [key, value] of Object.entries(a)) await ask(node(0), { op: 'set', key, value })
  for (const [key, value] of Object.entries(b)) await ask(node(3), { op: 'set', key, value })
  await Promise.all(SIDE_A.map((i) => ask(node(i), { op: 'await-values', expect: a })))
  await Promise.all(SIDE_B.map((i) => ask(node(i), { op: 'await-values', expect: b })))
  const unseen = await ask(node(3), { op: 'get', keys: Object.keys(a) })
  assert.ok((unseen.value as unknown[]).every((v) => v === null), 'side B saw side A during the cut')
  // The cut's length is the point of the test: wait it out (nothing to wait on but time).
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, cutAt + cutMs - now())))
  const converging = ctx.nodes.map((child) => ask(child, { op: 'await-values', expect: { ...a, ...b } }))
  await lab.heal()
  const healAt = now()
  const converged = await Promise.all(converging)
  return converged.map((reply) => Math.max(0, reply.at - healAt))
}

const availability = await isNetnsAvailable('scale')
if (!availability.ok) {
  console.log(`  heal after a real cut: skipped: ${availability.reason}`)
  heal.skip('converges within 1 s of the heal', () => {})
} else {
  heal.before(async (ctx) => {
    const lab = ctx.lab = await createNetnsLab(5, { prefix: 'scale' })
    const psk = randomBytes(32).toString('hex')
    const addresses = lab.nodes.map((n) => n.address)
    const env = { ...process.env, KEEPALIVE_MS: String(KEEPALIVE_MS), PEER_TIMEOUT_MS: String(PEER_TIMEOUT_MS), REDIAL: 'default' }
    ctx.nodes = lab.nodes.map((n) => lab.node(n.index, NODE, [n.address, String(PORT), psk, ...addresses.filter((a) => a !== n.address)], { env }))
    await Promise.all(ctx.nodes.map((child) => once(child, 'message')))
    await Promise.all(ctx.nodes.map((child) => ask(child, { op: 'await-peers', count: 4 })))
  })

  heal.after(async (ctx) => { await ctx.lab?.close() })

  heal(`a cut longer than the keepalive (${KEEPALIVE_MS} ms), shorter than peerTimeout (${PEER_TIMEOUT_MS} ms), converges within 1 s of the heal`, async (ctx) => {
    const ms = await cutWriteHeal(ctx, 'short', SHORT_CUT_MS)
    console.log(`  heal after a ${SHORT_CUT_MS} ms cut: converged ${ms.map((m) => m.toFixed(0)).join(', ')} ms after the heal`)
    for (const [i, m] of ms.entries()) assert.ok(m < TARGET_MS, `node ${i} converged ${m.toFixed(0)} ms after the heal`)
    const stats = await Promise.all(ctx.nodes.map((child) => ask(child, { op: 'transport-stats' })))
    // The connections survived: nobody was given up for silence.
    for (const s of stats) assert.is((s.value as { peersTimedOut: number }).peersTimedOut, 0)
  })

  heal(`a cut longer than peerTimeout converges within 1 s of the heal`, async (ctx) => {
    const ms = await cutWriteHeal(ctx, 'long', LONG_CUT_MS)
    console.log(`  heal after a ${LONG_CUT_MS} ms cut: converged ${ms.map((m) => m.toFixed(0)).join(', ')} ms after the heal`)
    for (const [i, m] of ms.entries()) assert.ok(m < TARGET_MS, `node ${i} converged ${m.toFixed(0)} ms after the heal`)
    const stats = await Promise.all(ctx.nodes.map((child) => ask(child, { op: 'transport-stats' })))
    // The cut outlasted peerTimeout, so silent peers were given up: this is the case under test. Not
    // asserted per node: libp2p's own connection monitor may close a silent connection before our
    // liveness gives its peer up, and then that peer is not counted here (seen once in 6 CI runs).
    const timedOut = stats.map((s) => (s.value as { peersTimedOut: number }).peersTimedOut)
    assert.ok(timedOut.reduce((a, b) => a + b, 0) >= 2, `peers given up for silence per node: ${timedOut.join(', ')}`)
  })
}

heal.run()
