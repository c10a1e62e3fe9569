/**
 * CDC over a partial mesh, with a real PostgreSQL: the reader is killed (SIGKILL) and the instance next in
 * line is not its neighbour, so nothing it holds drops when the reader dies; the dead reader's state still
 * reaches it through a live neighbour, and membership keeps it until stale (30 s). The candidates' beat
 * (SPEC §13.3) counts the reader out after three missed beats: the next in line takes the slot within
 * seconds, and what was committed meanwhile is evicted on every instance left. Before the beat it waited
 * for the state to go stale (30.1 s on the memory network, test/sources/reader-election.test.ts).
 *
 * Four processes, `maxPeers` 2 (four members make it a partial mesh), a0 the first reader; b1, lowest of
 * the rest by origin, blocks a0, so it hears of a0 only through c2 or d3.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startPostgres, type PgCluster } from '../helpers/postgres.ts'
import { freePort } from '../helpers/ports.ts'
import { firstReader, keys, reader, startCdcNode, type CdcNode } from './cdc-procs.ts'

let db: PgCluster
const nodes: CdcNode[] = []

test.before(async () => {
  db = await startPostgres()
  await db.psql('CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL); INSERT INTO items SELECT g, 0 FROM generate_series(1, 100) g;')
})

test.after(async () => {
  for (const n of nodes) n.kill()
  await db?.stop()
})

test('a partial mesh: the reader killed, the next in line (no neighbour of it) takes the slot in seconds; nothing committed is lost', async () => {
  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()])
  const o = { dbUrl: db.url, maxPeers: 2 }
  const a = await startCdcNode('a0', ports[0] as number, [], o)
  nodes.push(a)
  await firstReader([a])
  const aId = (await a.ask('peer-id')).value as string
  // c2 and d3 bootstrap from a0; b1 from c2 and d3, and never links with a0.
  const [c, d] = await Promise.all([startCdcNode('c2', ports[2] as number, [ports[0] as number], o), startCdcNode('d3', ports[3] as number, [ports[0] as number], o)])
  const b = await startCdcNode('b1', ports[1] as number, [ports[2] as number, ports[3] as number], { ...o, block: [aId] })
  nodes.push(b, c as CdcNode, d as CdcNode)
  const others = [b, c, d] as CdcNode[]
  // Every instance lists every other as reachable (b1 hears of a0 through c2 or d3).
  const deadline = Date.now() + 30_000
  while (!(await Promise.all(nodes.map((n) => n.ask('members')))).every((r) => (r.value as string[]).length === 3)) {
    if (Date.now() > deadline) assert.unreachable('membership did not spread in 30 s')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  assert.is((await reader(nodes))?.name, 'a0')
  assert.is(((await b.ask('stats')).value as { peers: number }).peers, 2, 'b1 holds two links, neither to a0')

  const ks = keys(1, 51)
  await Promise.all(others.map((n) => n.ask('load', { keys: ks })))
  const killedAt = Number(process.hrtime.bigint()) / 1e6
  a.kill()
  await db.psql(Array.from({ length: 50 }, (_, i) => `UPDATE items SET v = 1 WHERE id = ${i + 1};`).join('\n'))
  const next = await firstReader(others, killedAt, 20_000)
  const after = next.at - killedAt
  console.log(`  ${next.node.name} took the slot over ${after.toFixed(0)} ms after the reader was killed`)
  assert.is(next.node.name, 'b1', 'the lowest origin left')
  assert.ok(after < 10_000, `took ${after.toFixed(0)} ms: the beat bounds it at a few seconds, not membership's 30 s`)
  await Promise.all(others.map((n) => n.ask('await-missing', { keys: ks })))
})

test.run()
