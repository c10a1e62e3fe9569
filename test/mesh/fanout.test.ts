/**
 * Twelve cache processes on one IP address (127.0.0.1), as many instances
 * behind one host or NAT would be (issue 3 §5): every one joins the mesh from
 * a single bootstrap address and evicts its copy when another instance writes.
 * libp2p limits inbound connections per IP by default; the transport raises
 * that limit, and this test fails if it does not.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

const NODE = fileURLToPath(new URL('../netns/mesh-node.ts', import.meta.url))
const N = 12
const GUARD_MS = 60_000
let nextId = 0

function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

function ask (child: ChildProcess, request: Record<string, unknown>): Promise<{ value: any, at: number }> {
  const id = nextId++
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => { cleanup(); reject(new Error(`no answer to ${String(request.op)} within ${GUARD_MS} ms`)) }, GUARD_MS)
    const onMessage = (reply: { id: number, value: unknown, at: number }): void => { if (reply.id === id) { cleanup(); resolve(reply) } }
    const cleanup = (): void => { clearTimeout(guard); child.off('message', onMessage) }
    child.on('message', onMessage)
    child.send({ ...request, id })
  })
}

test(`${N} processes on 127.0.0.1 form one mesh from one bootstrap address, and a write evicts every copy`, async () => {
  const psk = randomBytes(32).toString('hex')
  const nodes: ChildProcess[] = []
  try {
    const ports = await Promise.all(Array.from({ length: N }, freePort))
    for (let i = 0; i < N; i++) {
      const peers = i === 0 ? [] : [`/ip4/127.0.0.1/tcp/${ports[0]}`]
      const child = fork(NODE, ['127.0.0.1', String(ports[i]), psk, ...peers], {
        execPath: process.execPath,
        env: { ...process.env, NODE_ID: `n${i}`, MODE: 'invalidate' },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      })
      nodes.push(child)
    }
    await Promise.all(nodes.map((n) => once(n, 'message')))
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
