/**
 * A partial mesh lets a link go on purpose with a SHED first (lib/net/libp2p/
 * partial-mesh.ts), so the peer knows the close is not a partition's and does
 * not redial it as lost at its bound (dial-policy.ts isLost; the unit tests
 * are redial-restore.test.ts). Real transports over loopback: the SHED must
 * arrive before the connection's close, every time.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createLibp2pTransport, generateIdentity, generatePsk, peerIdOf, type Libp2pTransport, type Libp2pTransportOptions } from '../../lib/net/libp2p/index.ts'
import type { Connection, Logger, Stream } from '@libp2p/interface'
import { InboundReader, PeerLink, type ReaderEvents } from '../../lib/net/libp2p/stream-link.ts'
import { encodeShed, MSG_SHED } from '../../lib/net/libp2p/envelope.ts'
import { recorder, until, type Recorder } from './helpers.ts'

const psk = generatePsk()

/** A transport joined to 'ns' with a recorder of its own, kept in `all` to be closed at the test's end. */
async function joined (all: Libp2pTransport[], options: Libp2pTransportOptions): Promise<[Libp2pTransport, Recorder]> {
  const transport = await createLibp2pTransport({ psk, ...options })
  all.push(transport)
  const at = recorder()
  await transport.join('ns', at.handler)
  return [transport, at]
}

test('SHED is one byte of type after its length, and carries nothing', () => {
  assert.equal([...encodeShed()], [1, MSG_SHED])
})

test('a hub over twice maxPeers lets newcomers go, and each one hears the SHED before the close', async () => {
  const all: Libp2pTransport[] = []
  try {
    // maxPeers 2: the hub keeps 4 peers; a fifth and sixth newcomer are greeted, then let go a second later.
    const [hub] = await joined(all, { maxPeers: 2 })
    for (let i = 0; i < 6; i++) {
      const [spoke] = await joined(all, { maxPeers: 2, peers: hub.multiaddrs() })
      await until(() => hub.stats().connections >= Math.min(i + 1, 5), `the hub connected to spoke ${i}`)
    }
    const letGo = (): number => all.reduce((n, t) => n + t.stats().linksLetGo, 0)
    const sheds = (): number => all.reduce((n, t) => n + t.stats().shedsReceived, 0)
    await until(() => hub.stats().linksLetGo >= 1, 'the hub letting a newcomer go')
    // Every link let go, by the hub or by a spoke that filled up meanwhile, was announced to its peer.
    await until(() => sheds() === letGo(), `a SHED for every link let go (${sheds()} of ${letGo()})`, 5_000)
    console.log(`  links let go ${letGo()}, SHEDs received ${sheds()}`)
    assert.ok(letGo() >= 1)
    assert.is(all.reduce((n, t) => n + t.stats().badEnvelopes, 0), 0, 'no envelope dropped')
  } finally {
    await Promise.all(all.map(async (t) => { await t.close() }))
  }
})

test('a newcomer let go over the bound is no neighbour at either end for its second: the SHED comes with the greeting', async () => {
  const all: Libp2pTransport[] = []
  try {
    // maxPeers 2: the hub keeps 4 peers, so the fifth to dial it is greeted, told, and closed a second later.
    const [hub, atHub] = await joined(all, { maxPeers: 2 })
    for (let i = 0; i < 4; i++) {
      const [spoke] = await joined(all, { peers: hub.multiaddrs() })
      await atHub.waitUp(spoke.peerId)
    }
    const [newcomer, atNewcomer] = await joined(all, { peers: hub.multiaddrs() })
    await until(() => newcomer.stats().shedsReceived === 1, 'the newcomer told it is let go')
    const connectedToHub = (): boolean => newcomer.libp2p.getConnections(hub.libp2p.peerId).length > 0
    // told while the connection lasts (it is closed a second after the greeting), so the newcomer never
    // counted the hub a neighbour: before, it did for that second (a far link held, to a region's holders)
    assert.ok(connectedToHub(), 'the SHED came before the close')
    await atNewcomer.waitUp(all[1]?.peerId as string) // it dialled the peers the greeting named
    await until(() => !connectedToHub(), 'the hub closing the newcomer\'s link', 5_000)
    assert.not.ok(atNewcomer.ups.includes(hub.peerId), 'the newcomer took the hub for a neighbour')
    assert.not.ok(atHub.ups.includes(newcomer.peerId), 'the hub took the newcomer for a neighbour')
    assert.is(hub.stats().linksLetGo, 1)
  } finally {
    await Promise.all(all.map(async (t) => { await t.close() }))
  }
})

