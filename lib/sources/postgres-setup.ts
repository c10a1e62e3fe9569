/**
 * Everything the PostgreSQL source checks or prepares over an ordinary
 * connection: the server's configuration, the mapped tables and their
 * REPLICA IDENTITY, the publication and the slot, and the slot's health.
 * Each failure at start becomes a typed MeshCacheError naming its cause.
 */
import type pg from 'pg'
import { pg as pgPeer } from './pg-peers.ts'
import { ErrorCode, MeshCacheError, type ErrorCodeValue } from '../errors.ts'

export type RowMapping = (row: Record<string, unknown>, old?: Record<string, unknown>) => unknown

/** A mapped table as the catalog describes it. */
export interface TableInfo {
  /** `schema.table` as the user named it (a bare name means `public`). */
  name: string
  schema: string
  table: string
  /** d (default: primary key), f (full), i (index), n (nothing). */
  identity: 'd' | 'f' | 'i' | 'n'
  /** Columns the replica identity gives for an old row (every column for FULL). */
  identityColumns: string[]
  /** The primary key's columns (empty without one): what events name a row by. */
  primaryKey: string[]
  columns: string[]
}

/** A configuration problem worth telling the user about, though the source runs. */
export interface SourceWarning {
  code: 'replica-identity' | 'lag'
  table?: string
  message: string
}

/** Maps a pg / socket error to the typed error a caller can match on. */
export function sourceError (error: unknown, doing: string): MeshCacheError {
  if (error instanceof MeshCacheError) return error
  const e = error as { code?: string, message?: string }
  const code = e?.code
  let typed: ErrorCodeValue = ErrorCode.SOURCE_FAILED
  let why = e?.message ?? String(error)
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ETIMEDOUT' || code === 'ECONNRESET' || code === 'EAI_AGAIN') {
    typed = ErrorCode.SOURCE_CONNECT
    why = `cannot reach the database (${code}): ${why}`
  } else if (code === '28P01' || code === '28000') {
    typed = ErrorCode.SOURCE_AUTH
    why = `the database refused the credentials (${code}): ${why}`
  } else if (code === '42501') {
    typed = ErrorCode.SOURCE_PRIVILEGE
    why = `the role lacks a privilege (${code}): ${why}`
  } else if (code === '55000' && /wal_level/.test(why)) {
    typed = ErrorCode.SOURCE_CONFIG
  } else if (/timeout/i.test(why) && code === undefined) {
    typed = ErrorCode.SOURCE_CONNECT
  }
  return new MeshCacheError(typed, `postgres source: ${doing}: ${why}`, { cause: error })
}

/** Opens an ordinary (non-replication) connection, with a typed error on failure. */
export async function connect (config: pg.ClientConfig): Promise<pg.Client> {
  const client = new pgPeer.Client(config)
  client.on('error', () => {}) // a dropped idle connection surfaces on its next query instead
  try {
    await client.connect()
  } catch (error) {
    await client.end().catch(() => {})
    throw sourceError(error, `connecting to ${describe(config)}`)
  }
  return client
}

export function describe (config: pg.ClientConfig): string {
  if (config.connectionString !== undefined) return config.connectionString.replace(/:[^:@/]*@/, ':***@')
  return `${config.user ?? ''}@${config.host ?? 'localhost'}:${config.port ?? 5432}/${config.database ?? ''}`
}

/** Fails with E_SOURCE_CONFIG unless the server streams logical changes. */
export async function checkServer (client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ wal_level: string }>('SHOW wal_level')
  const level = rows[0]?.wal_level
  if (level !== 'logical') {
    throw new MeshCacheError(ErrorCode.SOURCE_CONFIG,
      `postgres source: wal_level is ${String(level)}; logical decoding needs wal_level = logical (set it in postgresql.conf and restart the server)`)
  }
  const role = await client.query<{ rolreplication: boolean, rolsuper: boolean }>('SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user')
  const r = role.rows[0]
  if (r !== undefined && !r.rolreplication && !r.rolsuper) {
    throw new MeshCacheError(ErrorCode.SOURCE_PRIVILEGE, 'postgres source: the role has no REPLICATION attribute (ALTER ROLE … REPLICATION)')
  }
}

export function splitName (name: string): [string, string] {
  const dot = name.indexOf('.')
  return dot < 0 ? ['public', name] : [name.slice(0, dot), name.slice(dot + 1)]
}

/** Looks every mapped table up; a missing one fails with E_SOURCE_TABLE naming it. */
export async function describeTables (client: pg.Client, names: string[]): Promise<TableInfo[]> {
  const out: TableInfo[] = []
  for (const name of names) {
    const [schema, table] = splitName(name)
    const { rows } = await client.query<{ oid: number, relreplident: string }>(
      `SELECT c.oid, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`, [schema, table])
    const rel = rows[0]
    if (rel === undefined) throw new MeshCacheError(ErrorCode.SOURCE_TABLE, `postgres source: table ${name} does not exist (mapped in \`tables\`)`)
    const cols = await client.query<{ attname: string }>(
      'SELECT attname FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum', [rel.oid])
    const identity = rel.relreplident as TableInfo['identity']
    const indexColumns = async (flag: 'indisprimary' | 'indisreplident'): Promise<string[]> => (await client.query<{ attname: string }>(
      `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
       WHERE i.indrelid = $1 AND i.${flag}`, [rel.oid])).rows.map((c) => c.attname)
    const primaryKey = await indexColumns('indisprimary')
    const identityColumns = identity === 'f' ? cols.rows.map((c) => c.attname)
      : identity === 'd' ? primaryKey
        : identity === 'i' ? await indexColumns('indisreplident') : []
    out.push({ name, schema, table, identity, identityColumns, primaryKey, columns: cols.rows.map((c) => c.attname) })
  }
  return out
}

