/**
 * npm run example:cdc: the database invalidates the cache by itself.
 *
 * Starts a throw-away PostgreSQL (wal_level=logical, under /tmp, removed at the end), three service
 * instances (each a meshcache over libp2p with `createPostgresSource` on the `items` table), and then
 * writes with `psql`, as another service or a migration would, never telling meshcache:
 *
 *   1. every instance reads item:1..3 (a cache load each);
 *   2. psql UPDATEs, INSERTs and DELETEs rows: every instance evicts the key, the timeline shows when;
 *   3. a 3-row transaction: every instance evicts the three keys in one go;
 *   4. the instance reading the slot is killed (kill -9) and an UPDATE follows: another instance takes
 *      the slot over and the survivors still evict.
 */
import { startPostgres } from '../test/helpers/postgres.ts'
import { firstReader, reader, startCdcMesh, type CdcNode } from '../test/sources/cdc-procs.ts'

const now = (): number => Number(process.hrtime.bigint()) / 1e6
const started = now()
const say = (text: string): void => { console.log(`[${((now() - started) / 1000).toFixed(3).padStart(7)} s] ${text}`) }

const db = await startPostgres()
let nodes: CdcNode[] = []
try {
  say(`PostgreSQL ${await db.psql('SHOW server_version')} on 127.0.0.1:${db.port}, wal_level=${await db.psql('SHOW wal_level')}`)
  await db.psql(`CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
    INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 10) g;`)
  nodes = await startCdcMesh(3, { dbUrl: db.url, events: true })
  await firstReader(nodes)
  let holder = await reader(nodes)
  say(`three instances connected; ${holder?.name} reads the slot, the others stand by`)

  /** Runs SQL with psql and prints each instance's evictions of `keys`, timed from the psql call (psql's own start-up included). */
  async function write (sql: string, keys: string[], on = nodes): Promise<void> {
    await Promise.all(on.map((n) => n.ask('load', { keys })))
    const seen = on.map((n) => n.events.length)
    const t0 = now()
    say(`psql: ${sql.replace(/\s+/g, ' ')}`)
    await db.psql(sql)
    await Promise.all(on.map((n) => n.ask('await-missing', { keys })))
    for (const [i, n] of on.entries()) {
      const evicted = n.events.slice(seen[i]).filter((e) => e.ev === 'evicted' && keys.includes(e.key))
      const times = evicted.map((e) => `${e.key} +${(e.at - t0).toFixed(1)} ms`).join(', ')
      say(`  ${n.name}${n === holder ? ' (reader)' : ''} evicted ${times}`)
    }
  }

  await write('UPDATE items SET name = \'renamed\' WHERE id = 1', ['item:1'])
  await write('INSERT INTO items VALUES (11, \'new\')', ['item:11'])
  await write('DELETE FROM items WHERE id = 3', ['item:3'])
  await write('BEGIN; UPDATE items SET name = \'a\' WHERE id = 4; UPDATE items SET name = \'b\' WHERE id = 5; DELETE FROM items WHERE id = 6; COMMIT;',
    ['item:4', 'item:5', 'item:6'])

  const victim = holder as CdcNode
  const survivors = nodes.filter((n) => n !== victim)
  victim.kill()
  const killed = now()
  say(`kill -9 ${victim.name}, the reader`)
  const takeover = await firstReader(survivors, killed)
  holder = takeover.node
  say(`${holder?.name} took the slot over ${(takeover.at - killed).toFixed(0)} ms after the kill`)
  await write('UPDATE items SET name = \'after failover\' WHERE id = 7', ['item:7'], survivors)
  say('every write reached every live instance without the writer calling meshcache')
} finally {
  for (const n of nodes) n.kill()
  await db.stop()
}
