/**
 * A probe that reaches a lost peer redials every address known for it
 * (lib/net/libp2p/redial.ts `dialNow`), its bootstrap address too: a peer
 * in another region (behind a proxy or NAT) advertises addresses nobody there
 * can dial, and only the bootstrap address works. Before, only the advertised
 * ones were redialled and the bootstrap entry waited out its backoff (1.0-1.5
 * s after a region heal, test/netns/regions.test.ts). And at a partial
 * mesh's bound, which dials go out and in what order. A fake libp2p node
 * records the dials; the end-to-end effect is the netns test.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Libp2p } from 'libp2p'
import type { Logger } from '@libp2p/interface'
import { Redialer } from '../../lib/net/libp2p/redial.ts'

const BOOTSTRAP = '/ip4/10.9.9.9/tcp/20003'
const ADVERTISED = '/ip4/10.78.2.3/tcp/7000'
const FAR = '12D3KooWFar'

/** A fake libp2p node that records the dials and connects only at BOOTSTRAP, to FAR. */
function fakeNode (dials: string[]): Libp2p {
  return proxiedNode(dials, { [BOOTSTRAP]: FAR })
}

/**
 * A fake libp2p node that connects only at the addresses in `reachable`
 * (address to peer id): a proxy's ports, as from another region.
 */
function proxiedNode (dials: string[], reachable: Record<string, string>): Libp2p {
  return {
    peerId: { toString: () => '12D3KooWSelf' },
    getMultiaddrs: () => [],
    dial: async (target: unknown) => {
      const addrs = (Array.isArray(target) ? target : [target]).map(String)
      dials.push(...addrs)
      const peer = addrs.map(a => reachable[a]).find(p => p !== undefined)
      if (peer !== undefined) return { remotePeer: { toString: () => peer } }
      throw new Error('connect ENETUNREACH')
    }
  } as unknown as Libp2p
}

