/**
 * Dependency cascades and tags across real processes over libp2p (issue 4
 * §3 and §5): an invalidation of a base on one instance evicts, on the
 * others, the values they derived from it, including ones only they hold;
 * a tag invalidated on one instance evicts tagged values everywhere.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

const NODE = fileURLToPath(new URL('../netns/mesh-node.ts', import.meta.url))
const GUARD_MS = 30_000
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

test('a base invalidated on one process evicts derived and tagged values on the others', async () => {
  const psk = randomBytes(32).toString('hex')
  const nodes: ChildProcess[] = []
  try {
    const ports = await Promise.all([freePort(), freePort(), freePort()])
    for (let i = 0; i < 3; i++) {
      const peers = ports.filter((_, j) => j !== i).map((p) => `/ip4/127.0.0.1/tcp/${p}`)
      nodes.push(fork(NODE, ['127.0.0.1', String(ports[i]), psk, ...peers], {
        execPath: process.execPath,
        env: { ...process.env, NODE_ID: `n${i}`, MODE: 'invalidate' },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }))
    }
    await Promise.all(nodes.map((n) => once(n, 'message')))
    await Promise.all(nodes.map((n) => ask(n, { op: 'await-peers', count: 2 })))
    const [a, b, c] = nodes as [ChildProcess, ChildProcess, ChildProcess]

    // b derives a dashboard (depth 2) that only it holds; c holds a tagged price list.
    await ask(b, { op: 'load', key: 'profile:7', value: 'p', dependsOn: ['user:7'] })
    await ask(b, { op: 'load', key: 'dashboard:7', value: 'd', dependsOn: ['profile:7'] })
    await ask(b, { op: 'load', key: 'unrelated', value: 'u' })
    await ask(c, { op: 'load', key: 'prices:eu', value: 'x', tags: ['prices'] })
    await ask(c, { op: 'load', key: 'prices:us', value: 'y', tags: ['prices'] })

    await ask(a, { op: 'invalidate', key: 'user:7' })
    await ask(b, { op: 'await-missing', keys: ['profile:7', 'dashboard:7'] })
    assert.equal((await ask(b, { op: 'get', keys: ['profile:7', 'dashboard:7', 'unrelated'] })).value, [null, null, 'u'])

    await ask(a, { op: 'invalidate-tag', tag: 'prices' })
    await ask(c, { op: 'await-missing', keys: ['prices:eu', 'prices:us'] })
    assert.equal((await ask(c, { op: 'get', keys: ['prices:eu', 'prices:us'] })).value, [null, null])
  } finally {
    for (const n of nodes) n.kill('SIGKILL')
  }
})

test.run()
