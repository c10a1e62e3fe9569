/**
 * Issue 16 finding 1 between two instances over real libp2p connections
 * (loopback): a peer on other limits writes values this instance cannot take
 * (600 KB over its 512 KiB maxValueBytes; 10 MB in a frame over its 1 MiB
 * maxFrameBytes). Before, every such frame was refused and the old value was
 * served until its TTL; now each record merges as an invalidation of its
 * key, at once.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMeshCache, type MeshCache } from '../../lib/index.ts'
import { createLibp2pTransport } from '../../lib/net/libp2p/index.ts'
import { GUARD_MS } from './helpers.ts'

/** Polls a condition (a wait on state, not a sleep), failing after the guard. */
async function until (what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + GUARD_MS
  while (!ok()) {
    assert.ok(Date.now() < deadline, `${what}: not within ${GUARD_MS} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

test('values over the receiver\'s limits: the receiver stops serving the old value as soon as the write arrives', async () => {
  const ta = await createLibp2pTransport({})
  const tb = await createLibp2pTransport({ peers: ta.multiaddrs() })
  // a: a peer configured for larger values (another version, another config).
  const a: MeshCache<string> = await createMeshCache<string>({ namespace: 'big', mode: 'replicate', transport: ta, limits: { maxValueBytes: 16_000_000, maxFrameBytes: 16_000_000 } })
  const b: MeshCache<string> = await createMeshCache<string>({ namespace: 'big', mode: 'replicate', transport: tb })
  try {
    await until('b connected', () => b.connectedPeers().length === 1 && a.connectedPeers().length === 1)
    a.set('k', 'old')
    a.set('j', 'old')
    await until('old values replicated', () => b.get('k') === 'old' && b.get('j') === 'old')
    const reasons = new Map<string, string>()
    b.on('evict', ({ key, reason }: { key: string, reason: string }) => { reasons.set(key, reason) })
    a.set('k', 'x'.repeat(600_000))
    a.set('j', 'y'.repeat(10_000_000))
    await until('b dropped both old values', () => b.get('k') === undefined && b.get('j') === undefined)
    assert.equal([reasons.get('k'), reasons.get('j')], ['remote', 'remote'], 'dropped by the writes, not by their TTL (60 s)')
    await until('b holds both writes\' state', () => b.inspect('j')?.hlc === a.inspect('j')?.hlc && b.inspect('k')?.hlc === a.inspect('k')?.hlc)
    assert.ok(b.stats().protocolErrors >= 1, 'the dropped values were reported')
  } finally {
    await Promise.all([a.close(), b.close()])
    await Promise.all([ta.close(), tb.close()])
  }
})

test.run()
