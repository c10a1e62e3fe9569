/**
 * `npm run bench:cdc`: commit → evicted on every instance, meshcache's PostgreSQL source against the
 * hand-made alternative (a trigger calling pg_notify, LISTEN on each instance), side by side on the same
 * commits; what each loses while one instance is cut off for 2 s; and the sustained transaction rate
 * before the source's lag grows without bound. See bench/README.md.
 *
 *   node bench/cdc/run.ts [--rates 100,1000] [--seconds 5] [--failovers 3] [--ramp 1000,2000,4000,8000] [--ramp-seconds 4]
 *     [--json out.json]
 *
 * Three instances (test/sources/fixtures/cdc-node.ts: a meshcache over libp2p, the source, and a LISTEN
 * connection), one PostgreSQL (test/helpers/postgres.ts), and a writer here issuing one-statement
 * transactions `UPDATE items SET v = v + 1 WHERE id = $1` at a fixed rate over 8 connections. A
 * transaction's time is taken when its statement is sent; an instance's when the key's invalidation is
 * applied there (the `change` event) or the notification arrives. Both clocks are CLOCK_MONOTONIC.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import pg from 'pg'
import { startPostgres, type PgCluster } from '../../test/helpers/postgres.ts'
import { firstReader, reader, startCdcMesh, startCdcNode, type CdcNode } from '../../test/sources/cdc-procs.ts'
import { summarize, table } from '../mesh/stats.ts'
import { parseCli } from '../../test/helpers/cli.ts'

const USAGE = `usage: npm run bench:cdc -- [--rates 100,1000] [--seconds 5] [--ramp 1000,2000,4000,8000] [--ramp-seconds 4]
  [--failovers 3] [--json out.json]`
const values = parseCli(USAGE, {
  rates: { type: 'string', default: '100,1000' },
  seconds: { type: 'string', default: '5' },
  ramp: { type: 'string', default: '1000,2000,4000,8000' },
  'ramp-seconds': { type: 'string', default: '4' },
  failovers: { type: 'string', default: '3' },
  json: { type: 'string' },
})
const failovers = Number(values.failovers)
const rates = values.rates.split(',').map(Number)
const seconds = Number(values.seconds)
const ramp = values.ramp.split(',').filter(Boolean).map(Number)
const rampSeconds = Number(values['ramp-seconds'])
const ROWS = 200_000
const WRITERS = 8
const now = (): number => Number(process.hrtime.bigint()) / 1e6

let db: PgCluster | undefined
let nodes: CdcNode[] = []
const writers: pg.Client[] = []
let nextId = 1

async function cleanup (): Promise<void> {
  for (const n of nodes) n.kill()
  await Promise.all(writers.map((w) => w.end().catch(() => {})))
  await db?.stop()
}
process.on('SIGINT', () => { void cleanup().then(() => process.exit(130)) })

/**
 * Commits `count` one-row transactions at `rate`/s on fresh rows; returns each key's send time. Each
 * connection sends its share on schedule and waits for each answer, so a send time is when the
 * statement left (never time spent queued in the client); a writer that falls behind shows as a
 * committed rate below the target.
 */
async function write (rate: number, count: number, during?: (elapsedMs: number) => void): Promise<Map<string, number>> {
  const sent = new Map<string, number>()
  const start = now()
  const base = nextId
  nextId += count
  await Promise.all(writers.map(async (w, wi) => {
    for (let i = wi; i < count; i += WRITERS) {
      const wait = start + (i * 1000) / rate - now()
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait))
      const id = base + i
      sent.set(`item:${id}`, now())
      during?.(now() - start)
      await w.query('UPDATE items SET v = v + 1 WHERE id = $1', [id])
    }
  }))
  return sent
}

interface Arrivals { changed: Map<string, number>, notified: Map<string, number> }

