/**
 * Clocks apart by more than maxClockSkew, across real processes on loopback:
 * one process's whole clock (Date.now) runs 20 s ahead, another's 3 s (within
 * the default 5 s). The instances behind it report the far one, by its
 * membership stamp and by its records' times, and go on merging; the one
 * ahead reports nobody (from it, everyone else looks late, which a slow
 * network also does), and nobody reports the clock within the skew.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { ClockSkewEvent } from '../../lib/index.ts'
import { ask, startNode } from '../helpers/mesh-process.ts'
import { freePort } from '../helpers/ports.ts'

interface Skews { events: ClockSkewEvent[], clockAhead: number }

test('a clock 20 s ahead is reported by every instance behind it, by membership and by records; 3 s is not', async () => {
  const psk = randomBytes(32).toString('hex')
  const ports = [await freePort(), await freePort(), await freePort()]
  const others = (i: number): number[] => ports.filter((_, j) => j !== i)
  const offsets = [0, 20_000, 3_000]
  const nodes: ChildProcess[] = []
  try {
    for (const [i, name] of ['a', 'ahead', 'near'].entries()) {
      nodes.push(await startNode({ nodeId: name, port: ports[i] as number, psk, peers: others(i), clockOffsetMs: offsets[i] as number }))
    }
    const [a, ahead, near] = nodes as [ChildProcess, ChildProcess, ChildProcess]
    await Promise.all(nodes.map((n) => ask(n, { op: 'await-members', count: 2 })))
    const aheadOrigin = (await ask(ahead, { op: 'origin' })).value as string

    // Membership: the far member's renewal stamp arrives 20 s in the future.
    await Promise.all([a, near].map((n) => ask(n, { op: 'await-clock-skew', seenIn: 'membership' })))
    // Records: its write's HLC time too; the write is merged all the same.
    await ask(ahead, { op: 'set', key: 'k', value: 'from the future' })
    await Promise.all([a, near].map((n) => ask(n, { op: 'await-values', expect: { k: 'from the future' } })))
    await Promise.all([a, near].map((n) => ask(n, { op: 'await-clock-skew', seenIn: 'record' })))
    // Writes from the others reach the far one, which finds nothing wrong.
    await ask(a, { op: 'set', key: 'j', value: 'from now' })
    await ask(near, { op: 'set', key: 'i', value: 'from 3 s on' })
    await ask(ahead, { op: 'await-values', expect: { j: 'from now', i: 'from 3 s on' } })

    for (const [node, skewMs] of [[a, 20_000], [near, 17_000]] as const) {
      const seen = (await ask(node, { op: 'clock-skew' })).value as Skews
      assert.equal(seen.events.map((e) => e.origin), [aheadOrigin, aheadOrigin], 'only the far clock, once per kind of sighting')
      assert.equal(seen.events.map((e) => e.seenIn).sort(), ['membership', 'record'])
      for (const e of seen.events) {
        assert.is(e.maxClockSkew, 5_000)
        assert.ok(Math.abs(e.aheadMs - skewMs) < 1_500, `ahead by ~${skewMs} ms, reported ${e.aheadMs}`)
      }
      assert.ok(seen.clockAhead >= 2, `every sighting counted (${seen.clockAhead})`)
    }
    const fromAhead = (await ask(ahead, { op: 'clock-skew' })).value as Skews
    assert.equal(fromAhead, { events: [], clockAhead: 0 }, 'the instance ahead sees nobody ahead of it')
  } finally {
    for (const n of nodes) n.kill('SIGKILL')
  }
})

test.run()
