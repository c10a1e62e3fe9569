import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createLibp2pTransport, generatePsk } from '../../lib/net/libp2p/index.ts'
import { joinedPair, recorder, until } from './helpers.ts'

const psk = generatePsk()

test('a frame in one namespace never reaches another namespace, nor a node that did not join it', async () => {
  const a = await createLibp2pTransport({ psk })
  const b = await createLibp2pTransport({ psk, peers: a.multiaddrs() })
  const c = await createLibp2pTransport({ psk, peers: a.multiaddrs() })
  try {
    const [aUsers, aOrders, bUsers, bOrders, cOrders] = [recorder(), recorder(), recorder(), recorder(), recorder()]
    const chAUsers = await a.join('users', aUsers.handler)
    const chAOrders = await a.join('orders', aOrders.handler)
    await b.join('users', bUsers.handler)
    await b.join('orders', bOrders.handler)
    await c.join('orders', cOrders.handler)
    await bUsers.waitUp(a.peerId)
    await bOrders.waitUp(a.peerId)
    await cOrders.waitUp(a.peerId)
    await aUsers.waitUp(b.peerId)
    // c never joined 'users': it is not a peer there
    assert.equal(chAUsers.peers(), [b.peerId])
    assert.equal(chAOrders.peers().sort(), [b.peerId, c.peerId].sort())

    chAUsers.broadcast(Uint8Array.of(1))
    chAOrders.broadcast(Uint8Array.of(2))
    // a frame sent straight to c in 'users' arrives at c's node and is dropped there
    chAUsers.send(c.peerId, Uint8Array.of(3))
    assert.equal([...(await bUsers.waitFrame()).frame], [1])
    assert.equal([...(await bOrders.waitFrame()).frame], [2])
    assert.equal([...(await cOrders.waitFrame()).frame], [2])
    await until(() => c.stats().droppedUnjoined === 1, 'c drops the users frame')
    // one more round so anything misrouted would have arrived by now
    chAOrders.broadcast(Uint8Array.of(4))
    assert.equal([...(await bOrders.waitFrame()).frame], [4])
    assert.equal([...(await cOrders.waitFrame()).frame], [4])
    assert.equal(bUsers.frames.length, 1)
    assert.equal(bOrders.frames.length, 2)
    assert.equal(cOrders.frames.length, 2)
    assert.equal(aUsers.frames.length + aOrders.frames.length, 0)
  } finally {
    await Promise.all([a.close(), b.close(), c.close()])
  }
})

test('leaving a namespace stops its callbacks and takes this node out of peers() elsewhere', async () => {
  const { a, b, ra, rb, ca, cb, close } = await joinedPair({ psk })
  try {
    await cb.close()
    await ra.waitDown(b.peerId)
    assert.equal(ca.peers(), [])
    ca.broadcast(Uint8Array.of(9))
    assert.equal(rb.downs, [], 'no callback after close')
    // joining again is a new membership: both sides see the peer come up again
    const rb2 = recorder()
    await b.join('ns', rb2.handler)
    await rb2.waitUp(a.peerId)
    await ra.waitUp(b.peerId, 2)
    assert.equal(rb.frames.length, 0)
  } finally {
    await close()
  }
})

test('a node joining late sees peers that were already there come up', async () => {
  const a = await createLibp2pTransport({ psk })
  const b = await createLibp2pTransport({ psk, peers: a.multiaddrs() })
  try {
    const ra = recorder()
    await a.join('ns', ra.handler)
    // b is connected (it dialled a) but joins only now
    await until(() => b.stats().redials > 0, 'b dialled a')
    const rb = recorder()
    const cb = await b.join('ns', rb.handler)
    await rb.waitUp(a.peerId)
    await ra.waitUp(b.peerId)
    assert.equal(cb.peers(), [a.peerId])
  } finally {
    await Promise.all([a.close(), b.close()])
  }
})

test.run()
