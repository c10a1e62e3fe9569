/**
 * Dependency cascades and tags across real processes over libp2p (issue 4
 * §3 and §5): an invalidation of a base on one instance evicts, on the
 * others, the values they derived from it, including ones only they hold;
 * a tag invalidated on one instance evicts tagged values everywhere.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ask, startNode } from '../helpers/mesh-process.ts'
import { freePort } from '../helpers/ports.ts'

test('a base invalidated on one process evicts derived and tagged values on the others', async () => {
  const psk = randomBytes(32).toString('hex')
  const nodes: ChildProcess[] = []
  try {
    const ports = await Promise.all([freePort(), freePort(), freePort()])
    nodes.push(...await Promise.all(ports.map((port, i) => startNode({ nodeId: `n${i}`, port, psk, peers: ports.filter((p) => p !== port), mode: 'invalidate' }))))
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