test('a newcomer every bootstrap node lets go dials the peers their greetings named at once, not after the close', async () => {
  const all: Libp2pTransport[] = []
  try {
    // Two hubs at their bound (maxPeers 2: 4 peers each), four spokes linked to both that keep every link; a newcomer
    // (maxPeers 2) bootstrapped to the two hubs alone. Both let it go, so its two connections are links being let
    // go: it is below its bound and dials a spoke now (before, it counted them and waited for the close). The
    // spokes' ids are above the newcomer's and their redial tick 10 s, so none dials it first.
    const ids = Array.from({ length: 5 }, () => generateIdentity()).sort((a, b) => peerIdOf(a) < peerIdOf(b) ? -1 : 1)
    const hubs: Libp2pTransport[] = []
    for (let i = 0; i < 2; i++) hubs.push((await joined(all, { maxPeers: 2 }))[0])
    const spokes = new Set<string>()
    for (let i = 0; i < 4; i++) {
      const [spoke] = await joined(all, { peers: hubs.flatMap((h) => h.multiaddrs()), identity: ids[i + 1], redialInterval: 10_000 })
      spokes.add(spoke.peerId)
    }
    await until(() => hubs.every((h) => h.stats().connections === 4), 'both hubs at their bound')
    const [newcomer, atNewcomer] = await joined(all, { maxPeers: 2, peers: hubs.flatMap((h) => h.multiaddrs()), identity: ids[0] })
    await until(() => newcomer.stats().shedsReceived === 2, 'the newcomer told by both hubs')
    const dialled = (): string | undefined => newcomer.libp2p.getConnections().find((c) => spokes.has(c.remotePeer.toString()) && c.direction === 'outbound')?.remotePeer.toString()
    await until(() => dialled() !== undefined, 'the newcomer dialled a spoke', 5_000)
    assert.ok(hubs.some((h) => newcomer.libp2p.getConnections(h.libp2p.peerId).length > 0), 'it dialled only once the hubs had closed its links')
    await atNewcomer.waitUp(dialled() as string)
  } finally {
    await Promise.all(all.map(async (t) => { await t.close() }))
  }
})

test('a region\'s link holder whose far link is let go over the bound dials another far peer at once, not after the close', async () => {
  const all: Libp2pTransport[] = []
  try {
    // eu: a hub at its bound (maxPeers 2: 4 peers) and four peers that keep every link (no maxPeers, so none lets
    // the hub go); us: a holder that knows only the hub across. Told by the SHED in the greeting that the hub lets
    // it go, the holder counts no far link (it held one for that second, before): it needs one (regions.ts
    // needsDial) and dials a peer the greeting named. The eu peers' ids are above the holder's, and their redial
    // tick 10 s, so none dials the holder first (the smaller id dials, redial.ts learn): the link is the holder's.
    const ids = Array.from({ length: 5 }, () => generateIdentity()).sort((a, b) => peerIdOf(a) < peerIdOf(b) ? -1 : 1)
    const [hub] = await joined(all, { maxPeers: 2, region: 'eu' })
    for (let i = 0; i < 4; i++) {
      const [eu] = await joined(all, { region: 'eu', peers: hub.multiaddrs(), identity: ids[i + 1], redialInterval: 10_000 })
      await until(() => hub.stats().connections >= i + 1, `the hub connected to eu peer ${i}`)
    }
    // two us peers, then the holder bootstrapped to both and the hub: at its bound at once, and a holder whatever the
    // ids (crossRegionLinks 3), with no far peer to dial but through the hub's PEERS
    const usAddrs: string[] = []
    for (let i = 0; i < 2; i++) {
      const [us] = await joined(all, { maxPeers: 2, region: 'us', peers: usAddrs.slice() })
      usAddrs.push(...us.multiaddrs())
    }
    const [holder, atHolder] = await joined(all, { maxPeers: 2, region: 'us', crossRegionLinks: 3, peers: [...usAddrs, ...hub.multiaddrs()], identity: ids[0] })
    await until(() => holder.stats().shedsReceived === 1, 'the holder told the hub lets it go')
    const farIds = new Set(all.slice(1, 5).map((t) => t.peerId))
    const otherFar = (): string | undefined => holder.libp2p.getConnections().find((c) => farIds.has(c.remotePeer.toString()) && c.direction === 'outbound')?.remotePeer.toString()
    await until(() => otherFar() !== undefined, 'the holder dialled another eu peer', 5_000)
    assert.ok(holder.libp2p.getConnections(hub.libp2p.peerId).length > 0, 'the other far link came only after the hub closed its link')
    await atHolder.waitUp(otherFar() as string) // and it carries writes: up in the namespace
  } finally {
    await Promise.all(all.map(async (t) => { await t.close() }))
  }
})

/** An inbound reader over a stand-in stream, fed `bytes` as one message; returns the SHEDs and bad envelopes it reported. */
function read (bytes: Uint8Array): { sheds: number, bad: string[] } {
  const out = { sheds: 0, bad: [] as string[] }
  const stream = new EventTarget()
  const events = {
    onShed: () => { out.sheds++ },
    onBadEnvelope: (_: PeerLink, reason: string) => { out.bad.push(reason) },
    onBytes: () => {},
  } as unknown as ReaderEvents
  const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false }) as unknown as Logger
  void new InboundReader(new PeerLink('12D3KooWPeer'), stream as unknown as Stream, {} as Connection, events, 1 << 20, log)
  stream.dispatchEvent(Object.assign(new Event('message'), { data: bytes }))
  return out
}

test('an inbound SHED is reported once; one with trailing bytes is dropped as a bad envelope', () => {
  assert.equal(read(encodeShed()), { sheds: 1, bad: [] })
  assert.equal(read(Uint8Array.of(2, MSG_SHED, 0)), { sheds: 0, bad: ['trailing bytes after SHED'] })
})

test.run()
