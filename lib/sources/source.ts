/**
 * The contract of a change feed: something outside the cache that learns
 * of changes to the source of truth (a database's logical replication, a
 * message queue, webhooks) and turns them into invalidations. lib/sources/
 * holds the implementations (e.g. PostgreSQL CDC).
 *
 * A source only calls its sink; it never reaches into the cache. Each call
 * is an ordinary replicated write of the instance running the source, so
 * one instance running a source is enough for the whole mesh. Mapping rows
 * to keys or tags is the source's own (configured) business.
 */

/** What a source may do to the cache: the subset of MeshCache it needs. */
export interface ChangeSink {
  /** Drops every copy of `key`, on every instance. */
  invalidate(key: string): unknown
  /** Evicts every value tagged `tag`, on every instance. */
  invalidateTag(tag: string): unknown
  /** Drops every key of the namespace, on every instance (for a feed that lost its position). */
  clear(): unknown
}

export interface Source {
  /** For logs and stats, e.g. 'postgres'. */
  readonly name: string
  /**
   * Starts feeding `sink`. Resolves once the feed is running (e.g. the
   * replication slot is open); rejects with a MeshCacheError when it cannot
   * start. Errors after that are the source's to report and recover from.
   */
  start(sink: ChangeSink): Promise<void>
  /** Stops feeding; no sink call happens after it resolves. */
  close(): Promise<void>
}

/** A source that feeds nothing: a stand-in for tests and for wiring without a database. */
export const noSource: Source = {
  name: 'none',
  start: async () => {},
  close: async () => {},
}
