/**
 * A node whose every neighbour dies still reaches the rest of a partial mesh
 * (lib/net/libp2p/peer-exchange.ts), real processes on loopback.
 *
 * The shape of check:mesh-seeds' seed 396 (two regions): a restarted process
 * learned only its first neighbours' links; those neighbours died next, and
 * it knew no live peer. Here: three instances in one process (C) at
 * `maxPeers: 2`; A joins through C and is then cut off from it (its own
 * faults: C stays alive, A keeps knowing it); N joins through A alone, whose
 * only link is N itself; then A's process is killed. N must still get a
 * write made in C: it does only if A's greeting told it C, known alive a
 * moment before, and not only A's links.
 */
import type { ChildProcess } from 'node:child_process'
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ask } from '../helpers/mesh-process.ts'

const HOST = new URL('../helpers/fuzz-host.ts', import.meta.url)
/** A failure guard, not a wait: each poll returns as soon as its condition holds. */
const GUARD_MS = 20_000

interface Slot { addr: string, peerId: string }

async function startHost (children: ChildProcess[], first: number, instances: number, bootstrap: string[], psk: string): Promise<{ child: ChildProcess, slots: Slot[] }> {
  const child = fork(HOST, [JSON.stringify({ first, instances, bootstrap, psk, maxPeers: 2, mode: 'replicate' })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  children.push(child)
  await once(child, 'message')
  return { child, slots: (await ask(child, { op: 'addrs' })).value as Slot[] }
}

async function poll (what: string, check: () => Promise<boolean>): Promise<void> {
  const until = performance.now() + GUARD_MS
  while (!await check()) {
    if (performance.now() > until) throw new Error(`${what}: not within ${GUARD_MS} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

test('a node that joined through one peer reaches the rest after that peer dies', async () => {
  const psk = randomBytes(32).toString('hex')
  const children: ChildProcess[] = []
  try {
    const c = await startHost(children, 0, 3, [], psk)
    await ask(c.child, { op: 'await-connected', count: 2, guardMs: GUARD_MS })
    const a = await startHost(children, 3, 1, [c.slots[0]?.addr as string], psk)
    await ask(a.child, { op: 'await-connected', count: 1, guardMs: GUARD_MS })
    // A cuts itself off from C: C lives on, and A knew it alive a moment ago
    await ask(a.child, { op: 'block', blocks: { 3: c.slots.map((s) => s.peerId) } })
    await poll('A without links to C', async () => ((await ask(a.child, { op: 'links' })).value as string[][])[0]?.length === 0)
    const n = await startHost(children, 4, 1, [a.slots[0]?.addr as string], psk)
    await ask(n.child, { op: 'await-connected', count: 1, guardMs: GUARD_MS })
    a.child.kill('SIGKILL')
    await once(a.child, 'exit')
    await ask(c.child, { op: 'write', instance: 0, kind: 'set', key: 'k', value: 'from C' })
    await poll('N holding the write made in C', async () => ((await ask(n.child, { op: 'get', key: 'k' })).value as Array<string | null>)[0] === 'from C')
    const links = ((await ask(n.child, { op: 'links' })).value as string[][])[0] ?? []
    assert.ok(links.some((p) => c.slots.some((s) => s.peerId === p)), `N linked to C (links: ${links.join(', ')})`)
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
})

test.run()
