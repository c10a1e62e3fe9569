/** The options of `createPostgresSource`, their defaults and their validation (E_INVALID_OPTION naming the option). */
import type pg from 'pg'
import { invalidOption } from '../errors.ts'
import { optionNames, refuseUnknown } from '../core/suggest.ts'
import type { RowMapping, SourceWarning } from './postgres-setup.ts'

/** Every option name, for refusing unknown ones with a suggestion (a name left out fails to compile). */
const POSTGRES_OPTION_NAMES = optionNames<PostgresSourceOptions>()([
  'connection', 'slot', 'publication', 'tables', 'tags', 'lagWarningBytes', 'lagWarningMs', 'statusIntervalMs',
  'retryIntervalMs', 'electionIntervalMs', 'releaseAfterMs', 'ackDelayMs', 'maxKeysPerTransaction', 'onWarning',
])

export interface PostgresSourceOptions {
  /** A connection string or a `pg` ClientConfig. The role needs REPLICATION (and CREATE on the database to create the publication). */
  connection: string | pg.ClientConfig
  /** The durable logical replication slot (pgoutput); created when missing. One reader at a time holds it. */
  slot: string
  /** The publication the slot streams; created for `tables` when missing, and given the tables it lacks. */
  publication: string
  /**
   * `schema.table` (a bare name means `public`) → the keys a row change invalidates. Called with the
   * row (the new row; the old one for a DELETE) and, for UPDATE and DELETE, the old row as far as the
   * table's REPLICA IDENTITY gives it. An UPDATE that carries the old row also invalidates the old
   * row's keys. Return a string or an array of strings.
   */
  tables: Record<string, RowMapping>
  /** `schema.table` → the tags a row change invalidates (same arguments as `tables`). @default none */
  tags?: Record<string, RowMapping>
  /** Emit a `warning` (code 'lag') when the slot is this many bytes of WAL behind. @default 64 MiB */
  lagWarningBytes?: number
  /** Emit a `warning` (code 'lag') when a transaction's invalidation comes this long after its commit. @default 10_000 */
  lagWarningMs?: number
  /** How often the reader reads the slot's lag and health. @default 1_000 */
  statusIntervalMs?: number
  /** Wait between attempts to (re)start reading after the stream failed or the slot was busy. @default 250 */
  retryIntervalMs?: number
  /** How often the election is re-applied (failover reacts within this). @default 100 */
  electionIntervalMs?: number
  /**
   * A reader that has failed to stream for this long leaves the election for as long, so that an
   * instance that can reach the database takes over (one that cannot would otherwise keep the role
   * for being the lowest origin). @default 5_000
   */
  releaseAfterMs?: number
  /** A transaction is acknowledged this long after its invalidations were handed to the mesh. @default 100 */
  ackDelayMs?: number
  /** A transaction mapping more keys and tags than this clears the namespace instead. @default 100_000 */
  maxKeysPerTransaction?: number
  /** Receives start-time warnings (REPLICA IDENTITY) and lag warnings; they are also emitted as `warning`. @default debug log */
  onWarning?: (warning: SourceWarning) => void
}

/** The defaults (SPEC.md §13 and the README quote them; the repository's spec test checks that they agree). */
export const POSTGRES_DEFAULTS = {
  lagWarningBytes: 64 * 1024 * 1024,
  lagWarningMs: 10_000,
  statusIntervalMs: 1_000,
  retryIntervalMs: 250,
  electionIntervalMs: 100,
  ackDelayMs: 100,
  releaseAfterMs: 5_000,
  maxKeysPerTransaction: 100_000,
} as const

export type ResolvedOptions = Required<Omit<PostgresSourceOptions, 'tags' | 'onWarning'>> & PostgresSourceOptions

export function resolve (o: PostgresSourceOptions): ResolvedOptions {
  if (typeof o !== 'object' || o === null) invalidOption('options', 'must be an object')
  refuseUnknown(o, POSTGRES_OPTION_NAMES)
  if (typeof o.connection !== 'string' && (typeof o.connection !== 'object' || o.connection === null)) invalidOption('connection', 'must be a connection string or a pg ClientConfig')
  if (typeof o.slot !== 'string' || !/^[a-z0-9_]{1,63}$/.test(o.slot)) invalidOption('slot', 'must be 1-63 characters of a-z, 0-9 and _ (PostgreSQL slot names)')
  if (typeof o.publication !== 'string' || o.publication.length === 0) invalidOption('publication', 'must be a non-empty string')
  if (typeof o.tables !== 'object' || o.tables === null || Object.keys(o.tables).length === 0) invalidOption('tables', 'must map at least one table to a function')
  for (const [name, fn] of Object.entries(o.tables)) if (typeof fn !== 'function') invalidOption(`tables['${name}']`, 'must be a function (row, old?) => keys')
  for (const [name, fn] of Object.entries(o.tags ?? {})) if (typeof fn !== 'function') invalidOption(`tags['${name}']`, 'must be a function (row, old?) => tags')
  const positive = (name: keyof PostgresSourceOptions, value: number | undefined, fallback: number): number => {
    if (value === undefined) return fallback
    if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) invalidOption(name, `must be a positive number, got ${String(value)}`)
    return value
  }
  return {
    ...o,
    lagWarningBytes: positive('lagWarningBytes', o.lagWarningBytes, POSTGRES_DEFAULTS.lagWarningBytes),
    lagWarningMs: positive('lagWarningMs', o.lagWarningMs, POSTGRES_DEFAULTS.lagWarningMs),
    statusIntervalMs: positive('statusIntervalMs', o.statusIntervalMs, POSTGRES_DEFAULTS.statusIntervalMs),
    retryIntervalMs: positive('retryIntervalMs', o.retryIntervalMs, POSTGRES_DEFAULTS.retryIntervalMs),
    electionIntervalMs: positive('electionIntervalMs', o.electionIntervalMs, POSTGRES_DEFAULTS.electionIntervalMs),
    ackDelayMs: positive('ackDelayMs', o.ackDelayMs, POSTGRES_DEFAULTS.ackDelayMs),
    releaseAfterMs: positive('releaseAfterMs', o.releaseAfterMs, POSTGRES_DEFAULTS.releaseAfterMs),
    maxKeysPerTransaction: positive('maxKeysPerTransaction', o.maxKeysPerTransaction, POSTGRES_DEFAULTS.maxKeysPerTransaction),
  }
}
