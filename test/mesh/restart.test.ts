/**
 * kill -9 and restart across real processes on loopback (issue 3 §5): a key
 * deleted while a process was alive does not come back after it is killed
 * and restarted with the same node id and address, and the restarted process
 * never reuses a sequence number (it is a new incarnation, a new origin).
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

async function start (name: string, port: number, psk: string, peers: number[]): Promise<ChildProcess> {
  const child = fork(NODE, ['127.0.0.1', String(port), psk, ...peers.map((p) => `/ip4/127.0.0.1/tcp/${p}`)], {
    execPath: process.execPath,
    env: { ...process.env, NODE_ID: name },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  await once(child, 'message')
  return child
}

test('a killed and restarted process gets the tombstone back and never reuses a number', async () => {
  const psk = randomBytes(32).toString('hex')
  const ports = [await freePort(), await freePort(), await freePort()]
  const others = (i: number) => ports.filter((_, j) => j !== i)
  const nodes: ChildProcess[] = []
  try {
    for (const [i, name] of ['a', 'b', 'c'].entries()) nodes.push(await start(name, ports[i] as number, psk, others(i)))
    const [a, b, c] = nodes as [ChildProcess, ChildProcess, ChildProcess]
    await Promise.all(nodes.map((n) => ask(n, { op: 'await-peers', count: 2 })))

    await ask(a, { op: 'set', key: 'user:1', value: 'v1' })
    await ask(a, { op: 'set', key: 'user:2', value: 'v1' })
    await Promise.all([b, c].map((n) => ask(n, { op: 'await-values', expect: { 'user:1': 'v1', 'user:2': 'v1' } })))
    await ask(b, { op: 'delete', key: 'user:1' })
    await Promise.all([a, c].map((n) => ask(n, { op: 'await-kind', key: 'user:1', kind: 'delete' })))
    const firstOrigin = (await ask(a, { op: 'origin' })).value as string

    a.kill('SIGKILL')
    await once(a, 'exit')
    const a2 = nodes[0] = await start('a', ports[0] as number, psk, others(0))
    const secondOrigin = (await ask(a2, { op: 'origin' })).value as string
    assert.ok(firstOrigin.startsWith('a~') && secondOrigin.startsWith('a~'), 'the node id is kept')
    assert.is.not(secondOrigin, firstOrigin, 'a new incarnation')

    await ask(a2, { op: 'await-peers', count: 2 })
    await ask(a2, { op: 'await-kind', key: 'user:1', kind: 'delete' })
    assert.equal((await ask(a2, { op: 'get', keys: ['user:1', 'user:2'] })).value, [null, 'v1'], 'the deleted key stays deleted; the live one came back')

    await ask(a2, { op: 'set', key: 'user:3', value: 'after-restart' })
    await ask(b, { op: 'await-values', expect: { 'user:3': 'after-restart' } })
    const [k3, k1, k2] = (await ask(b, { op: 'inspect', keys: ['user:3', 'user:1', 'user:2'] })).value
    assert.equal(k3.vv, [secondOrigin, 1], 'the restarted process numbers from 1 under its new origin')
    assert.is(k1.kind, 'delete', 'the tombstone survived the restart everywhere')
    assert.equal(k2.vv, [firstOrigin, 2], 'the earlier incarnation\'s write keeps its own number')
    assert.equal((await ask(c, { op: 'get', keys: ['user:1'] })).value, [null])
  } finally {
    for (const n of nodes) n.kill('SIGKILL')
  }
})

test.run()
