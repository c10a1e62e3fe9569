/**
 * The contract of an exporter (Prometheus, OpenTelemetry, an audit log, a
 * dashboard): a read-only view of a cache that the exporter reads on its own
 * schedule (stats, peers) and whose events it may subscribe to. An exporter
 * never writes to the cache, and reading must stay cheap: `stats()` walks
 * the metadata once for `metadataBytes`, so scrape it, do not poll it hot.
 */
import type { EvictEvent } from '../core/store.ts'
import type { CacheStats } from './stats.ts'
import type { PeerInfo } from '../sync/membership.ts'

/** The events an exporter may listen to, with their payloads. */
export interface ObservedEvents {
  /** A key's replicated state moved (a local write or an applied remote record). */
  change: { key: string, kind: 'set' | 'delete' | 'invalidate', source: 'local' | 'remote' | 'repair' }
  /** A value left this instance (any reason). */
  evict: EvictEvent
  /** A frame (or some of its records) was refused. */
  frameError: { peer: string, error: unknown }
}

/** What an exporter sees of a cache: MeshCache satisfies it. */
export interface ObservedCache {
  readonly namespace: string
  readonly origin: string
  stats(): CacheStats
  peers(): PeerInfo[]
  on<E extends keyof ObservedEvents>(event: E, listener: (payload: ObservedEvents[E]) => void): unknown
  off<E extends keyof ObservedEvents>(event: E, listener: (payload: ObservedEvents[E]) => void): unknown
}

export interface Exporter {
  /** For logs, e.g. 'prometheus'. */
  readonly name: string
  /** Starts observing `cache`; returns the function that stops it (removing every listener it added). */
  attach(cache: ObservedCache): () => void
}

/** An exporter that observes nothing. */
export const noExporter: Exporter = {
  name: 'none',
  attach: () => () => {},
}
