/**
 * createPostgresSource against a real PostgreSQL (test/helpers/postgres.ts), one cache in this process:
 * typed errors at start, REPLICA IDENTITY warnings, mappings that fail, transactions applied whole,
 * the slot released by close(). The mesh behaviour (3 processes, failover) is in postgres-mesh.test.ts.
 */
import type { EventEmitter } from 'node:events'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import pg from 'pg'
import { createMeshCache, ErrorCode, type MeshCache, type Transport } from '../../lib/index.ts'
import { decodeFrame, MessageType } from '../../protocol/index.ts'
import { captureTransport } from '../helpers/capture-transport.ts'
import { createMemoryNetwork } from '../../lib/testing/index.ts'
import { createPostgresSource, type MappingErrorEvent, type PostgresSource, type SourceWarning } from '../../lib/sources/postgres.ts'
import { startPostgres, type PgCluster } from '../helpers/postgres.ts'
import { rejectsCode } from '../helpers/assert-code.ts'

let db: PgCluster
const GUARD_MS = 15_000

async function cache (transport: Transport = createMemoryNetwork({ auto: true }).transport('a')): Promise<MeshCache<string>> {
  return await createMeshCache<string>({ namespace: 'cdc', transport })
}

const WATCHED = ['evict', 'change', 'reading', 'slotLost', 'mappingError']

/** Resolves when `check()` holds, re-checking on every event of the cache and the source; rejects after GUARD_MS. */
function until (emitters: Array<MeshCache<string> | PostgresSource>, check: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // A listener runs before the emitter's own work is done (a change event precedes the batch count): look after it.
    const poll = (): void => { setImmediate(() => { if (check()) { done(); resolve() } }) }
    const timer = setTimeout(() => { done(); reject(new Error(`timed out waiting for ${what}`)) }, GUARD_MS)
    // Some conditions change with no event (a stats counter): re-checked every 20 ms too.
    const ticker = setInterval(poll, 20)
    // As plain emitters: MeshCache's event methods are typed by its own event map, the source's are not.
    const plain = emitters as EventEmitter[]
    const done = (): void => { clearTimeout(timer); clearInterval(ticker); for (const e of plain) for (const n of WATCHED) e.off(n, poll) }
    for (const e of plain) for (const n of WATCHED) e.on(n, poll)
    poll()
  })
}

function once<T> (source: PostgresSource, event: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} event`)), GUARD_MS)
    source.once(event, (e: T) => { clearTimeout(timer); resolve(e) })
  })
}

test.before(async () => {
  db = await startPostgres({ settings: { wal_level: 'replica' } })
})

test.after(async () => {
  await db?.stop()
})

test('wal_level not logical: E_SOURCE_CONFIG naming wal_level', async () => {
  const c = await cache()
  try {
    await rejectsCode(createPostgresSource(c, { connection: db.url, slot: 's', publication: 'p', tables: { users: (r) => `u:${String(r.id)}` } }),
      ErrorCode.SOURCE_CONFIG, /wal_level is replica/)
  } finally {
    await c.close()
  }
  await db.restart({ wal_level: 'logical' })
  await db.psql(`CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, team text);
    CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL);
    ALTER TABLE orders REPLICA IDENTITY FULL;
    CREATE ROLE app LOGIN REPLICATION PASSWORD 'right';
    CREATE ROLE plain LOGIN PASSWORD 'right';
    SELECT pg_create_logical_replication_slot('other_plugin', 'test_decoding');`)
})

test('connection refused, wrong password, no REPLICATION, missing table, a slot of another plugin, bad options: typed errors', async () => {
  const c = await cache()
  const tables = { users: (r: any) => `u:${String(r.id)}` }
  try {
    await rejectsCode(createPostgresSource(c, { connection: 'postgres://postgres@127.0.0.1:1/postgres', slot: 's', publication: 'p', tables }),
      ErrorCode.SOURCE_CONNECT, /ECONNREFUSED/)
    await rejectsCode(createPostgresSource(c, { connection: `postgres://app:wrong@127.0.0.1:${db.port}/postgres`, slot: 's', publication: 'p', tables }),
      ErrorCode.SOURCE_AUTH, /password authentication failed/)
    await rejectsCode(createPostgresSource(c, { connection: db.url, slot: 's', publication: 'p', tables: { 'public.nope': () => 'x' } }),
      ErrorCode.SOURCE_TABLE, /public\.nope does not exist/)
    await rejectsCode(createPostgresSource(c, { connection: `postgres://plain:right@127.0.0.1:${db.port}/postgres`, slot: 's', publication: 'p', tables }),
      ErrorCode.SOURCE_PRIVILEGE, /no REPLICATION attribute/)
    await rejectsCode(createPostgresSource(c, { connection: `postgres://app:right@127.0.0.1:${db.port}/postgres`, slot: 's', publication: 'p', tables }),
      ErrorCode.SOURCE_PRIVILEGE, /creating publication p: the role lacks a privilege \(42501\): permission denied/)
    await rejectsCode(createPostgresSource(c, { connection: db.url, slot: 'other_plugin', publication: 'p', tables }),
      ErrorCode.SOURCE_CONFIG, /plugin test_decoding/)
    await rejectsCode(createPostgresSource(c, { connection: db.url, slot: 's', publication: 'p', tables, tags: { orders: () => 't' } }),
      ErrorCode.INVALID_OPTION, /tags\['orders'\]/)
    await rejectsCode(createPostgresSource(c, { connection: db.url, slot: 'Bad-Name', publication: 'p', tables }), ErrorCode.INVALID_OPTION, /slot/)
    await rejectsCode(createPostgresSource(c, { connection: db.url, slot: 's', publication: 'p', tables: {} }), ErrorCode.INVALID_OPTION, /tables/)
    assert.is(await db.psql("SELECT string_agg(slot_name, ',') FROM pg_replication_slots"), 'other_plugin', 'no slot was created')
    assert.is(await db.psql("SELECT count(*) FROM pg_publication"), '0', 'no publication was created')
  } finally {
    await c.close()
  }
})

