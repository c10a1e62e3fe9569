/** shareStats: each instance's summary in its membership metadata, bounded, checked on receipt (SPEC.md §15). */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { createMeshCache, type ClockSkewEvent, type MeshCache } from '../../lib/index.ts'
import { createMemoryNetwork } from '../../lib/testing/index.ts'
import { LAG_BOUNDS_MS } from '../../lib/observe/lag-histogram.ts'
import { MAX_SUMMARY_BYTES, SUMMARY_META, SUMMARY_VERSION, shareStats, summaryOf, takeSummary } from '../../lib/observe/share.ts'
import { SnapshotBuilder } from '../../lib/observe/dashboard/snapshot.ts'
import { cluster } from '../helpers/cluster.ts'

test('SPEC.md §15 states the code\'s numbers', () => {
  const spec = readFileSync(new URL('../../SPEC.md', import.meta.url), 'utf8')
  const section = spec.slice(spec.indexOf('## 15. The shared stats summary'))
  assert.ok(section.includes(`at most \`MAX_SUMMARY_BYTES\` (${MAX_SUMMARY_BYTES.toLocaleString('en')})`))
  assert.ok(section.includes(`{ v: ${SUMMARY_VERSION},`))
  assert.ok(section.includes(`lag: [${LAG_BOUNDS_MS.length + 1}]`))
  assert.ok(section.includes(`under the membership metadata name \`${SUMMARY_META}\``))
})

test('every member\'s summary reaches the others; the snapshot shows the whole mesh from one instance', async () => {
  // Real clock: shareStats advertises on a timer (every 100 ms here), and the memory network is flushed as it goes.
  const c = await cluster<string>(3, { now: Date.now, mode: 'replicate', region: 'eu' })
  const pump = setInterval(() => { void c.net.flush() }, 10)
  try {
    const [a, b, d] = c.nodes as [MeshCache<string>, MeshCache<string>, MeshCache<string>]
    for (const n of c.nodes) shareStats(n, { interval: 100 })
    assert.is(shareStats(a), shareStats(a), 'one per cache')
    a.set('k', 'v')
    b.get('nope')
    for (let i = 0; i < 200; i++) {
      const seen = a.peers().map((p) => summaryOf(p.meta))
      if (seen.length === 2 && seen.every((s) => s !== undefined && s.cn.length === 2) && seen.some((s) => s?.m === 1)) break
      await sleep(10)
    }
    const fromB = summaryOf(a.peers().find((p) => p.origin === b.origin)?.meta)
    assert.ok(fromB !== undefined)
    assert.is(fromB.m, 1)
    assert.is(fromB.k, 1, 'b holds the replicated value')
    assert.equal([...fromB.cn].sort(), [a.origin, d.origin].sort())
    const snap = new SnapshotBuilder(a, () => takeSummary(a)).build()
    assert.equal(snap.members.map((m) => [m.nodeId, m.status, m.region]), [['n0', 'self', 'eu'], ['n1', 'up', 'eu'], ['n2', 'up', 'eu']])
    assert.is(snap.members[1]?.misses, 1)
    assert.is(snap.lag.length, LAG_BOUNDS_MS.length + 1)
    assert.ok(snap.lagCount >= 2, 'both receivers measured the write')

    // A partition shows as it happens: n2 cut off from both others is unreachable while membership
    // still lists it (for 30 s), and the matrix shows no link to it.
    c.net.partition(['n0', 'n1'], ['n2'])
    let status: string | undefined
    for (let i = 0; i < 200 && status !== 'unreachable'; i++) {
      status = new SnapshotBuilder(a, () => takeSummary(a)).build().members.find((m) => m.nodeId === 'n2')?.status
      if (status !== 'unreachable') await sleep(10)
    }
    assert.is(status, 'unreachable')
    c.net.heal()
    for (let i = 0; i < 200 && status !== 'up'; i++) {
      status = new SnapshotBuilder(a, () => takeSummary(a)).build().members.find((m) => m.nodeId === 'n2')?.status
      if (status !== 'up') await sleep(10)
    }
    assert.is(status, 'up', 'and up again after the heal')

    // A member that closes removes its membership state at once: gone.
    const builder = new SnapshotBuilder(a, () => takeSummary(a))
    builder.build()
    await d.close()
    await c.net.flush()
    const after = builder.build()
    assert.is(after.members.find((m) => m.nodeId === 'n2')?.status, 'gone', 'a closing member removes its state at once')
  } finally {
    clearInterval(pump)
    await c.close()
  }
})

