/**
 * The change-feed (source) contract: how something outside the cache that
 * learns of changes to the source of truth (a database's own change stream:
 * PostgreSQL logical replication, a MySQL binlog reader, a MongoDB change
 * stream; or a message queue, webhooks) turns them into invalidations,
 * without the cache core knowing any of them. SPEC.md "Change sources" is the normative text; this
 * file is its code.
 *
 * A source owns everything about its database: connecting, its position in
 * the stream, decoding, mapping rows to keys. It only calls its sink (three
 * calls every cache has) and, when its feed has a single consumer, reads the
 * membership to elect the instance that reads it; it never reaches into the
 * cache. Each sink call is an ordinary replicated write of the instance
 * running the source, so one reader is enough for the whole mesh. The rules
 * a source keeps:
 *
 * 1. Unit: one upstream commit (a PostgreSQL transaction, a binlog XID
 *    group, a MongoDB transaction or single-document change) is one
 *    `ChangeBatch`, applied by `applyBatch` in one synchronous run, so its
 *    invalidations leave in one frame and no peer sees half of it.
 * 2. Position: the source tells its upstream a position is done (PostgreSQL
 *    acknowledges the LSN, MySQL stores the GTID set / file+offset, MongoDB
 *    stores the resume token) only after that batch was applied and
 *    `handedToMesh()` resolved. Until then a crash replays it; a replayed
 *    invalidation is harmless (it evicts a value that is re-read).
 * 3. A lost position (PostgreSQL slot invalidated, binlog purged past the
 *    stored position, change-stream history lost) cannot be repaired key by
 *    key: the source calls `sink.clear()`, starts from the current position
 *    and emits `positionLost`.
 * 4. One reader: a feed with a single consumer (a replication slot, a binlog
 *    server id) is read by one instance, chosen by `ReaderElection` over
 *    membership; a second reader at once must be harmless (the upstream
 *    refuses it, or it only duplicates invalidations).
 * 5. The source never throws into the cache: a mapping that fails is an
 *    event naming the table and the row's key, and the rest of the batch
 *    is applied.
 */
import type { PropagationStats } from '../observe/lag-histogram.ts'
import type { ElectionHost } from './reader-election.ts'
import type { MeshLogger } from '../observe/logger.ts'

/** What a source may do to the cache: the subset of MeshCache it needs. `cacheSink(cache)` adapts a MeshCache. */
export interface ChangeSink {
  /** Drops every copy of `key`, on every instance (dependents and tags follow, as for any write). */
  invalidate(key: string): unknown
  /** Evicts every value tagged `tag`, on every instance. */
  invalidateTag(tag: string): unknown
  /** Drops every key of the namespace, on every instance (a feed that lost its position, a TRUNCATE). */
  clear(): unknown
}

/** What a source gets besides its sink. */
export interface SourceContext {
  /** This instance's membership, for a feed with a single consumer to elect its reader (rule 4). */
  membership?: ElectionHost
  /** Where the source logs (elections, failover, lost positions): the cache's `logger`, so they reach the service's log. */
  logger?: MeshLogger
}

export interface Source {
  /** For logs and stats, e.g. 'postgres'. */
  readonly name: string
  /**
   * Starts feeding `sink`. Resolves once the source is running (checked its
   * upstream and joined the election of its reader, or is reading);
   * rejects with a MeshCacheError when it cannot start. Errors after that
   * are the source's to report (events) and recover from.
   */
  start(sink: ChangeSink, context?: SourceContext): Promise<void>
  /** Stops feeding; no sink call happens after it resolves. */
  close(): Promise<void>
  /** Counters every source keeps (SourceStats), when it keeps them. */
  stats?(): SourceStats
}

/** A source that feeds nothing: a stand-in for tests and for wiring without a database. */
export const noSource: Source = {
  name: 'none',
  start: async () => {},
  close: async () => {},
}

/** One upstream commit's worth of invalidations. */
export interface ChangeBatch {
  keys: Iterable<string>
  tags: Iterable<string>
  /** Clear the namespace instead of (or besides) the keys: a TRUNCATE, or a batch over `maxKeysPerBatch`. */
  clear?: boolean
}

/** A key or tag the sink refused (too long, reserved prefix): reported, never thrown. */
export interface RefusedKey {
  key: string
  error: unknown
}

/**
 * Applies a batch in one synchronous run: the outbox sends everything in it
 * as one frame (split only past the frame size limit). Returns how many
 * invalidations were applied; keys the sink refuses go to `refused`.
 */
export function applyBatch (sink: ChangeSink, batch: ChangeBatch, refused: (r: RefusedKey) => void): number {
  let n = 0
  if (batch.clear === true) {
    try {
      sink.clear()
      n++
    } catch (error) {
      refused({ key: '(clear)', error })
    }
  }
  for (const key of batch.keys) {
    try {
      sink.invalidate(key)
      n++
    } catch (error) {
      refused({ key, error })
    }
  }
  for (const tag of batch.tags) {
    try {
      sink.invalidateTag(tag)
      n++
    } catch (error) {
      refused({ key: `tag:${tag}`, error })
    }
  }
  return n
}

/**
 * Resolves once frames queued by a batch applied before the call have been
 * given to the transport: the outbox flushes in a microtask, and a
 * macrotask runs after every pending microtask.
 */
export function handedToMesh (): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** What every source reports (`source.stats()`); a source may add its own fields. */
export interface SourceStats {
  /** Whether this instance is the one reading the feed now. */
  reading: boolean
  /** Upstream commits applied by this instance. */
  batches: number
  /** Invalidations (keys and tags) applied by this instance. */
  invalidations: number
  /** Rows whose mapping threw, returned a non-string or a key the cache refused. */
  mappingErrors: number
  /** Times the feed position was lost and the namespace cleared. */
  positionLosses: number
  /** Times this instance (re)started reading. */
  takeovers: number
  /** Upstream commit time → invalidation applied here, for batches this instance applied. */
  commitToInvalidation: PropagationStats
}

/** A cache a source can drive, as far as a source needs to know it (`clear` is optional until every cache has it). */
export interface SinkHost {
  invalidate(key: string): unknown
  invalidateTag(tag: string): unknown
  clear?(): unknown
}

/**
 * A MeshCache as a sink. `clear()` is the cache's own when it has one;
 * otherwise a source that must clear cannot, and says so by throwing.
 */
export function cacheSink (cache: SinkHost): ChangeSink {
  return {
    invalidate: (key) => { cache.invalidate(key) },
    invalidateTag: (tag) => { cache.invalidateTag(tag) },
    clear: () => {
      if (typeof cache.clear !== 'function') throw new Error('this cache has no clear(): a lost feed position cannot be repaired')
      cache.clear()
    },
  }
}