test('start: publication and slot created; a mapping reading columns REPLICA IDENTITY DEFAULT lacks is warned about', async () => {
  const c = await cache()
  const warnings: SourceWarning[] = []
  const source = await createPostgresSource(c, {
    connection: db.url, slot: 'start_slot', publication: 'start_pub',
    tables: { users: (r) => [`user:${String(r.id)}`, `email:${String(r.email)}`], 'public.orders': (r) => `order:${String(r.id)}` },
    onWarning: (w) => warnings.push(w),
  })
  try {
    assert.is(await db.psql("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables WHERE pubname = 'start_pub'"), 'orders,users')
    assert.is(await db.psql("SELECT plugin FROM pg_replication_slots WHERE slot_name = 'start_slot'"), 'pgoutput')
    assert.is(warnings.length, 1, JSON.stringify(warnings))
    assert.is(warnings[0]?.table, 'public.users')
    assert.match(warnings[0]?.message ?? '', /REPLICA IDENTITY DEFAULT gives only \(id\).*reads email.*REPLICA IDENTITY FULL/)
  } finally {
    await source.close()
    await c.close()
  }
  await db.psql("SELECT pg_drop_replication_slot('start_slot')")
})

test('the source logs through the cache\'s logger: its election and taking the slot, and a warning without onWarning', async () => {
  const lines: Array<{ level: string, msg: string }> = []
  const at = (level: string) => (obj?: object | string, msg?: string) => { lines.push({ level, msg: typeof obj === 'string' ? obj : msg ?? '' }) }
  const logger = { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
  const c = await createMeshCache<string>({ namespace: 'cdc', transport: createMemoryNetwork({ auto: true }).transport('a'), logger })
  const source = await createPostgresSource(c, {
    connection: db.url, slot: 'log_slot', publication: 'log_pub',
    tables: { users: (r) => [`user:${String(r.id)}`, `email:${String(r.email)}`] },
  })
  try {
    await until([c, source], () => lines.some((l) => l.msg.startsWith('CDC: reading the slot')), 'the reader to log that it reads the slot')
    assert.ok(lines.some((l) => l.level === 'info' && l.msg === 'CDC: elected to read the slot'), JSON.stringify(lines))
    assert.ok(lines.some((l) => l.level === 'warn' && /REPLICA IDENTITY/.test(l.msg)), 'the identity warning reaches the logger when no onWarning is given')
  } finally {
    await source.close()
    await c.close()
  }
  await db.psql("SELECT pg_drop_replication_slot('log_slot')")
})

test('a transaction is applied whole at COMMIT, in one frame; a failing mapping is reported and the rest applied', async () => {
  const capture = captureTransport([])
  const c = await cache(capture.transport)
  const source = await createPostgresSource(c, {
    connection: db.url, slot: 'tx_slot', publication: 'tx_pub',
    tables: {
      users: (r, old) => {
        if (r.email === 'boom') throw new Error('mapping bug')
        if (r.email === 'number') return 42 as any
        return [`user:${String(r.id)}`, `email:${String(r.email)}`, ...(old?.email !== undefined ? [`email:${String(old.email)}`] : [])]
      },
      orders: (r) => `order:${String(r.id)}`,
    },
    tags: { orders: (r) => `user-orders:${String(r.user_id)}` },
  })
  const errors: MappingErrorEvent[] = []
  source.on('mappingError', (e: MappingErrorEvent) => errors.push(e))
  try {
    await db.psql("ALTER TABLE users REPLICA IDENTITY FULL; INSERT INTO users VALUES (1, 'a@x', 't'), (2, 'b@x', 't'), (3, 'c@x', 't')")
    await until([c, source], () => source.stats().batches >= 1, 'the insert to be read')
    for (const k of ['user:1', 'user:2', 'user:3', 'user:4', 'email:a@x', 'email:old@x', 'order:7', 'order:8']) c.set(k, 'cached')
    c.set('list', 'cached', { tags: ['user-orders:1'] })
    await new Promise((resolve) => setImmediate(resolve))
    const sent = capture.sent.length
    await db.psql(`BEGIN;
      INSERT INTO users VALUES (4, 'boom', 't');
      UPDATE users SET email = 'a2@x' WHERE id = 1;
      INSERT INTO orders VALUES (7, 1), (8, 1);
      UPDATE users SET email = 'number' WHERE id = 3;
      COMMIT;`)
    await until([c, source], () => c.get('order:8') === undefined, 'the transaction to be applied')
    assert.is(c.get('user:1'), undefined)
    assert.is(c.get('email:a@x'), undefined, 'the old email key, from the FULL old row')
    assert.is(c.get('order:7'), undefined)
    assert.is(c.get('list'), undefined, 'the tag mapping')
    assert.is(c.get('user:4'), 'cached', 'the row whose mapping threw invalidated nothing')
    assert.is(c.get('user:3'), undefined, "a mapping that returned a number for the new row: the old row's keys still go")
    assert.is(c.get('user:2'), 'cached', 'a row the transaction did not touch')
    assert.is(c.get('email:old@x'), 'cached', 'untouched keys stay')
    assert.is(errors.length, 2, JSON.stringify(errors))
    assert.equal(errors.map((e) => [e.table, e.key]), [['public.users', { id: 4 }], ['public.users', { id: 3 }]])
    assert.match(String(errors[0]?.error), /mapping bug/)
    assert.match(String(errors[1]?.error), /returned number/)
    await new Promise((resolve) => setImmediate(resolve))
    const updates = capture.sent.slice(sent).map((f) => decodeFrame(f.frame)).filter((m) => m.type === MessageType.UPDATES)
    assert.equal(updates.map((m) => m.type === MessageType.UPDATES ? m.records.map((r) => r.key).sort() : []),
      [['\u0000tag:user-orders:1', 'email:a2@x', 'email:a@x', 'email:c@x', 'list', 'order:7', 'order:8', 'user:1', 'user:3']],
      "one frame for the whole transaction, the tag's dependent included")
    // A DELETE under REPLICA IDENTITY FULL: the old row's non-key columns map too.
    const batches = source.stats().batches
    await db.psql("INSERT INTO users VALUES (5, 'e@x', 't')")
    await until([c, source], () => source.stats().batches > batches, 'the insert')
    c.set('email:e@x', 'cached')
    await db.psql('DELETE FROM users WHERE id = 5')
    await until([c, source], () => c.get('email:e@x') === undefined, "the deleted row's email key")
    const s = source.stats()
    assert.ok(s.reading)
    assert.is(s.mappingErrors, 2)
    assert.ok(s.commitToInvalidation.count >= 2)
  } finally {
    await source.close()
    await c.close()
  }
  assert.is(await db.psql("SELECT active FROM pg_replication_slots WHERE slot_name = 'tx_slot'"), 'f', 'close() released the slot')
})

test('cache.close() releases the slot connection; the slot resumes from the last acknowledged transaction', async () => {
  const c = await cache()
  const source = await createPostgresSource(c, { connection: db.url, slot: 'tx_slot', publication: 'tx_pub', tables: { users: (r) => `user:${String(r.id)}` } })
  try {
    await until([c, source], () => source.reading, 'reading')
    assert.is(await db.psql("SELECT active FROM pg_replication_slots WHERE slot_name = 'tx_slot'"), 't')
  } finally {
    await c.close()
  }
  assert.is(await db.psql("SELECT active FROM pg_replication_slots WHERE slot_name = 'tx_slot'"), 'f')
  // Committed while nobody reads: the next reader gets it from the slot.
  await db.psql("UPDATE users SET team = 'u' WHERE id = 1")
  const d = await cache()
  d.set('user:1', 'cached')
  const next = await createPostgresSource(d, { connection: db.url, slot: 'tx_slot', publication: 'tx_pub', tables: { users: (r) => `user:${String(r.id)}` } })
  try {
    await until([d, next], () => d.get('user:1') === undefined, 'the change made while closed')
  } finally {
    await next.close()
    await d.close()
  }
})

test('a transaction is acknowledged only after its invalidations, ackDelayMs later: a stream cut before that replays it', async () => {
  const c = await cache()
  let before = ''
  const source = await createPostgresSource(c, {
    connection: db.url, slot: 'ack_slot', publication: 'tx_pub', tables: { users: (r) => `user:${String(r.id)}` }, ackDelayMs: 60_000,
  })
  try {
    await until([c, source], () => source.reading, 'reading')
    c.set('user:2', 'cached')
    // The WAL position right after the commit: the slot must not be confirmed up to it while the ack waits.
    const after = await db.psql("UPDATE users SET team = 'ack' WHERE id = 2; SELECT pg_current_wal_lsn()")
    await until([c, source], () => c.get('user:2') === undefined, 'the invalidation')
    before = await db.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'ack_slot'")
    assert.is(await db.psql(`SELECT confirmed_flush_lsn < '${after}'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'ack_slot'`), 't', 'not acknowledged yet')
    // The stream dies (as with a crash of the reader): the slot replays the transaction, which invalidates again.
    c.set('user:2', 'reloaded')
    await db.psql("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'ack_slot'")
    await until([c, source], () => c.get('user:2') === undefined && source.stats().disconnects >= 1, 'the replay')
  } finally {
    await source.close()
    await c.close()
  }
  assert.not.equal(await db.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'ack_slot'"), before,
    'a graceful close acknowledges what was handed to the mesh')
  await db.psql("SELECT pg_drop_replication_slot('ack_slot')")
})

test('a reader cut off from every live member holds its acknowledgements until one is back', async () => {
  const net = createMemoryNetwork({ auto: true })
  const a = await cache(net.transport('a'))
  const b = await cache(net.transport('b'))
  const source = await createPostgresSource(a, {
    connection: db.url, slot: 'iso_slot', publication: 'tx_pub', tables: { users: (r) => `user:${String(r.id)}` }, ackDelayMs: 10, statusIntervalMs: 20,
  })
  try {
    await until([a, source], () => source.reading && a.peers().length === 1 && a.connectedPeers().length === 1, 'a reading, b a member')
    net.partition(['a'], ['b'])
    await until([a, source], () => a.connectedPeers().length === 0, 'the partition')
    a.set('user:2', 'cached')
    const after = await db.psql("UPDATE users SET team = 'iso' WHERE id = 2; SELECT pg_current_wal_lsn()")
    await until([a, source], () => a.get('user:2') === undefined, 'the invalidation on the reader')
    // Real time: the claim is that nothing is acknowledged for a while; 300 ms is 30 ack delays.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const confirmedBefore = (): Promise<string> => db.psql(`SELECT confirmed_flush_lsn < '${after}'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'iso_slot'`)
    assert.is(await confirmedBefore(), 't', 'not acknowledged while no member is reachable')
    net.heal()
    await until([a, b, source], () => b.inspect('user:2')?.kind === 'invalidate', 'b to get the invalidation (anti-entropy)')
    const deadline = Date.now() + GUARD_MS
    while (await confirmedBefore() === 't') { // acknowledged once b is back
      if (Date.now() > deadline) assert.unreachable('not acknowledged after the heal')
    }
  } finally {
    await source.close()
    await a.close()
    await b.close()
  }
  await db.psql("SELECT pg_drop_replication_slot('iso_slot')")
})

test('lag: the slot falling behind by lagWarningBytes emits a lag warning; stats give bytes and commit→invalidation time', async () => {
  const c = await cache()
  const warnings: SourceWarning[] = []
  // Nothing is acknowledged for 2 s, so the slot is behind by the transaction's WAL when the status check runs.
  const source = await createPostgresSource(c, {
    connection: db.url, slot: 'lag_slot', publication: 'tx_pub', tables: { users: (r) => `user:${String(r.id)}` },
    lagWarningBytes: 1, statusIntervalMs: 20, ackDelayMs: 2_000, onWarning: (w) => warnings.push(w),
  })
  try {
    await until([c, source], () => source.reading, 'reading')
    const warned = once<SourceWarning>(source, 'warning')
    await db.psql("UPDATE users SET team = 'lag' WHERE id = 1")
    const w = await warned
    assert.is(w.code, 'lag')
    assert.match(w.message, /slot lag_slot is \d+ bytes of WAL behind/)
    await until([c, source], () => source.stats().commitToInvalidation.count >= 1, 'the update to be applied')
    const s = source.stats()
    assert.ok(s.lagBytes >= 0 && s.lastLagMs >= 0)
    assert.ok(warnings.some((x) => x.code === 'lag'), 'onWarning got it too')
  } finally {
    await source.close()
    await c.close()
  }
  await db.psql("SELECT pg_drop_replication_slot('lag_slot')")
})

test('an idle slot follows the server: WAL of unmapped tables is acknowledged, so the slot holds none back', async () => {
  const c = await cache()
  const source = await createPostgresSource(c, {
    connection: db.url, slot: 'idle_slot', publication: 'tx_pub', tables: { users: (r) => `user:${String(r.id)}` }, statusIntervalMs: 20,
  })
  const behind = async (): Promise<number> => Number(await db.psql("SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'idle_slot'"))
  try {
    await until([c, source], () => source.reading, 'reading')
    await db.psql("CREATE TABLE unmapped AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 5000) g")
    // ~1.3 MB of WAL the slot would hold back were only transactions of mapped tables acknowledged.
    const deadline = Date.now() + GUARD_MS
    while (await behind() > 1_000_000) if (Date.now() > deadline) assert.unreachable('the idle slot never caught up')
  } finally {
    await source.close()
    await c.close()
  }
  await db.psql("SELECT pg_drop_replication_slot('idle_slot'); DROP TABLE unmapped")
})

test('lag in time: a transaction invalidated lagWarningMs after its commit emits a lag warning', async () => {
  // Committed before any reader runs: it is read (and invalidated) at least the source's start-up later.
  await db.psql("SELECT pg_create_logical_replication_slot('late_slot', 'pgoutput'); UPDATE users SET team = 'late' WHERE id = 1")
  const c = await cache()
  const warnings: SourceWarning[] = []
  const source = await createPostgresSource(c, {
    connection: db.url, slot: 'late_slot', publication: 'tx_pub', tables: { users: (r) => `user:${String(r.id)}` }, lagWarningMs: 1,
    onWarning: (w) => warnings.push(w),
  })
  try {
    await until([c, source], () => warnings.some((w) => w.code === 'lag'), 'the lag warning')
    assert.match(warnings.find((w) => w.code === 'lag')?.message ?? '', /the last transaction was invalidated \d+ ms after its commit/)
    assert.ok(source.stats().lastLagMs > 1)
  } finally {
    await source.close()
    await c.close()
  }
  await db.psql("SELECT pg_drop_replication_slot('late_slot')")
})

test('TRUNCATE of a mapped table, and a transaction past maxKeysPerTransaction, clear the namespace once', async () => {
  const c = await cache()
  let clears = 0
  // The source's side of clear: a host whose clear() is counted (the cache's own clear() is the core's).
  const host = {
    origin: c.origin,
    invalidate: (k: string) => c.invalidate(k),
    invalidateTag: (t: string) => { c.invalidateTag(t) },
    clear: () => { clears++ },
    advertise: () => {},
    peers: () => c.peers(),
    connectedPeers: () => c.connectedPeers(),
    onClose: (h: () => Promise<void>) => c.onClose(h),
  }
  await db.psql('CREATE TABLE scratch (id int PRIMARY KEY); INSERT INTO scratch SELECT generate_series(1, 10)')
  const source = await createPostgresSource(host, {
    connection: db.url, slot: 'clear_slot', publication: 'clear_pub', tables: { scratch: (r) => `s:${String(r.id)}` }, maxKeysPerTransaction: 5,
  })
  try {
    await until([c, source], () => source.reading, 'reading')
    await db.psql('UPDATE scratch SET id = id + 100 WHERE id <= 6') // 12 keys (old and new ids) > 5
    await until([c, source], () => clears === 1, 'the clear of the large transaction')
    await db.psql('TRUNCATE scratch')
    await until([c, source], () => clears === 2, 'the clear of the truncate')
    await db.psql('INSERT INTO scratch VALUES (1)')
    await until([c, source], () => source.stats().batches >= 3, 'the insert')
    assert.is(clears, 2)
  } finally {
    await source.close()
    await c.close()
  }
})

test.run()
