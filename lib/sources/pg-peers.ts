/**
 * pg and pg-logical-replication, optional peer dependencies, loaded once for
 * the source's files: without them, importing meshcache/postgres fails with
 * E_MISSING_DEPENDENCY naming the missing one (lib/peer-dependency.ts), not
 * with Node's error naming a file of ours. pg first: pg-logical-replication
 * requires it, and would otherwise report it as its own failure.
 */
import { importPeer } from '../peer-dependency.ts'

export const pg = (await importPeer('pg', async () => await import('pg'))).default
export const replication = await importPeer('pg-logical-replication', async () => await import('pg-logical-replication'))
