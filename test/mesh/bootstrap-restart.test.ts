/**
 * A bootstrap node restarts (issue 17 §3), real processes on loopback: the
 * other instance reconnects when its bootstrap address has no /p2p/ part,
 * or has one and the bootstrap node pins its identity; with a /p2p/ part and
 * no pinned identity it cannot (the new node has another peer id), and says
 * so with E_PEER_ID_MISMATCH instead of staying silent. After the restart
 * peers() lists the restarted node once, not under its killed incarnation too.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { generateIdentity, peerIdOf } from '../../lib/index.ts'
import { ask, startNode } from '../helpers/mesh-process.ts'
import { freePort } from '../helpers/ports.ts'

interface Form { name: string, pinned: boolean, withPeerId: boolean }

async function restartBootstrap (form: Form): Promise<void> {
  const psk = randomBytes(32).toString('hex')
  const [portB, portC] = [await freePort(), await freePort()]
  const identity = form.pinned ? generateIdentity() : undefined
  const nodes: ChildProcess[] = []
  try {
    let boot = await startNode({ nodeId: 'boot', port: portB, psk, peers: [], ...(identity !== undefined ? { identity } : {}) })
    nodes.push(boot)
    const bootId = identity !== undefined ? peerIdOf(identity) : (boot as ChildProcess & { peerId: string }).peerId
    const addr = `/ip4/127.0.0.1/tcp/${portB}${form.withPeerId ? `/p2p/${bootId}` : ''}`
    const client = await startNode({ nodeId: 'client', port: portC, psk, peers: [], peerAddrs: [addr] })
    nodes.push(client)
    await ask(client, { op: 'await-peers', count: 1 })

    boot.kill('SIGKILL')
    await once(boot, 'exit')
    boot = nodes[0] = await startNode({ nodeId: 'boot', port: portB, psk, peers: [], ...(identity !== undefined ? { identity } : {}) })

    if (form.withPeerId && !form.pinned) {
      // The failing form: reported, not silent.
      await ask(client, { op: 'await-peer-error', code: 'E_PEER_ID_MISMATCH' })
      return
    }
    await ask(client, { op: 'await-peers', count: 1 })
    await ask(boot, { op: 'set', key: 'after-restart', value: form.name })
    await ask(client, { op: 'await-values', expect: { 'after-restart': form.name } })
    // peers() lists the restarted node once, connected: not again under its killed incarnation.
    const peers = (await ask(client, { op: 'peers' })).value as Array<{ nodeId: string, connected?: boolean }>
    const boots = peers.filter((p) => p.nodeId === 'boot')
    assert.is(boots.length, 1, `${form.name}: the restarted node is listed once, got ${JSON.stringify(peers)}`)
    assert.is(boots[0]?.connected, true, 'its latest incarnation, connected')
  } finally {
    for (const n of nodes) n.kill('SIGKILL')
  }
}

test('bootstrap address without /p2p/: reconnects after the bootstrap node restarts with a new identity', async () => {
  await restartBootstrap({ name: 'no-p2p', pinned: false, withPeerId: false })
})

test('bootstrap address with /p2p/ and a pinned identity: reconnects after the restart', async () => {
  await restartBootstrap({ name: 'pinned', pinned: true, withPeerId: true })
})

test('bootstrap address with /p2p/ and no pinned identity: the redial fails, reported as E_PEER_ID_MISMATCH', async () => {
  await restartBootstrap({ name: 'unpinned', pinned: false, withPeerId: true })
})

test.run()
