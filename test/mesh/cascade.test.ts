/**
 * Dependency cascades and tags across real processes over libp2p (issue 4
 * §3 and §5): an invalidation of a base on one instance evicts, on the
 * others, the values they derived from it, including ones only they hold;
 * a tag invalidated on one instance evicts tagged values everywhere; and a
 * process closing drops, everywhere, the replicated dependents only it knew
 * the edges of, and returns once its peers confirmed that.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ask, startNode } from '../helpers/mesh-process.ts'
import { freePort } from '../helpers/ports.ts'

type Three = [ChildProcess, ChildProcess, ChildProcess]

/** Three cache processes in one mesh over loopback, each connected to the two others; killed after `body`. */
async function withThree (mode: 'invalidate' | 'replicate', body: (nodes: Three) => Promise<void>): Promise<void> {
  const psk = randomBytes(32).toString('hex')
  const nodes: ChildProcess[] = []
  try {
    const ports = await Promise.all([freePort(), freePort(), freePort()])
    nodes.push(...await Promise.all(ports.map((port, i) => startNode({ nodeId: `n${i}`, port, psk, peers: ports.filter((p) => p !== port), mode }))))
    await Promise.all(nodes.map((n) => ask(n, { op: 'await-peers', count: 2 })))
    await body(nodes as Three)
  } finally {
    for (const n of nodes) n.kill('SIGKILL')
  }
}

test('a base invalidated on one process evicts derived and tagged values on the others', async () => {
  await withThree('invalidate', async ([a, b, c]) => {
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
  })
})

test('replicate mode: a process closing invalidates, everywhere, the replicated dependents only it knew the edges of', async () => {
  await withThree('replicate', async ([a, b, c]) => {
    // Only a knows the edge dashboard:7 → user:7; b and c hold the value it replicated.
    await ask(a, { op: 'set', key: 'dashboard:7', value: 'd1', dependsOn: ['user:7'] })
    await ask(a, { op: 'set', key: 'plain', value: 'p1' })
    await Promise.all([b, c].map((n) => ask(n, { op: 'await-values', expect: { 'dashboard:7': 'd1', plain: 'p1' } })))

    // A rolling deploy replaces a: it closes gracefully. No instance left could drop the dashboard when
    // user:7 changes, so a invalidates it on its way out, and its close returns once b and c confirmed that:
    // read at once, with nothing awaited, they no longer hold it. Values without edges stay.
    await ask(a, { op: 'close' })
    assert.equal((await ask(b, { op: 'get', keys: ['dashboard:7', 'plain'] })).value, [null, 'p1'])
    assert.equal((await ask(c, { op: 'get', keys: ['dashboard:7', 'plain'] })).value, [null, 'p1'])
    assert.equal((await ask(c, { op: 'inspect', keys: ['dashboard:7'] })).value.map((v: { kind: string } | null) => v?.kind), ['invalidate'])
  })
})

test.run()