/**
 * The columns a mapping reads, found by calling it once on a row that
 * records every property read (its values are placeholder strings). A
 * mapping that throws on placeholders reports what it read until then.
 */
export function columnsRead (mapping: RowMapping, columns: string[]): Set<string> {
  const read = new Set<string>()
  const row = new Proxy({} as Record<string, unknown>, {
    get (_, prop) {
      if (typeof prop === 'string' && columns.includes(prop)) read.add(prop)
      return typeof prop === 'string' ? '0' : undefined
    },
  })
  try {
    mapping(row)
  } catch {
    // what it read before throwing is what we can know
  }
  return read
}

/**
 * What each mapped table's REPLICA IDENTITY cannot give its mapping: an
 * UPDATE or DELETE carries only the identity columns of the old row (all of
 * them under FULL, none under NOTHING), so keys built from other columns of
 * the old row are not invalidated.
 */
export function identityWarnings (tables: TableInfo[], mappings: Map<string, RowMapping[]>): SourceWarning[] {
  const out: SourceWarning[] = []
  for (const t of tables) {
    const read = new Set<string>()
    for (const m of mappings.get(t.name) ?? []) for (const c of columnsRead(m, t.columns)) read.add(c)
    const missing = [...read].filter((c) => !t.identityColumns.includes(c))
    if (missing.length === 0 && t.identityColumns.length > 0) continue
    const mode = { d: 'DEFAULT', f: 'FULL', i: 'USING INDEX', n: 'NOTHING' }[t.identity]
    const gives = t.identityColumns.length === 0 ? 'no column' : `only (${t.identityColumns.join(', ')})`
    out.push({
      code: 'replica-identity',
      table: t.name,
      message: `table ${t.name}: REPLICA IDENTITY ${mode} gives ${gives} of the old row, but its mapping reads ${missing.join(', ') || 'the row'}: ` +
        `a DELETE, or an UPDATE that changes ${missing.join(', ') || 'a column'}, cannot invalidate keys built from the old values. ` +
        `ALTER TABLE ${t.schema}.${t.table} REPLICA IDENTITY FULL gives them`,
    })
  }
  return out
}

/** Creates the publication for the mapped tables when it is missing, and adds tables it lacks. */
export async function ensurePublication (client: pg.Client, publication: string, tables: TableInfo[]): Promise<void> {
  const q = (s: string): string => client.escapeIdentifier(s)
  const list = (ts: TableInfo[]): string => ts.map((t) => `${q(t.schema)}.${q(t.table)}`).join(', ')
  const pub = await client.query<{ puballtables: boolean }>('SELECT puballtables FROM pg_publication WHERE pubname = $1', [publication])
  if (pub.rows.length === 0) {
    try {
      await client.query(`CREATE PUBLICATION ${q(publication)} FOR TABLE ${list(tables)}`)
      return
    } catch (error) {
      // Another instance created it meanwhile: fall through and check its tables.
      if ((error as { code?: string }).code !== '42710') throw sourceError(error, `creating publication ${publication}`)
    }
  } else if (pub.rows[0]?.puballtables === true) {
    return
  }
  const have = await client.query<{ schemaname: string, tablename: string }>(
    'SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1', [publication])
  const present = new Set(have.rows.map((r) => `${r.schemaname}.${r.tablename}`))
  const missing = tables.filter((t) => !present.has(`${t.schema}.${t.table}`))
  if (missing.length === 0) return
  try {
    await client.query(`ALTER PUBLICATION ${q(publication)} ADD TABLE ${list(missing)}`)
  } catch (error) {
    if ((error as { code?: string }).code !== '42710') throw sourceError(error, `adding tables to publication ${publication}`)
  }
}

export interface SlotState {
  exists: boolean
  /** reserved, extended, unreserved or lost (pg_replication_slots.wal_status). */
  walStatus: string | null
  active: boolean
  /** Bytes of WAL written since the slot's confirmed position. */
  lagBytes: number
}

export async function slotState (client: pg.Client, slot: string): Promise<SlotState> {
  const { rows } = await client.query<{ plugin: string, wal_status: string | null, active: boolean, lag: string | null }>(
    `SELECT plugin, wal_status, active, (pg_current_wal_lsn() - confirmed_flush_lsn)::text AS lag
     FROM pg_replication_slots WHERE slot_name = $1`, [slot])
  const r = rows[0]
  if (r === undefined) return { exists: false, walStatus: null, active: false, lagBytes: 0 }
  if (r.plugin !== 'pgoutput') {
    throw new MeshCacheError(ErrorCode.SOURCE_CONFIG, `postgres source: slot ${slot} exists with plugin ${r.plugin}; this source needs a pgoutput slot`)
  }
  return { exists: true, walStatus: r.wal_status, active: r.active, lagBytes: Math.max(0, Number(r.lag ?? 0)) }
}

/** Creates the slot; another instance creating it at the same moment is fine. */
export async function createSlot (client: pg.Client, slot: string): Promise<void> {
  try {
    await client.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot])
  } catch (error) {
    if ((error as { code?: string }).code !== '42710') throw sourceError(error, `creating replication slot ${slot}`)
  }
}

/**
 * Drops the slot if it is still lost, then creates it at the current position. The check and the drop
 * are one statement: another instance that recreated it a moment ago keeps its new slot.
 */
export async function recreateSlot (client: pg.Client, slot: string): Promise<void> {
  try {
    await client.query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND wal_status = 'lost'", [slot])
  } catch (error) {
    if ((error as { code?: string }).code !== '42704') throw sourceError(error, `dropping lost replication slot ${slot}`)
  }
  await createSlot(client, slot)
}
