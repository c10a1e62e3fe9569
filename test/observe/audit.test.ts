/** cache.audit(): the staleness audit on the memory network (lib/observe/audit.ts). */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { setImmediate as tick } from 'node:timers/promises'
import { ErrorCode, MeshCacheError, type MeshCache } from '../../lib/index.ts'
import type { StaleEvent } from '../../lib/observe/audit.ts'
import { collectFamilies } from '../../lib/observe/exporter.ts'
import { cluster } from '../helpers/cluster.ts'

/** The source of truth: values with the time they last changed (the test clock's). */
function database (now: () => number) {
  const rows = new Map<string, { value: string, updatedAt: number }>()
  return {
    rows,
    write (key: string, value: string) { rows.set(key, { value, updatedAt: now() }) },
    read: (key: string) => rows.get(key)?.value,
    changedAt: (key: string) => rows.get(key)?.updatedAt,
  }
}

/** Lets the audit's background reads (a microtask, then the source's promise) finish. */
async function settle (): Promise<void> {
  for (let i = 0; i < 5; i++) await tick()
}

test('a dropped invalidation shows as stale reads until anti-entropy repairs it, then none', async () => {
  const c = await cluster<string>(2, { mode: 'replicate' })
  try {
    const [writer, reader] = c.nodes as [MeshCache<string>, MeshCache<string>]
    await c.net.flush()
    const db = database(c.clock.now)
    db.write('user:1', 'old')
    writer.set('user:1', 'old')
    await c.net.flush()
    assert.is(reader.get('user:1'), 'old')

    const stale: StaleEvent[] = []
    reader.on('stale', (e: StaleEvent) => stale.push(e))
    const audit = reader.audit({ sample: 1, source: db.read, changedAt: db.changedAt, maxPerSecond: 1000, grace: 100 })

    // The update's frame is lost: the reader keeps serving 'old' (its TTL is 60 s).
    c.net.partition(['n0'], ['n1'])
    db.write('user:1', 'new')
    writer.set('user:1', 'new')
    await c.net.flush()
    c.net.heal()
    c.clock.advance(500) // well past the grace
    for (let i = 0; i < 5; i++) assert.is(reader.get('user:1'), 'old')
    await settle()
    assert.is(stale.length, 5, 'every audited read of the lost write is stale')
    assert.is(stale[0]?.key, 'user:1')
    assert.is(stale[0]?.servedBy, reader.origin)
    assert.is(stale[0]?.staleForMs, 500)
    assert.is(stale[0]?.servedAgeMs, 500, 'the version served was written 500 ms before the read')
    assert.ok((stale[0]?.servedHlc ?? 0) > 0)
    assert.equal(reader.auditStats(), { reads: 5, stale: 5, raced: 0, skipped: 0, errors: 0 })

    // Anti-entropy repairs the loss: the reader now serves the new value and nothing is stale.
    reader.sync()
    await c.net.flush()
    assert.ok(reader.stats().repairs >= 1)
    for (let i = 0; i < 5; i++) assert.is(reader.get('user:1'), 'new')
    await settle()
    assert.is(stale.length, 5, 'no stale read after the repair')
    assert.equal(reader.auditStats(), { reads: 10, stale: 5, raced: 0, skipped: 0, errors: 0 })

    const families = collectFamilies(reader)
    const value = (name: string) => (families.find((f) => f.name === name)?.samples[0] as { value: number } | undefined)?.value
    assert.is(value('audit_reads_total'), 10)
    assert.is(value('audit_stale_total'), 5)
    audit.stop()
    assert.is(reader.auditStats(), undefined)
    assert.ok(!collectFamilies(reader).some((f) => f.name === 'audit_reads_total'), 'its source leaves with it')
  } finally {
    await c.close()
  }
})

test('a read racing a write in flight is not stale (within the grace), and without changedAt the arriving write dates it', async () => {
  const c = await cluster<string>(2, { mode: 'replicate' })
  try {
    const [writer, reader] = c.nodes as [MeshCache<string>, MeshCache<string>]
    await c.net.flush()
    const db = database(c.clock.now)
    db.write('k', 'v1')
    writer.set('k', 'v1')
    await c.net.flush()
    reader.audit({ sample: 1, source: db.read, changedAt: db.changedAt, maxPerSecond: 1000, grace: 100 })
    db.write('k', 'v2')
    writer.set('k', 'v2') // in flight: not delivered yet
    c.clock.advance(20)
    assert.is(reader.get('k'), 'v1')
    await settle()
    assert.equal(reader.auditStats(), { reads: 1, stale: 0, raced: 1, skipped: 0, errors: 0 })
  } finally {
    await c.close()
  }
  const d = await cluster<string>(2, { mode: 'replicate' })
  try {
    const [writer, reader] = d.nodes as [MeshCache<string>, MeshCache<string>]
    await d.net.flush()
    const db = database(d.clock.now)
    db.write('k', 'v1')
    writer.set('k', 'v1')
    await d.net.flush()
    const stale: StaleEvent[] = []
    reader.on('stale', (e: StaleEvent) => stale.push(e))
    // No changedAt: the audit dates the change by the HLC of the write once it has arrived here.
    let open = (): void => {}
    const gate = new Promise<void>((resolve) => { open = resolve })
    reader.audit({ sample: 1, source: (key) => gate.then(() => db.read(key)), maxPerSecond: 1000, grace: 100 })
    d.net.partition(['n0'], ['n1'])
    db.write('k', 'v2')
    writer.set('k', 'v2')
    await d.net.flush()
    d.net.heal()
    d.clock.advance(1_000)
    assert.is(reader.get('k'), 'v1') // stale by 1 s
    reader.sync() // the write arrives while the audit reads the source
    await d.net.flush()
    open()
    await settle()
    assert.is(stale.length, 1)
    assert.is(stale[0]?.staleForMs, 1_000, 'dated by the arrived write\'s HLC')
  } finally {
    await d.close()
  }
})

