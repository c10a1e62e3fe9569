/**
 * "Saved" means saved everywhere (issue 17 §4), real processes over libp2p
 * on loopback: a write followed by `await whenReplicated()` is read back by
 * another instance immediately, 100 times out of 100. Without waiting, an
 * immediate cross-instance read can see the old version (the new-user trial
 * saw 7 of 100); that count is printed, not asserted, since it depends on
 * timing.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ask, startNode } from '../helpers/mesh-process.ts'
import { freePort } from '../helpers/ports.ts'

const WRITES = 100

test('0 of 100 immediate cross-instance reads are stale after whenReplicated; a namespace clear reaches the other process', async () => {
  const psk = randomBytes(32).toString('hex')
  const [pa, pb] = [await freePort(), await freePort()]
  const nodes: ChildProcess[] = []
  try {
    nodes.push(await startNode({ nodeId: 'a', port: pa, psk, peers: [pb] }))
    nodes.push(await startNode({ nodeId: 'b', port: pb, psk, peers: [pa] }))
    const [a, b] = nodes as [ChildProcess, ChildProcess]
    await Promise.all(nodes.map((n) => ask(n, { op: 'await-peers', count: 1 })))

    let stale = 0
    for (let i = 0; i < WRITES; i++) {
      await ask(a, { op: 'set-replicated', key: 'user:1', value: `v${i}`, timeout: 5_000 })
      const [read] = (await ask(b, { op: 'get', keys: ['user:1'] })).value as string[]
      if (read !== `v${i}`) stale++
    }
    assert.is(stale, 0, `${stale} of ${WRITES} reads right after whenReplicated were stale`)

    let staleWithout = 0
    for (let i = 0; i < WRITES; i++) {
      await ask(a, { op: 'set', key: 'user:2', value: `w${i}` })
      const [read] = (await ask(b, { op: 'get', keys: ['user:2'] })).value as string[]
      if (read !== `w${i}`) staleWithout++
    }
    console.log(`  without whenReplicated: ${staleWithout} of ${WRITES} immediate reads stale (timing-dependent, not asserted)`)

    // The clear must follow the writes causally (b has seen them), or a write made in the same
    // millisecond on a, concurrent with the clear, may order after it by HLC and rightly stay.
    await ask(b, { op: 'await-values', expect: { 'user:2': `w${WRITES - 1}` } })
    await ask(b, { op: 'clear' })
    await ask(a, { op: 'await-missing', keys: ['user:1', 'user:2'] })
  } finally {
    for (const n of nodes) n.kill('SIGKILL')
  }
})

test.run()
