/**
 * Twelve cache processes on one IP address (127.0.0.1), as many instances
 * behind one host or NAT would be (issue 3 §5): every one joins the mesh from
 * a single bootstrap address and evicts its copy when another instance writes.
 * libp2p limits inbound connections per IP by default; the transport raises
 * that limit, and this test fails if it does not.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ask, freePort, startNode } from '../helpers/mesh-process.ts'

const N = 12

test(`${N} processes on 127.0.0.1 form one mesh from one bootstrap address, and a write evicts every copy`, async () => {
  const psk = randomBytes(32).toString('hex')
  const nodes: ChildProcess[] = []
  try {
    const ports = await Promise.all(Array.from({ length: N }, freePort))
    // Everyone bootstraps from n0 alone: peer exchange must build the full mesh.
    nodes.push(...await Promise.all(ports.map((port, i) => startNode({ nodeId: `n${i}`, port, psk, peers: i === 0 ? [] : [ports[0] as number], mode: 'invalidate' }))))
    await Promise.all(nodes.map((n) => ask(n, { op: 'await-peers', count: N - 1 })))
    const loaded = await Promise.all(nodes.map((n) => ask(n, { op: 'load', key: 'flags', value: 'old' })))
    assert.ok(loaded.every((r) => r.value === 'old'), 'every instance holds a copy')
    const writer = nodes[N - 1] as ChildProcess
    await ask(writer, { op: 'set', key: 'flags', value: 'new' })
    await Promise.all(nodes.slice(0, N - 1).map((n) => ask(n, { op: 'await-missing', keys: ['flags'] })))
    const reads = await Promise.all(nodes.map((n) => ask(n, { op: 'get', keys: ['flags'] })))
    assert.equal(reads.map((r) => r.value[0]), [...Array(N - 1).fill(null), 'new'], 'every other instance evicted; the writer keeps its value')
  } finally {
    for (const n of nodes) n.kill('SIGKILL')
  }
})

test.run()
