/**
 * The dashboard's links in a partial mesh, against the transports' own
 * connections: in a partial mesh a member's state reaches most others
 * through a neighbour, so a link is judged by the member's own transport id
 * (announced in membership), not by the neighbour its state came through.
 * Ten real libp2p nodes in one process, `maxPeers` 3, two regions.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { setTimeout as sleep } from 'node:timers/promises'
import { createMeshCache, generatePsk, type MeshCache } from '../../lib/index.ts'
import { createLibp2pTransport, type Libp2pTransport } from '../../lib/net/libp2p/index.ts'
import { SnapshotBuilder } from '../../lib/observe/dashboard/snapshot.ts'
import { shareStats, takeSummary } from '../../lib/observe/share.ts'

const N = 10
const MAX_PEERS = 3

test('a partial mesh: peers() names each member\'s own transport id and counts every member reachable, and the snapshot\'s links are the transports\' connections', async () => {
  const psk = generatePsk()
  const transports: Libp2pTransport[] = []
  const caches: Array<MeshCache<string>> = []
  try {
    const bootstrap: string[] = []
    for (let i = 0; i < N; i++) {
      const region = i < N / 2 ? 'eu' : 'us'
      const t = await createLibp2pTransport({ psk, peers: [...bootstrap], maxPeers: MAX_PEERS, region })
      transports.push(t)
      caches.push(await createMeshCache<string>({ namespace: 'partial-links', transport: t, region, nodeId: `n${i}` }))
      if (i < 2) bootstrap.push(...t.multiaddrs())
    }
    for (const c of caches) shareStats(c, { interval: 100 })
    const origin = new Map(transports.map((t, i) => [t.peerId, caches[i]!.origin]))
    // The truth: each instance's direct links, from its transport.
    const truth = () => caches.map((c) => c.connectedPeers().map((p) => origin.get(p)).filter((o) => o !== undefined).sort())
    const seen = () => {
      const snap = new SnapshotBuilder(caches[0]!, () => takeSummary(caches[0]!)).build()
      return caches.map((c) => [...snap.members.find((m) => m.origin === c.origin)?.connectedTo ?? []].sort())
    }
    // Formed: every member listed everywhere, each with a summary, each instance linked.
    const formed = () => caches.every((c) => c.peers().length === N - 1 && c.connectedPeers().length > 0) &&
      new SnapshotBuilder(caches[0]!, () => takeSummary(caches[0]!)).build().members.every((m) => m.ageMs !== null)
    for (let i = 0; i < 600 && !formed(); i++) await sleep(50)
    assert.ok(formed(), 'the mesh formed and every member shares its summary')
    let want = truth()
    let got = seen()
    for (let i = 0; i < 300 && JSON.stringify(got) !== JSON.stringify(want); i++) {
      await sleep(50)
      want = truth()
      got = seen()
    }
    assert.equal(got, want, 'each member\'s links in the snapshot are its transport\'s')
    assert.ok(want.every((links) => links.length >= 1 && links.length < N - 1), `a partial mesh: links ${want.map((l) => l.length).join(',')}`)
    // peers() gives every member's own transport id, whichever neighbour its state came through.
    const members = caches[0]!.peers()
    assert.is(members.length, N - 1)
    for (const m of members) assert.is(m.transportId, transports[caches.findIndex((c) => c.origin === m.origin)]!.peerId)
    // And it counts each as connected (reachable now), not only one member per neighbour its state came through.
    // A state that last came through a neighbour let go since reads as not connected until its next renewal comes
    // through another (a partial mesh renews every 7.5 s): polled, bounded.
    const unreachable = () => caches[0]!.peers().filter((m) => m.connected !== true).map((m) => m.nodeId)
    for (let i = 0; i < 400 && unreachable().length > 0; i++) await sleep(50)
    assert.equal(unreachable(), [])
  } finally {
    for (const c of caches) await c.close()
    for (const t of transports) await t.close()
  }
})

test.run()
