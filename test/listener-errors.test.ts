/**
 * A listener that throws cannot leave an operation half done: the remote
 * merge, the local delete and the expiry timer all complete, nothing counts
 * as a bad frame, and the listener's error still surfaces (uncaught).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMeshCache, type MeshCache } from '../lib/index.ts'
import { captureTransport } from './helpers/capture-transport.ts'
import { cluster } from './helpers/cluster.ts'

/** Runs `fn` and collects the uncaught exceptions it causes, until the next macrotask. */
async function uncaught (fn: () => unknown | Promise<unknown>): Promise<unknown[]> {
  const seen: unknown[] = []
  const handler = (error: unknown): void => { seen.push(error) }
  process.on('uncaughtException', handler)
  try {
    await fn()
    await new Promise((resolve) => setImmediate(resolve))
  } finally {
    process.off('uncaughtException', handler)
  }
  return seen
}

const boom = new Error('listener bug')

test('a throwing change listener does not stop a remote write from applying', async () => {
  const c = await cluster<string>(2, { mode: 'replicate' })
  const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
  a.set('k', 'v1')
  await c.net.flush()
  b.on('change', () => { throw boom })
  const errors = await uncaught(async () => {
    a.set('k', 'v2')
    await c.net.flush()
  })
  assert.is(b.get('k'), 'v2', 'the new value is stored, not just the new version')
  assert.is(b.inspect('k')?.hlc, a.inspect('k')?.hlc)
  assert.is(b.stats().protocolErrors, 0, 'a listener error is not a bad frame')
  assert.equal(errors, [boom])
  await c.close()
})

test('a throwing evict listener does not stop a local delete', async () => {
  const c = await cluster<string>(2)
  const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
  a.set('k', 'v')
  b.set('k2', 'w')
  await c.net.flush()
  a.on('evict', () => { throw boom })
  const tombstones = a.stats().tombstones
  let deleted: boolean | undefined
  const errors = await uncaught(() => { deleted = a.delete('k') })
  assert.is(deleted, true)
  assert.is(a.get('k'), undefined)
  assert.is(a.inspect('k')?.kind, 'delete')
  assert.is(a.stats().tombstones, tombstones + 1, 'the delete left its tombstone')
  await c.net.flush()
  assert.is(b.inspect('k')?.kind, 'delete', 'the delete still reached the peer')
  assert.equal(errors, [boom])
  await c.close()
})

test('a throwing evict listener does not stop the expiry timer', async () => {
  const capture = captureTransport()
  const a = await createMeshCache<string>({ namespace: 'listener', ttl: 20, maxTtl: 1000, transport: capture.transport })
  try {
    let calls = 0
    a.on('evict', () => { calls++; throw boom })
    const errors = await uncaught(async () => {
      a.set('first', '1')
      a.set('second', '2', { ttl: 60 })
      const deadline = Date.now() + 2000
      while (calls < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    })
    assert.is(calls, 2, 'both values expired on time')
    assert.is(a.stats().liveKeys, 0)
    assert.equal(errors, [boom, boom])
  } finally {
    await a.close()
  }
})

test.run()