test('without changedAt, a change that never arrives counts as stale once the grace has passed (real time: the grace is a timer)', async () => {
  const c = await cluster<string>(2, { mode: 'replicate' })
  try {
    const [writer, reader] = c.nodes as [MeshCache<string>, MeshCache<string>]
    await c.net.flush()
    writer.set('k', 'v1')
    await c.net.flush()
    const stale = new Promise<StaleEvent>((resolve) => reader.once('stale', resolve))
    reader.audit({ sample: 1, source: () => 'v2', maxPerSecond: 1000, grace: 20 })
    assert.is(reader.get('k'), 'v1')
    await settle()
    assert.is(reader.auditStats()?.stale, 0, 'not judged before the grace')
    // The audit's timer does not keep a process alive (unref): this guard does, and bounds the wait.
    const guard = setTimeout(() => {}, 10_000)
    const e = await stale
    clearTimeout(guard)
    assert.is(e.key, 'k')
    assert.is(e.staleForMs, undefined, 'how stale is unknown: the change never arrived')
    assert.is(reader.auditStats()?.stale, 1)
  } finally {
    await c.close()
  }
})

test('sampling and the rate limit: sample 0 reads nothing, maxPerSecond skips the excess', async () => {
  const c = await cluster<string>(1)
  try {
    const [a] = c.nodes as [MeshCache<string>]
    a.set('k', 'v')
    let reads = 0
    const audit = a.audit({ sample: 0, source: () => { reads++; return 'v' } })
    for (let i = 0; i < 1000; i++) a.get('k')
    await settle()
    assert.is(reads, 0)
    audit.stop()
    a.audit({ sample: 1, source: () => { reads++; return 'v' }, maxPerSecond: 5 })
    for (let i = 0; i < 20; i++) a.get('k')
    await settle()
    assert.is(reads, 5, 'five tokens in the first second')
    assert.is(a.auditStats()?.skipped, 15)
    c.clock.advance(1_000)
    for (let i = 0; i < 20; i++) a.get('k')
    await settle()
    assert.is(reads, 10, 'refilled after a second')
  } finally {
    await c.close()
  }
})

test('a sample of 10% audits about 10% of hits (seeded)', async () => {
  const c = await cluster<string>(1)
  try {
    const [a] = c.nodes as [MeshCache<string>]
    a.set('k', 'v')
    let seed = 42
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    a.audit({ sample: 0.1, source: () => 'v', maxPerSecond: 1e9, random })
    for (let i = 0; i < 10_000; i++) a.get('k')
    await settle()
    const reads = a.auditStats()?.reads ?? 0
    assert.ok(reads > 850 && reads < 1150, `about 1000 audited, got ${reads}`)
  } finally {
    await c.close()
  }
})

test('bad audit options are refused with E_INVALID_OPTION and install nothing; a failing source counts an error', async () => {
  const c = await cluster<string>(1)
  try {
    const [a] = c.nodes as [MeshCache<string>]
    const bad: unknown[] = [
      undefined, { sample: 2, source: () => 1 }, { sample: -0.1, source: () => 1 }, { sample: 0.5 }, { sample: 0.5, source: () => 1, maxPerSecond: 0 },
      { sample: 0.5, source: () => 1, grace: -1 }, { sample: 0.5, source: () => 1, equals: 'yes' }, { sample: Number.NaN, source: () => 1 },
    ]
    for (const options of bad) {
      try {
        a.audit(options as never)
        assert.unreachable(`accepted ${JSON.stringify(options)}`)
      } catch (error) {
        assert.instance(error, MeshCacheError)
        assert.is((error as MeshCacheError).code, ErrorCode.INVALID_OPTION)
      }
      assert.is(a.auditStats(), undefined, 'nothing installed')
    }
    a.set('k', 'v')
    a.audit({ sample: 1, source: () => { throw new Error('db down') } })
    try {
      a.audit({ sample: 1, source: () => 'v' })
      assert.unreachable('two audits at once')
    } catch (error) {
      assert.is((error as MeshCacheError).code, ErrorCode.INVALID_OPTION)
    }
    a.get('k')
    await settle()
    assert.equal(a.auditStats(), { reads: 0, stale: 0, raced: 0, skipped: 0, errors: 1 })
  } finally {
    await c.close()
  }
})

test.run()
