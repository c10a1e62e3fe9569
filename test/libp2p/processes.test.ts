/**
 * Real processes on 127.0.0.1: each node is its own Node.js process
 * (fixtures/node.ts), bootstrapped to the first one only; the rest of the mesh
 * comes from peer exchange.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { generatePsk } from '../../lib/net/libp2p/index.ts'
import { fullMesh, spawnMesh, stopAll } from './procs.ts'
import type { Proc } from './procs.ts'

const psk = generatePsk()

async function everyoneReceives (procs: Proc[], from: Proc, payload: string): Promise<void> {
  from.broadcast('ns', Buffer.from(payload))
  await Promise.all(procs.filter(p => p !== from).map(async p => {
    const m = await p.next(x => x.ev === 'frame' && Buffer.from(x.data, 'base64').toString() === payload, `${payload} at ${p.peerId}`)
    assert.is(m.from, from.peerId)
  }))
}

test('5 processes: a broadcast from one reaches the other four, from any of them', async () => {
  const procs = await spawnMesh(5, { options: { psk, redialInterval: 200 } })
  try {
    await fullMesh(procs)
    await everyoneReceives(procs, procs[0] as Proc, 'from the first')
    await everyoneReceives(procs, procs[4] as Proc, 'from the last')
    // exactly once each
    for (const p of procs.slice(1, 4)) assert.is(p.frames('ns').length, 2)
  } finally {
    await stopAll(procs)
  }
})

test('12 processes on one IP: all of them connect to all and receive', async () => {
  const procs = await spawnMesh(12, { options: { psk, redialInterval: 200 } })
  try {
    await fullMesh(procs, 'ns', 30_000)
    await everyoneReceives(procs, procs[7] as Proc, 'twelve')
  } finally {
    await stopAll(procs)
  }
})

test('a real connection cut between processes: both sides see the peer go down and come back up', async () => {
  const procs = await spawnMesh(2, { options: { psk, redialInterval: 100 } })
  const [a, b] = procs as [Proc, Proc]
  try {
    await fullMesh(procs)
    a.tell({ op: 'cut', peer: b.peerId })
    await a.next(m => m.ev === 'down' && m.peer === b.peerId, 'a sees b down')
    await b.next(m => m.ev === 'down' && m.peer === a.peerId, 'b sees a down')
    await a.next(m => m.ev === 'up' && m.peer === b.peerId, 'a sees b up again')
    await b.next(m => m.ev === 'up' && m.peer === a.peerId, 'b sees a up again')
    await everyoneReceives(procs, b, 'after the cut')
  } finally {
    await stopAll(procs)
  }
})

test.run()
