/**
 * kill -9 and restart across real processes on loopback (issue 3 §5): a key
 * deleted while a process was alive does not come back after it is killed
 * and restarted with the same node id and address, and the restarted process
 * never reuses a sequence number (it is a new incarnation, a new origin).
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ask, startNode } from '../helpers/mesh-process.ts'
import { freePort } from '../helpers/ports.ts'

test('a killed and restarted process gets the tombstone back and never reuses a number', async () => {
  const psk = randomBytes(32).toString('hex')
  const ports = [await freePort(), await freePort(), await freePort()]
  const others = (i: number) => ports.filter((_, j) => j !== i)
  const nodes: ChildProcess[] = []
  try {
    for (const [i, name] of ['a', 'b', 'c'].entries()) nodes.push(await startNode({ nodeId: name, port: ports[i] as number, psk, peers: others(i) }))
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
    const a2 = nodes[0] = await startNode({ nodeId: 'a', port: ports[0] as number, psk, peers: others(0) })
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
