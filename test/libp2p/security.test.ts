/**
 * The private mesh: a node without the right pre-shared key cannot connect,
 * and nothing it (or a raw socket) sends reaches a handler. A peer that has
 * the key but sends bad envelopes is dropped envelope by envelope, never
 * crashes the node.
 */
import net from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2pTransport, generatePsk, PROTOCOL } from '../../lib/net/libp2p/index.ts'
import { buildNode } from '../../lib/net/libp2p/node.ts'
import { normalizePsk } from '../../lib/net/libp2p/psk.ts'
import { FaultSwitch } from '../../lib/net/libp2p/fault.ts'
import { recorder, until } from './helpers.ts'

const psk = generatePsk()

test('nodes with another psk, or none, cannot connect and their frames never arrive', async () => {
  const a = await createLibp2pTransport({ psk })
  const ra = recorder()
  await a.join('ns', ra.handler)
  const intruders = [
    await createLibp2pTransport({ psk: generatePsk(), peers: a.multiaddrs(), redialInterval: 50, dialTimeout: 500 }),
    await createLibp2pTransport({ peers: a.multiaddrs(), redialInterval: 50, dialTimeout: 500 })
  ]
  const friend = await createLibp2pTransport({ psk, peers: a.multiaddrs() })
  try {
    const channels = await Promise.all(intruders.map(async t => await t.join('ns', recorder().handler)))
    await until(() => intruders.every(t => t.stats().redialFailures >= 2), 'two failed dials per intruder')
    for (const c of channels) {
      assert.equal(c.peers(), [])
      c.broadcast(Uint8Array.of(66))
      c.send(a.peerId, Uint8Array.of(66))
    }
    assert.is(intruders[0]?.stats().droppedNoPeer, 1)
    // a node with the key gets through, and its frame is the only one a sees
    const rf = recorder()
    const cf = await friend.join('ns', rf.handler)
    await rf.waitUp(a.peerId)
    cf.broadcast(Uint8Array.of(1))
    const got = await ra.waitFrame()
    assert.is(got.from, friend.peerId)
    assert.equal(ra.frames.length, 1)
    assert.equal(ra.ups, [friend.peerId])
  } finally {
    await Promise.all([a.close(), friend.close(), ...intruders.map(async t => await t.close())])
  }
})

test('raw bytes on the listening socket are refused without harm', async () => {
  const a = await createLibp2pTransport({ psk })
  const ra = recorder()
  const ca = await a.join('ns', ra.handler)
  const b = await createLibp2pTransport({ psk, peers: a.multiaddrs() })
  try {
    const [, host = '', port = ''] = /^\/ip4\/([^/]+)\/tcp\/(\d+)/.exec(a.multiaddrs()[0] as string) ?? []
    for (const junk of [Buffer.from('/multistream/1.0.0\n/meshcache/1.0.0\n'), Buffer.alloc(4096, 0xab)]) {
      const sock = net.connect(Number(port), host)
      sock.on('error', () => {})
      sock.write(junk)
      // a closes it: the nonce exchange or the handshake fails
      await new Promise(resolve => sock.once('close', resolve))
    }
    const rb = recorder()
    await b.join('ns', rb.handler)
    await rb.waitUp(a.peerId)
    ca.broadcast(Uint8Array.of(7))
    assert.equal([...(await rb.waitFrame()).frame], [7])
    assert.equal(ra.frames.length, 0)
  } finally {
    await Promise.all([a.close(), b.close()])
  }
})

test('bad envelopes from a peer with the key are dropped and counted; the node carries on', async () => {
  const a = await createLibp2pTransport({ psk })
  const ra = recorder()
  await a.join('ns', ra.handler)
  const rogue = await buildNode({ listen: ['/ip4/127.0.0.1/tcp/0'], psk: normalizePsk(psk), gater: new FaultSwitch().gater(), logger: undefined })
  await rogue.start()
  try {
    const target = multiaddr(a.multiaddrs()[0] as string)
    const stream = await rogue.dialProtocol(target, PROTOCOL)
    stream.send(Uint8Array.of(1, 99)) // unknown type
    stream.send(Uint8Array.of(3, 4, 7, 1)) // DATA for a namespace id never announced
    stream.send(Uint8Array.of(5, 2, 1, 2, 0xff, 0xfe)) // JOIN with invalid UTF-8
    stream.send(Uint8Array.of(3, 2, 1, 9)) // JOIN whose name is cut short
    stream.send(Uint8Array.of(2, 7, 0)) // PING with a trailing byte
    stream.send(Uint8Array.of(1, 7)) // PING: valid, nothing to count
    stream.send(Uint8Array.of(5, 2, 5, 2, 110, 115)) // JOIN 5 "ns": valid
    stream.send(Uint8Array.of(3, 4, 5, 42)) // DATA in ns: delivered
    const got = await ra.waitFrame()
    assert.equal([...got.frame], [42])
    assert.is(got.from, rogue.peerId.toString())
    assert.is(a.stats().badEnvelopes, 5)
    // a length over the limit cannot be skipped: that stream is reset, the node lives on
    stream.send(Uint8Array.of(0xff, 0xff, 0xff, 0x7f))
    await new Promise(resolve => stream.addEventListener('close', resolve, { once: true }))
    assert.is(a.stats().badEnvelopes, 6)
    assert.equal(ra.frames.length, 1)
    const b = await createLibp2pTransport({ psk, peers: a.multiaddrs() })
    const rb = recorder()
    const cb = await b.join('ns', rb.handler)
    await rb.waitUp(a.peerId)
    cb.broadcast(Uint8Array.of(8))
    assert.equal([...(await ra.waitFrame()).frame], [8])
    await b.close()
  } finally {
    await Promise.all([a.close(), rogue.stop()])
  }
})

test.run()