const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false }) as unknown as Logger
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
/** Waits for `done`, the redialer's own async dials driving it; a guard turns a dial that never comes into a failure. */
async function until (done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within 5 s`)
    await sleep(2)
  }
}

/** Starts `r` knowing FAR by its advertised address and BOOTSTRAP, and waits for the first dial to tell whose BOOTSTRAP is. */
async function startMet (r: Redialer): Promise<void> {
  r.addBootstrap(BOOTSTRAP)
  r.learn(FAR, [ADVERTISED], false)
  r.start()
  await until(() => r.addrsOf(FAR).includes(BOOTSTRAP), 'first dial of the bootstrap address')
}

test('a lost peer reached again is redialled at its bootstrap address, not only at the addresses it advertises', async () => {
  const dials: string[] = []
  // Long intervals: any dial after the first comes from dialNow, not the backoff.
  const r = new Redialer({ node: fakeNode(dials), log, isConnected: () => false, interval: 60_000, maxInterval: 60_000, dialTimeout: 5_000, forgetAfter: 600_000 })
  try {
    await startMet(r)
    r.established(FAR)
    r.disconnected(FAR, true)
    dials.length = 0
    r.dialNow(FAR)
    await until(() => dials.includes(BOOTSTRAP), 'redial of the bootstrap address after the probe')
    assert.ok(dials.some(a => a.startsWith(ADVERTISED)), `the advertised address was dialled too: ${dials.join(', ')}`)
  } finally {
    r.stop()
  }
})

for (const [connected, expected] of [[4, true], [6, false]] as const) {
  test(`in a partial mesh (maxPeers 3) with ${connected} connections, a lost peer reached again is ${expected ? '' : 'not '}redialled (up to twice the bound)`, async () => {
    // Before, dialNow wanted fewer than maxPeers connections: a node that refilled its bound from
    // its own region during a cut never redialled its far link (a region cut past peerTimeout
    // never healed in a partial mesh, test/netns/regions.test.ts).
    const dials: string[] = []
    let allowed = 0
    let connections = 0
    const r = new Redialer({
      node: fakeNode(dials), log, isConnected: () => false, interval: 60_000, maxInterval: 60_000, dialTimeout: 5_000, forgetAfter: 600_000,
      bound: { peers: 3, connections: () => connections },
      // The region rule would refuse FAR now (not a holder): restoring a lost link is not its call.
      policy: { allowDial: (peer) => { if (peer === FAR) allowed++; return peer !== FAR }, compare: () => 0 },
    })
    try {
      await startMet(r)
      r.established(FAR)
      // the cut: FAR given up, and the node refilled its bound from its own side meanwhile
      connections = connected
      r.disconnected(FAR, true)
      dials.length = 0
      allowed = 0
      r.dialNow(FAR)
      if (expected) {
        await until(() => dials.includes(BOOTSTRAP), 'the restoring dial')
      } else {
        await sleep(50) // nothing to wait on: no dial may come (the guard's length is arbitrary)
        assert.equal(dials, [], 'dialled past twice the bound')
      }
      assert.is(allowed, 0, 'the dial policy was asked')
    } finally {
      r.stop()
    }
  })
}

test('at the bound, a dial the policy needs (a holder without a far link) is made, one at a time; others are not', async () => {
  const dials: string[] = []
  const OTHER = '/ip4/10.9.9.9/tcp/20004'
  const r = new Redialer({
    node: fakeNode(dials), log, isConnected: () => false, interval: 20, maxInterval: 20, dialTimeout: 5_000, forgetAfter: 600_000,
    bound: { peers: 3, connections: () => 3 }, // at the bound from the start
    policy: { allowDial: () => true, compare: () => 0, needs: (peer) => peer === FAR },
  })
  try {
    r.addBootstrap(`${BOOTSTRAP}`)
    r.addBootstrap(`${OTHER}`)
    r.learn(FAR, [ADVERTISED], false)
    r.start()
    // FAR's own entry (its advertised address) is needed: dialled, fails; the bootstrap entries' peers are unknown: not needed
    await until(() => dials.some(a => a.startsWith(ADVERTISED)), 'the needed dial')
    await sleep(100) // several ticks: nothing else may be dialled at the bound (the guard's length is arbitrary)
    assert.not.ok(dials.includes(OTHER), `a dial nobody needed went out at the bound: ${dials.join(', ')}`)
    assert.not.ok(dials.includes(BOOTSTRAP), 'a bootstrap entry of unknown peer was dialled at the bound')
  } finally {
    r.stop()
  }
})

// Of the dials needed at the bound, the tick makes the one neededRank puts first (dial-policy.ts).
// As regions.ts orders them: addresses of unknown peer first, then peers by id.
const unknownFirst = (a: string | undefined, b: string | undefined): number => a === b ? 0 : a === undefined ? -1 : b === undefined ? 1 : a < b ? -1 : 1

test('at the bound, a needed dial goes first to a far peer\'s address that worked before, not to an address of unknown peer', async () => {
  const dials: string[] = []
  const UNMET = '/ip4/10.9.9.9/tcp/20004'
  let connections = 0
  let needed = false
  let clock = 1_000_000 // due-ness by this clock, moved by hand: both entries come due in the same tick
  const r = new Redialer({
    node: proxiedNode(dials, { [BOOTSTRAP]: FAR }), log, isConnected: () => false, interval: 20, maxInterval: 20, dialTimeout: 5_000, forgetAfter: 600_000, now: () => clock,
    bound: { peers: 3, connections: () => connections },
    policy: { allowDial: () => true, compare: unknownFirst, needs: () => needed },
  })
  try {
    await startMet(r)
    // the link is let go on purpose (by a node that did not need it then), the bound fills, another address turns up
    r.established(FAR)
    connections = 3
    r.letGo(FAR)
    r.disconnected(FAR)
    r.addBootstrap(UNMET)
    dials.length = 0
    clock += 1_000
    needed = true // now the node needs a far link
    // FAR's advertised address may go first (as far as the redialer knows it worked too); it fails here
    await until(() => dials.includes(BOOTSTRAP) || dials.includes(UNMET), 'a needed dial')
    assert.ok(dials.includes(BOOTSTRAP), `the address FAR was reached at before was not dialled first: ${dials.join(', ')}`)
    assert.not.ok(dials.includes(UNMET), `an address of unknown peer went before FAR's working one: ${dials.join(', ')}`)
  } finally {
    r.stop()
  }
})

test('at the bound, a needed dial tries a bootstrap address of unknown peer before it retries a far peer whose dial failed', async () => {
  const dials: string[] = []
  const UNMET = '/ip4/10.9.9.9/tcp/20004'
  let clock = 1_000_000
  const r = new Redialer({
    node: proxiedNode(dials, { [UNMET]: FAR }), log, isConnected: () => false, interval: 20, maxInterval: 20, dialTimeout: 5_000, forgetAfter: 600_000, now: () => clock,
    bound: { peers: 3, connections: () => 3 },
    // known peers before addresses of unknown peer: by the order alone FAR's advertised address would be retried each time it is due
    policy: { allowDial: () => true, compare: (a, b) => -unknownFirst(a, b), needs: () => true },
  })
  try {
    r.addBootstrap(UNMET)
    r.learn(FAR, [ADVERTISED], true)
    r.start()
    await until(() => dials.length > 0, 'the first needed dial')
    assert.ok((dials[0] as string).startsWith(ADVERTISED), `FAR, known and not tried yet, goes first: ${dials.join(', ')}`)
    clock += 1_000 // FAR's backoff over: both due
    await until(() => dials.includes(UNMET), 'the dial of the address of unknown peer')
    assert.is(dials.filter(a => a.startsWith(ADVERTISED)).length, 1, `FAR's advertised address was retried before the unmet address: ${dials.join(', ')}`)
  } finally {
    r.stop()
  }
})

test.run()
