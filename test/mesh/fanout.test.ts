/**
 * Twelve (and, relaying over gossipsub, sixteen) cache processes on one IP address (127.0.0.1), as many instances
 * behind one host or NAT would be (issue 3 §5): every one joins the mesh from
 * a single bootstrap address and evicts its copy when another instance writes.
 * libp2p limits inbound connections per IP by default; the transport raises
 * that limit, and this test fails if it does not.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ask, startNode } from '../helpers/mesh-process.ts'
import { freePort } from '../helpers/ports.ts'

const N = 12

/** Forms the mesh, loads a key everywhere, writes it on the last node; returns the nodes (the caller kills them). */
async function writeEvictsEverywhere (nodes: ChildProcess[], count: number, relayMinPeers?: number): Promise<void> {
  const psk = randomBytes(32).toString('hex')
  const ports = await Promise.all(Array.from({ length: count }, freePort))
  // Everyone bootstraps from n0 alone: peer exchange must build the full mesh.
  nodes.push(...await Promise.all(ports.map((port, i) => startNode({
    nodeId: `n${i}`, port, psk, peers: i === 0 ? [] : [ports[0] as number], mode: 'invalidate', ...(relayMinPeers !== undefined ? { relayMinPeers } : {}),
  }))))
  await Promise.all(nodes.map((n) => ask(n, { op: 'await-peers', count: count - 1 })))
  const loaded = await Promise.all(nodes.map((n) => ask(n, { op: 'load', key: 'flags', value: 'old' })))
  assert.ok(loaded.every((r) => r.value === 'old'), 'every instance holds a copy')
  const writer = nodes[count - 1] as ChildProcess
  await ask(writer, { op: 'set', key: 'flags', value: 'new' })
  await Promise.all(nodes.slice(0, count - 1).map((n) => ask(n, { op: 'await-missing', keys: ['flags'] })))
  const reads = await Promise.all(nodes.map((n) => ask(n, { op: 'get', keys: ['flags'] })))
  assert.equal(reads.map((r) => r.value[0]), [...Array(count - 1).fill(null), 'new'], 'every other instance evicted; the writer keeps its value')
}

test(`${N} processes on 127.0.0.1 form one mesh from one bootstrap address, and a write evicts every copy`, async () => {
  const nodes: ChildProcess[] = []
  try {
    await writeEvictsEverywhere(nodes, N)
  } finally {
    for (const n of nodes) n.kill('SIGKILL')
  }
})

// Gossipsub's IP-colocation score graylists peers once more than 10 share an
// address (weight -5 × surplus²; -80 is the graylist): at 16, every peer here
// would be, and nothing would arrive through gossipsub.
const N_RELAY = 16

test(`${N_RELAY} processes with the gossipsub relay tier: writes reach every copy through gossipsub, none graylisted`, async () => {
  const nodes: ChildProcess[] = []
  try {
    await writeEvictsEverywhere(nodes, N_RELAY, 0) // relay from 0 peers: every broadcast goes over gossipsub
    const stats = await Promise.all(nodes.map((n) => ask(n, { op: 'transport-stats' })))
    const writer = stats[N_RELAY - 1]?.value as { framesRelayed: number }
    assert.ok(writer.framesRelayed > 0, 'the writer published on gossipsub')
    const relayed = stats.slice(0, N_RELAY - 1).map((s) => (s.value as { relayedReceived: number }).relayedReceived)
    assert.ok(relayed.every((n) => n > 0), `every receiver got frames through gossipsub (${relayed.join(', ')})`)
  } finally {
    for (const n of nodes) n.kill('SIGKILL')
  }
})

test.run()
