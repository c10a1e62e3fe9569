/**
 * The reader loses PostgreSQL but not the mesh: it leaves the election after releaseAfterMs and an instance
 * that reaches the database takes the slot over; what was committed meanwhile is evicted everywhere, the
 * cut-off instance included (through the mesh). 3 processes, a real PostgreSQL, and a TCP proxy between the
 * first instance and the server that the test cuts. Real time: the release is a real-time bound.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startPostgres, type PgCluster } from '../helpers/postgres.ts'
import { freePort } from '../helpers/ports.ts'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts'
import { firstReader, keys, reader, startCdcNode, type CdcNode } from './cdc-procs.ts'

let db: PgCluster
let proxy: TcpProxy
const nodes: CdcNode[] = []

test.before(async () => {
  db = await startPostgres()
  await db.psql('CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL); INSERT INTO items SELECT g, 0 FROM generate_series(1, 100) g;')
  proxy = await startTcpProxy(db.port)
})

test.after(async () => {
  for (const n of nodes) n.kill()
  await proxy?.close()
  await db?.stop()
})

test('a reader cut off from PostgreSQL hands the slot over after releaseAfterMs; nothing committed meanwhile is lost', async () => {
  const ports = await Promise.all([freePort(), freePort(), freePort()])
  const viaProxy = `postgres://postgres@127.0.0.1:${proxy.port}/postgres`
  // n0 starts alone and takes the slot; n1 and n2 join it and stand by (a holder is not displaced).
  nodes.push(await startCdcNode('n0', ports[0] as number, [], { dbUrl: viaProxy, releaseAfterMs: 1_000 }))
  await firstReader(nodes)
  nodes.push(...await Promise.all([1, 2].map((i) => startCdcNode(`n${i}`, ports[i] as number, [ports[0] as number], { dbUrl: db.url, releaseAfterMs: 1_000 }))))
  await Promise.all(nodes.map((n) => n.ask('await-peers', { count: 2 })))
  assert.is((await reader(nodes))?.name, 'n0')
  const ks = keys(1, 51)
  await Promise.all(nodes.map((n) => n.ask('load', { keys: ks })))
  const cutAt = Number(process.hrtime.bigint()) / 1e6
  proxy.cut()
  await db.psql(Array.from({ length: 50 }, (_, i) => `UPDATE items SET v = 1 WHERE id = ${i + 1};`).join('\n'))
  const next = await firstReader(nodes.slice(1), cutAt)
  console.log(`  ${next.node.name} took the slot over ${(next.at - cutAt).toFixed(0)} ms after n0 lost the database`)
  await Promise.all(nodes.map((n) => n.ask('await-missing', { keys: ks })))
  proxy.restore()
})

test.run()
