import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { generatePsk } from '../../lib/net/libp2p/index.ts'
import { joinedPair } from './helpers.ts'

const psk = generatePsk()

test('two nodes exchange frames both ways, onPeerUp fires on each side', async () => {
  const { a, b, ra, rb, ca, cb, close } = await joinedPair({ psk })
  try {
    assert.equal(ca.peers(), [b.peerId])
    assert.equal(cb.peers(), [a.peerId])
    ca.broadcast(Uint8Array.of(1, 2, 3))
    cb.send(a.peerId, Uint8Array.of(4))
    const f1 = await rb.waitFrame()
    assert.equal(f1.from, a.peerId)
    assert.equal([...f1.frame], [1, 2, 3])
    const f2 = await ra.waitFrame()
    assert.equal(f2.from, b.peerId)
    assert.equal([...f2.frame], [4])
  } finally {
    await close()
  }
})

test.run()
