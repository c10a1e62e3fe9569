/**
 * The repair backstops on real timers (short intervals, the memory network
 * delivering by itself): periodic rounds ask the peers in turn, and a
 * request parked behind a session whose answer was lost runs once it times
 * out. Both were found missing in review: a random peer per round left a
 * 3-node mesh unrepaired for rounds on end, and a lost answer swallowed
 * every retry until a periodic round came (never, with it off).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMeshCache, type FrameHandler, type MeshCache, type Transport } from '../lib/index.ts'
import { createMemoryNetwork } from '../lib/testing/index.ts'
import { MessageType } from '../protocol/index.ts'

/** Wraps a transport: `drop(from, type)` loses incoming frames; `sent` records outgoing step 1s. */
function spy (inner: Transport, drop: (from: string, type: number) => boolean, sent: Array<{ to: string, at: number }>): Transport {
  return {
    join: async (ns, handler: FrameHandler) => {
      const channel = await inner.join(ns, {
        onFrame: (from, frame) => { if (!drop(from, frame[1] as number)) handler.onFrame(from, frame) },
        onPeerUp: (p) => handler.onPeerUp(p),
        onPeerDown: (p) => handler.onPeerDown(p),
      })
      return {
        ...channel,
        broadcast: (frame) => channel.broadcast(frame),
        peers: () => channel.peers(),
        close: () => channel.close(),
        send: (to, frame) => {
          if (frame[1] === MessageType.SYNC_STEP1) sent.push({ to, at: performance.now() })
          channel.send(to, frame)
        },
      }
    },
  }
}

async function until (cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms
  while (performance.now() < end) {
    if (cond()) return true
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return cond()
}

test('periodic rounds ask the peers in turn: each is asked within n − 1 rounds', async () => {
  const net = createMemoryNetwork({ seed: 3, auto: true })
  const sent: Array<{ to: string, at: number }> = []
  const quiet = { announceInterval: 1_000_000 } // no announcements: only the periodic round asks
  const a = await createMeshCache({ namespace: 'n', nodeId: 'a', transport: spy(net.transport('a'), () => false, sent), syncInterval: 100, ...quiet })
  const others = [await createMeshCache({ namespace: 'n', nodeId: 'b', transport: net.transport('b'), syncInterval: 0, ...quiet }),
    await createMeshCache({ namespace: 'n', nodeId: 'c', transport: net.transport('c'), syncInterval: 0, ...quiet })]
  await until(() => a.connectedPeers().length === 2, 2_000)
  await new Promise((resolve) => setTimeout(resolve, 150))
  sent.length = 0
  assert.ok(await until(() => sent.length >= 6, 5_000), `a sent only ${sent.length} step 1s in 5 s`)
  // One request a round; any two rounds in a row ask both peers.
  const asked = sent.map((s) => s.to)
  for (let i = 1; i < asked.length; i++) assert.is.not(asked[i], asked[i - 1], `rounds ${i} and ${i + 1} both asked ${asked[i]}: ${asked.join(', ')}`)
  for (const c of [a, ...others]) await c.close()
})

test('a request parked behind a session whose answer was lost runs once that session times out', async () => {
  const net = createMemoryNetwork({ seed: 5, auto: true })
  let dropUpdates = 0
  let dropAnswers = 0
  const drop = (_from: string, type: number): boolean => {
    if (type === MessageType.UPDATES && dropUpdates > 0) { dropUpdates--; return true }
    if (type === MessageType.SYNC_STEP2 && dropAnswers > 0) { dropAnswers--; return true }
    return false
  }
  // No periodic round: only the gap, the writer's announcements and the retry can repair.
  const options = { namespace: 'n', syncInterval: 0, announceInterval: 100 }
  const a: MeshCache<string> = await createMeshCache<string>({ ...options, nodeId: 'a', transport: net.transport('a') })
  const b: MeshCache<string> = await createMeshCache<string>({ ...options, nodeId: 'b', transport: spy(net.transport('b'), drop, []) })
  await until(() => b.connectedPeers().length === 1 && b.stats().syncRequests > 0, 2_000)
  await new Promise((resolve) => setTimeout(resolve, 50))
  b.set('k', 'b-copy')
  dropUpdates = 1
  dropAnswers = 1
  a.set('k', 'new') // lost at b
  await new Promise((resolve) => setTimeout(resolve, 20))
  a.set('other', 'x') // shows b the gap; b's request is answered, and the answer lost
  const t0 = performance.now()
  // The session times out after max(1 s, 2 × announceInterval); the next tick retries.
  assert.ok(await until(() => b.get('k') === undefined, 5_000), 'b still serves the overwritten copy 5 s later')
  assert.is(dropAnswers, 0, 'the first answer was lost')
  assert.ok(performance.now() - t0 >= 900, 'repaired by the retry after the timeout, not by the lost answer')
  await a.close()
  await b.close()
})

test.run()
