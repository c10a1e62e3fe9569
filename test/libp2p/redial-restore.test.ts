/**
 * A partial mesh puts back a link that closed after it had worked, even at
 * its bound (lib/net/libp2p/dial-policy.ts `isLost`), unless it was let go
 * on purpose (by us, or by the peer's SHED), whatever its age. A partition that
 * refuses or resets connections closes links rather than silencing them, so
 * no probe watches them; a node that refilled its bound from its own side
 * meanwhile redialled nobody across, and the heal waited for a rotation
 * (up to 6.8 s in check:mesh-seeds, bench/README.md). A fake libp2p node
 * records the dials; the end-to-end effect is check:mesh-seeds and
 * test/mesh/partial-convergence.test.ts.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Libp2p } from 'libp2p'
import type { Logger } from '@libp2p/interface'
import { Redialer } from '../../lib/net/libp2p/redial.ts'
import { SHORT_LIVED_MS } from '../../lib/net/libp2p/dial-policy.ts'

const PEER = '12D3KooWAcross'
const ADDR = '/ip4/10.1.2.3/tcp/7000'

const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false }) as unknown as Logger
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

interface Case { connections: number, livedMs: number, allow: boolean, restores?: boolean, letGo?: boolean }

/** Runs a redialer at maxPeers 3 whose link to PEER lived `livedMs` and closed; returns how many dials went to PEER within ~150 ms. */
async function dialsAfterClose ({ connections, livedMs, allow, restores, letGo = false }: Case): Promise<number> {
  let clock = 1_000_000
  let dials = 0
  const node = {
    peerId: { toString: () => '12D3KooWSelf' },
    getMultiaddrs: () => [],
    dial: async (target: unknown) => {
      if ((Array.isArray(target) ? target : [target]).map(String).some(a => a.startsWith(ADDR))) dials++
      throw new Error('connect ECONNREFUSED') // the partition still refuses
    }
  } as unknown as Libp2p
  const r = new Redialer({
    node, log, isConnected: () => false, interval: 10, maxInterval: 10, dialTimeout: 1_000, forgetAfter: 600_000, now: () => clock,
    bound: { peers: 3, connections: () => connections },
    policy: { allowDial: () => allow, compare: () => 0, ...(restores === undefined ? {} : { restores: () => restores }) },
  })
  try {
    r.learn(PEER, [ADDR], false)
    r.established(PEER)
    clock += livedMs
    if (letGo) r.letGo(PEER) // a SHED from the peer, or our own shedding (partial-mesh.ts)
    r.disconnected(PEER) // closed, not given up for silence: no probe
    r.start()
    for (let i = 0; i < 15; i++) {
      await sleep(10)
      clock += 10
    }
    return dials
  } finally {
    r.stop()
  }
}

test('at the bound, a link that had lived closes and is redialled (with the backoff) until it connects', async () => {
  // 5 connections: over 2 × maxPeers − 1, so rotation dials nobody; the restore may go up to 2 × maxPeers.
  const dials = await dialsAfterClose({ connections: 5, livedMs: SHORT_LIVED_MS, allow: true })
  assert.ok(dials >= 2, `dials of the lost peer: ${dials} (redialled and, refused, redialled again)`)
})

test('at the bound, a link cut within SHORT_LIVED_MS of opening is put back too, after the backoff of a short-lived link', async () => {
  // check:mesh-seeds seed 325: links re-formed by a heal and cut again a second later waited for a rotation (1.3-4.7 s).
  // interval 10 ms: the first redial comes 10 ms (±20 %) after the close, then every 10 ms while refused.
  const dials = await dialsAfterClose({ connections: 5, livedMs: 800, allow: true })
  assert.ok(dials >= 2, `dials of the peer whose young link was cut: ${dials}`)
})

test('at the bound, a link let go on purpose (SHED) is not put back, young or old', async () => {
  assert.is(await dialsAfterClose({ connections: 5, livedMs: SHORT_LIVED_MS - 1, allow: true, letGo: true }), 0)
  assert.is(await dialsAfterClose({ connections: 5, livedMs: SHORT_LIVED_MS, allow: true, letGo: true }), 0)
})

test('a lost link is not put back past twice the bound', async () => {
  assert.is(await dialsAfterClose({ connections: 6, livedMs: SHORT_LIVED_MS, allow: true }), 0)
})

test('a lost link is put back only where the policy allows the dial (region links decide far links)', async () => {
  assert.is(await dialsAfterClose({ connections: 5, livedMs: SHORT_LIVED_MS, allow: false }), 0)
})

test('a lost link the policy does not restore (region links: a far peer) is not put back', async () => {
  assert.is(await dialsAfterClose({ connections: 5, livedMs: SHORT_LIVED_MS, allow: true, restores: false }), 0)
  assert.ok(await dialsAfterClose({ connections: 5, livedMs: SHORT_LIVED_MS, allow: true, restores: true }) >= 2)
})

test.run()