test('when other metadata leaves too little room, the summary goes without its lists; sharing stops when the cache closes', async () => {
  const c = await cluster<string>(2, { now: Date.now })
  const pump = setInterval(() => { void c.net.flush() }, 10)
  try {
    const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
    a.advertise('other', 'x'.repeat(1_500)) // another component's metadata, most of the 2 KiB
    const shared = shareStats(a, { interval: 100 })
    let s: ReturnType<typeof summaryOf>
    for (let i = 0; i < 200 && (s = summaryOf(b.peers()[0]?.meta)) === undefined; i++) await sleep(10)
    assert.ok(s !== undefined, 'shared anyway')
    assert.equal(s.cn, [], 'without the connection list')
    shared.stop()
    await a.close()
    const again = shareStats(a) // its first tick runs at once, meets E_CLOSED and stops instead of throwing
    assert.is.not(shareStats(a), again, 'it stopped and left its place')
  } finally {
    clearInterval(pump)
    await c.close()
  }
})

test('a summary stays within MAX_SUMMARY_BYTES however long the keys; malformed ones are ignored', async () => {
  const c = await cluster<string>(1, { now: Date.now })
  try {
    const [a] = c.nodes as [MeshCache<string>]
    a.set('k', 'v')
    assert.ok(a.stats().metadataBytes > 0)
    assert.is(a.stats({ metadataBytes: false }).metadataBytes, -1, 'the summary\'s stats skip the walk over every key')
    const long = 'x'.repeat(500)
    const s = takeSummary(a, [[long, 5], [long, 6], [long, 7], [long, 8]])
    assert.ok(JSON.stringify(s).length <= MAX_SUMMARY_BYTES)
    assert.is(s.sk.length, 3)
    assert.is(s.sk[0]?.[0].length, 64)
    assert.ok(summaryOf({ stats: s }) !== undefined)
    const bad: unknown[] = [
      undefined, null, 'x', { ...s, v: 2 }, { ...s, h: -1 }, { ...s, h: 'many' }, { ...s, lag: [1, 2] .concat(new Array(40).fill(0)) },
      { ...s, cn: [42] }, { ...s, sk: [['k', 'old']] }, { ...s, ev: 'none' }, { ...s, t: Number.NaN }, { ...s, ca: -1 }, { ...s, ca: '3' },
    ]
    for (const value of bad) assert.is(summaryOf({ stats: value }), undefined, JSON.stringify(value)?.slice(0, 80))
    const { ca: _, ...older } = s
    assert.ok(summaryOf({ stats: older }) !== undefined, 'an older version\'s summary, without ca, is valid')
  } finally {
    await c.close()
  }
})

test('a member that saw a clock ahead past maxClockSkew shows it in its summary and in the snapshot', async () => {
  const net = createMemoryNetwork()
  const options = { namespace: 'skew', mode: 'replicate' as const, syncInterval: 0 }
  const a = await createMeshCache<string>({ ...options, nodeId: 'a', transport: net.transport('a') })
  const ahead = await createMeshCache<string>({ ...options, nodeId: 'ahead', transport: net.transport('ahead'), now: () => Date.now() + 20_000 })
  try {
    await net.flush()
    const skews: ClockSkewEvent[] = []
    a.on('clockSkew', (e) => skews.push(e))
    ahead.set('k', 'v') // its HLC time is 20 s in a's future
    await net.flush()
    assert.is(a.get('k'), 'v', 'merged all the same')
    assert.equal(skews.map((e) => [e.origin, e.seenIn, e.maxClockSkew]), [[ahead.origin, 'record', 5_000]])
    assert.ok(Math.abs((skews[0]?.aheadMs ?? 0) - 20_000) < 1_000, `ahead by ${skews[0]?.aheadMs} ms`)
    assert.is(takeSummary(a).ca, 1)
    assert.is(takeSummary(ahead).ca, 0, 'the one ahead sees nothing')
    const self = new SnapshotBuilder(a, () => takeSummary(a)).build().members.find((m) => m.status === 'self')
    assert.is(self?.clockAhead, 1)
  } finally {
    await a.close()
    await ahead.close()
  }
})

test.run()
