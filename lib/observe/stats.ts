/** Counters behind `cache.stats()`. Plain numeric fields: incrementing one costs nothing measurable on the read path. */
export class Counters {
  hits = 0
  misses = 0
  localUpdates = 0
  remoteUpdates = 0
  duplicates = 0
  conflicts = 0
  repairs = 0
  protocolErrors = 0
  expiredDropped = 0
  framesSent = 0
  framesReceived = 0
  gapsDetected = 0
  /** Values that left the LRU, by reason (EvictReason): plain fields, bumped in the eviction callback. */
  evictedCapacity = 0
  evictedTtl = 0
  evictedLocal = 0
  evictedRemote = 0
  evictedRepair = 0
  /** Protocol errors by error code: a handful of stable codes, so the map stays tiny. */
  readonly protocolErrorsByCode = new Map<string, number>()

  /** Counts a value that left the LRU. */
  evicted (reason: EvictReason): void {
    switch (reason) {
      case 'capacity': this.evictedCapacity++; break
      case 'ttl': this.evictedTtl++; break
      case 'local': this.evictedLocal++; break
      case 'remote': this.evictedRemote++; break
      case 'repair': this.evictedRepair++; break
    }
  }

  /** Counts a refused frame (or record) under its error's code. */
  refused (code: string): void {
    this.protocolErrors++
    this.protocolErrorsByCode.set(code, (this.protocolErrorsByCode.get(code) ?? 0) + 1)
  }

  /** The counters' part of `CacheStats`. */
  snapshot (): Pick<CacheStats, 'hits' | 'misses' | 'localUpdates' | 'remoteUpdates' | 'duplicates' | 'conflicts' | 'repairs' | 'protocolErrors' | 'protocolErrorsByCode' | 'evictions' | 'expiredDropped' | 'framesSent' | 'framesReceived' | 'gapsDetected'> {
    return {
      hits: this.hits,
      misses: this.misses,
      localUpdates: this.localUpdates,
      remoteUpdates: this.remoteUpdates,
      duplicates: this.duplicates,
      conflicts: this.conflicts,
      repairs: this.repairs,
      protocolErrors: this.protocolErrors,
      protocolErrorsByCode: Object.fromEntries(this.protocolErrorsByCode),
      evictions: { capacity: this.evictedCapacity, ttl: this.evictedTtl, local: this.evictedLocal, remote: this.evictedRemote, repair: this.evictedRepair },
      expiredDropped: this.expiredDropped,
      framesSent: this.framesSent,
      framesReceived: this.framesReceived,
      gapsDetected: this.gapsDetected,
    }
  }
}

import type { PropagationStats } from './lag-histogram.ts'
import type { EvictReason } from '../core/store.ts'
import type { TransportCounters } from '../net/transport.ts'

export interface CacheStats {
  /** `get`/`has` calls that found a value. */
  hits: number
  /** `get`/`has` calls that found none. */
  misses: number
  /** Writes (set, delete, invalidate) made on this instance and sent to peers. */
  localUpdates: number
  /** Remote records that changed this instance's state (updates and repairs). */
  remoteUpdates: number
  /** Remote records already known here (same or older version): dropped. */
  duplicates: number
  /** Remote records concurrent with local state (resolved by the merge rule). */
  conflicts: number
  /** Records applied from anti-entropy that changed state: losses the gossip path did not deliver. */
  repairs: number
  /** Frames refused by the decoder or by protocol rules; none changed state. */
  protocolErrors: number
  /** `protocolErrors` by error code (E_FRAME_MALFORMED…; E_UNKNOWN for anything else). */
  protocolErrorsByCode: Record<string, number>
  /** Values that left this instance's cache, by reason (the `evict` event's). */
  evictions: Record<EvictReason, number>
  /** Remote records older than the tombstone horizon: expired everywhere already, dropped. */
  expiredDropped: number
  framesSent: number
  framesReceived: number
  /** Anti-entropy requests sent (on connect, on a gap, periodically). */
  syncRequests: number
  /** Sequence gaps seen in an origin's updates (each starts a repair at once). */
  gapsDetected: number
  /**
   * Records and membership states whose timestamp was ahead of this
   * instance's clock by more than `maxClockSkew` (each origin also raises the
   * `clockSkew` event, at most once a minute). Above 0, some clock in the
   * mesh is off by more than the guarantees allow (SPEC §9).
   */
  clockAhead: number
  /** Keys holding a value on this instance. */
  liveKeys: number
  /** Keys known only by metadata: tombstones, remote writes in invalidate mode, expired or evicted copies. */
  tombstones: number
  /** Origins whose sequence this instance tracks. */
  origins: number
  /**
   * Keys whose version vector is folded to the bound (more origins wrote them
   * than `min(maxVectorEntries, maxOrigins)`, or a peer's answer said its
   * state was folded; SPEC §4). Every anti-entropy answer carries such a key,
   * and in invalidate mode a receiver holding its value drops it: above 0 for
   * long, raise the limits or find what writes the key from so many origins.
   */
  foldedKeys: number
  /** Estimated bytes of metadata (version vectors, timestamps, tombstones; not key strings, which a tombstone may share with the caller); -1 when `stats({ metadataBytes: false })` skipped it. */
  metadataBytes: number
  /** Loader calls made by `getOrLoad` (one per key per load, however many callers). */
  loads: number
  /** `getOrLoad` callers that joined a load already running. */
  loadsCoalesced: number
  /** Loads that failed; their error reached every waiting caller and nothing was cached. */
  loadErrors: number
  /** Loads returned to their callers but not cached because the key or a base changed meanwhile (the race rule). */
  loadsDiscarded: number
  /** Stale values served in their grace window while a refresh ran. */
  staleServed: number
  /** Write→apply lag of remote updates, from the write's HLC time to its arrival here (lib/observe/lag-histogram.ts). */
  propagation: PropagationStats
  /**
   * The lower tier's counters, named by the tier (the Redis L2: `l2Hits`,
   * `l2Misses`, `l2Errors`, `l2Writes`, `l2Fills`, `l2Skipped` (guarded
   * writes refused), `l2Bypassed`, `l2Pending`, `l2Replayed`, `l2Refused`
   * (values the read guard refused), `l2Breaker`…); null without a tier
   * (not undefined, which JSON would drop).
   */
  tier: Record<string, number | string> | null
  /**
   * The transport's counters (the libp2p transport's `TransportStats`:
   * `connections`, `framesSent`, `droppedBackpressure`, `framesRelayed`,
   * `fastLaneFar`…), for the whole transport, which may carry other
   * namespaces too; null for a transport without counters (the memory
   * network).
   */
  transport: TransportCounters | null
}