/** Collects every instance's arrival times until each sent key arrived everywhere, or `graceMs` passed. */
async function collect (sent: Map<string, number>, graceMs: number): Promise<Arrivals[]> {
  const per: Arrivals[] = nodes.map(() => ({ changed: new Map(), notified: new Map() }))
  const deadline = now() + graceMs
  for (;;) {
    const replies = await Promise.all(nodes.map((n) => n.ask('timings')))
    replies.forEach((r, i) => {
      const v = r.value as { changed: Array<[string, number]>, notified: Array<[string, number]> }
      const a = per[i] as Arrivals
      for (const [k, at] of v.changed) if (sent.has(k) && !a.changed.has(k)) a.changed.set(k, at)
      for (const [k, at] of v.notified) if (sent.has(k) && !a.notified.has(k)) a.notified.set(k, at)
    })
    const done = per.every((a) => a.changed.size === sent.size && a.notified.size === sent.size)
    if (done || now() > deadline) return per
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Commit → arrived on every instance, per key (keys missing somewhere are left out and counted). */
function everywhere (sent: Map<string, number>, per: Arrivals[], which: 'changed' | 'notified'): { lat: Float64Array, lost: number[] } {
  const lat: number[] = []
  for (const [k, t0] of sent) {
    let last = -Infinity
    for (const a of per) last = Math.max(last, a[which].get(k) ?? Infinity)
    if (Number.isFinite(last)) lat.push(last - t0)
  }
  return { lat: Float64Array.from(lat), lost: per.map((a) => sent.size - a[which].size) }
}

const ms = (v: number): string => Number.isFinite(v) ? v.toFixed(2) : '-'

try {
  db = await startPostgres()
  await db.psql(`CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL);
    INSERT INTO items SELECT g, 0 FROM generate_series(1, ${ROWS}) g;
    CREATE FUNCTION items_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_notify('items', COALESCE(NEW.id, OLD.id)::text); RETURN NULL; END $$;
    CREATE TRIGGER items_notify AFTER INSERT OR UPDATE OR DELETE ON items FOR EACH ROW EXECUTE FUNCTION items_notify();`)
  for (let i = 0; i < WRITERS; i++) {
    const w = new pg.Client({ connectionString: db.url })
    await w.connect()
    writers.push(w)
  }
  nodes = await startCdcMesh(3, { dbUrl: db.url, listen: true })
  await firstReader(nodes)
  // Warm-up: connections, JIT, the slot's first decoding.
  await collect(await write(200, 200), 10_000)

  const results: Record<string, unknown> = { host: { cpus: os.cpus().length, model: os.cpus()[0]?.model }, latency: [] as unknown[] }
  const rows: string[][] = []
  for (const rate of rates) {
    const sent = await write(rate, Math.round(rate * seconds))
    const per = await collect(sent, 15_000)
    const m = everywhere(sent, per, 'changed')
    const n = everywhere(sent, per, 'notified')
    const sm = summarize(m.lat)
    const sn = summarize(n.lat)
    rows.push([`${rate}`, 'meshcache (pg source)', String(sm.samples), ms(sm.p50), ms(sm.p99), m.lost.join('/'), `${(sm.p50 / sn.p50).toFixed(2)}x`])
    rows.push([`${rate}`, 'trigger+pg_notify+LISTEN', String(sn.samples), ms(sn.p50), ms(sn.p99), n.lost.join('/'), '1.00x'])
    ;(results.latency as unknown[]).push({ rate, meshcache: sm, notify: sn })
  }
  process.stdout.write('\ncommit → evicted on all 3 instances (ms; same commits for both rows)\n')
  process.stdout.write(table(['tx/s', 'system', 'samples', 'p50', 'p99', 'lost per instance', 'p50 vs LISTEN'], rows) + '\n')

  // One instance (the reader) loses its database connections for 2 s in the middle of a 6 s run at 100 tx/s.
  const victim = (await reader(nodes)) ?? nodes[0] as CdcNode
  const vi = nodes.indexOf(victim)
  let cut = false
  const sent = await write(100, 600, (elapsed) => {
    if (!cut && elapsed > 2000) {
      cut = true
      void victim.ask('listen-drop', { ms: 2000 })
      void victim.ask('source-close').then(() => setTimeout(() => { void victim.ask('source-open') }, 2000))
    }
  })
  const per = await collect(sent, 15_000)
  const lostM = everywhere(sent, per, 'changed').lost
  const lostN = everywhere(sent, per, 'notified').lost
  process.stdout.write(`\ninstance ${victim.name} cut off from PostgreSQL for 2 s during 600 transactions at 100 tx/s\n`)
  process.stdout.write(table(['system', 'missed on the cut-off instance', 'missed per instance'], [
    ['meshcache (pg source)', String(lostM[vi]), lostM.join('/')],
    ['trigger+pg_notify+LISTEN', String(lostN[vi]), lostN.join('/')],
  ]) + '\n')
  results.disconnect = { meshcacheLost: lostM, notifyLost: lostN, victim: vi }

  // Failover: kill -9 of the reader 1 s into 3 s at 100 tx/s; kill → a survivor streams the slot, and what
  // the survivors never invalidated. A fresh instance then takes the dead one's place.
  const foRows: string[][] = []
  const takeovers: number[] = []
  for (let f = 0; f < failovers; f++) {
    const victim = (await reader(nodes)) ?? nodes[0] as CdcNode
    const survivors = nodes.filter((n) => n !== victim)
    let killedAt = 0
    const s = await write(100, 300, (elapsed) => {
      if (killedAt === 0 && elapsed > 1000) {
        killedAt = now()
        victim.kill()
      }
    })
    const took = await firstReader(survivors, killedAt)
    nodes = survivors
    const p = await collect(s, 15_000)
    const lost = everywhere(s, p, 'changed').lost
    takeovers.push(took.at - killedAt)
    foRows.push([String(f + 1), victim.name, took.node.name, ms(took.at - killedAt), lost.join('/')])
    const fresh = await startCdcNode(`${victim.name}r`, victim.port, [survivors[0]?.port as number], { dbUrl: db.url, listen: true })
    nodes = [...survivors, fresh]
    await Promise.all(nodes.map((n) => n.ask('await-peers', { count: 2 })))
  }
  if (failovers > 0) {
    process.stdout.write('\nkill -9 of the reader during 100 tx/s: kill → a survivor streams the slot\n')
    process.stdout.write(table(['run', 'killed', 'took over', 'ms', 'lost on survivors'], foRows) + '\n')
  }
  results.failover = takeovers

  // Throughput: without the trigger (the baseline is not measured here), each rate for rampSeconds; the
  // lag of the last second against the first says whether the source keeps up.
  await db.psql('DROP TRIGGER items_notify ON items')
  const rampRows: string[][] = []
  for (const rate of ramp) {
    const t0 = now()
    const s = await write(rate, Math.round(rate * rampSeconds))
    const achieved = s.size / ((now() - t0) / 1000)
    // Read as the writer stops (the reader refreshes it every second), before the backlog drains.
    const stats = ((await ((await reader(nodes)) ?? nodes[0] as CdcNode).ask('stats')).value as { source: { lagBytes: number } }).source
    const p = await collect(s, 30_000)
    const ordered = [...s.entries()]
    const third = Math.floor(ordered.length / 3)
    const lagOf = (part: Array<[string, number]>): number => summarize(everywhere(new Map(part), p, 'changed').lat).p50
    const first = lagOf(ordered.slice(0, third))
    const last = lagOf(ordered.slice(-third))
    const lost = everywhere(s, p, 'changed').lost
    rampRows.push([String(rate), achieved.toFixed(0), ms(first), ms(last), (last / first).toFixed(1), String(stats.lagBytes), lost.join('/')])
    if (last > 1000 && last > 10 * first) break // lag grows with the run: past the sustained rate
  }
  if (rampRows.length > 0) process.stdout.write(`\nsustained rate (no trigger): commit → evicted everywhere p50 in the first and last third of ${rampSeconds} s\n`)
  if (rampRows.length > 0) process.stdout.write(table(['target tx/s', 'committed tx/s', 'p50 first', 'p50 last', 'growth', 'slot lag bytes at end', 'lost'], rampRows) + '\n')
  results.ramp = rampRows
  process.stdout.write(`\n(${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''}; 3 instances, PostgreSQL and the writer on this host)\n`)
  if (values.json !== undefined) {
    await mkdir('.bench-out', { recursive: true })
    await writeFile(values.json, JSON.stringify(results, null, 2))
  }
} finally {
  await cleanup()
}
