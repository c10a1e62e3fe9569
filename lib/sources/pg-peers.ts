/**
 * pg and pg-logical-replication, optional peer dependencies, loaded once for
 * the source's files: without them, importing meshcache/postgres fails with
 * E_MISSING_DEPENDENCY naming the missing one (lib/peer-dependency.ts), not
 * with Node's error naming a file of ours. pg first: pg-logical-replication
 * requires it, and would otherwise report it as its own failure.
 */
import { requirePeer } from '../peer-dependency.ts'

export const pg = requirePeer<typeof import('pg')>('pg')
export const replication = requirePeer<typeof import('pg-logical-replication')>('pg-logical-replication')
