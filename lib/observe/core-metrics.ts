/**
 * The cache core as a metric source: `cache.stats()` read at scrape time and
 * named per the exporter contract (lib/observe/exporter.ts). Nothing here
 * runs on a cache operation.
 */
import type { CacheStats } from './stats.ts'
import { addMetricSource, metricSources, type MetricFamily, type MetricSource, type Sample, type ObservedCache } from './exporter.ts'

export const CORE_SOURCE = 'core'

const counter = (name: string, help: string, samples: Sample[]): MetricFamily => ({ type: 'counter', name, help, samples })
const gauge = (name: string, help: string, samples: Sample[]): MetricFamily => ({ type: 'gauge', name, help, samples })
const one = (value: number): Sample[] => [{ value }]
const l1 = (value: number): Sample[] => [{ labels: { tier: 'l1' }, value }]

/** Every reason an `evict` event can carry, exported even at zero so a rate() has a series from the start. */
const EVICT_REASONS = ['capacity', 'ttl', 'local', 'remote', 'repair'] as const

/** The families of one stats snapshot (also used by the dashboard's summary). */
export function coreFamilies (s: CacheStats, members: number, connected: number): MetricFamily[] {
  const p = s.propagation
  const { evictions, protocolErrorsByCode: byCode } = s
  return [
    counter('hits_total', 'Reads (get, has, getOrLoad) that found a value, by tier.', l1(s.hits)),
    counter('misses_total', 'Reads that found no value, by tier.', l1(s.misses)),
    counter('evictions_total', 'Values that left the local cache, by reason.',
      EVICT_REASONS.map((reason) => ({ labels: { reason }, value: evictions[reason] }))),
    counter('local_updates_total', 'Writes (set, delete, invalidate) made on this instance and sent to peers.', one(s.localUpdates)),
    counter('remote_updates_total', 'Remote records that changed this instance\'s state (updates and repairs).', one(s.remoteUpdates)),
    counter('duplicates_total', 'Remote records already known here, dropped.', one(s.duplicates)),
    counter('conflicts_total', 'Remote records concurrent with local state, resolved by the merge rule.', one(s.conflicts)),
    counter('repairs_total', 'Records applied by anti-entropy that changed state: losses the update path did not deliver.', one(s.repairs)),
    counter('gaps_total', 'Sequence gaps seen in an origin\'s updates (each starts a repair).', one(s.gapsDetected)),
    counter('sync_requests_total', 'Anti-entropy requests sent.', one(s.syncRequests)),
    counter('clock_ahead_total', 'Remote timestamps (records, membership stamps) ahead of this instance\'s clock by more than maxClockSkew.', one(s.clockAhead)),
    counter('expired_dropped_total', 'Remote records older than the tombstone horizon, dropped.', one(s.expiredDropped)),
    counter('frames_sent_total', 'Frames sent to peers.', one(s.framesSent)),
    counter('frames_received_total', 'Frames received from peers.', one(s.framesReceived)),
    counter('protocol_errors_total', 'Frames refused by the decoder or by protocol rules, by error code.',
      Object.keys(byCode).length === 0 ? [{ labels: { code: 'none' }, value: 0 }] : Object.entries(byCode).map(([code, value]) => ({ labels: { code }, value }))),
    counter('loads_total', 'Loader calls made by getOrLoad.', one(s.loads)),
    counter('loads_coalesced_total', 'getOrLoad callers that joined a load already running.', one(s.loadsCoalesced)),
    counter('load_errors_total', 'Loads that failed.', one(s.loadErrors)),
    counter('loads_discarded_total', 'Loads returned but not cached because the key changed meanwhile.', one(s.loadsDiscarded)),
    counter('stale_served_total', 'Stale values served in their grace window while a refresh ran.', one(s.staleServed)),
    gauge('keys', 'Keys holding a value on this instance, by tier.', l1(s.liveKeys)),
    gauge('tombstones', 'Keys known only by metadata (tombstones, invalidated or expired copies).', one(s.tombstones)),
    gauge('metadata_bytes', 'Estimated bytes of replication metadata.', one(s.metadataBytes)),
    gauge('origins', 'Origins whose sequence this instance tracks.', one(s.origins)),
    gauge('folded_keys', 'Keys whose version vector is folded to the bound (SPEC section 4).', one(s.foldedKeys)),
    gauge('peers', 'Live members of the namespace other than this instance.', one(members)),
    gauge('connected_peers', 'Peers reachable now on the transport.', one(connected)),
    {
      type: 'histogram',
      name: 'propagation_lag_seconds',
      help: 'Lag from a remote write (its HLC time) to its arrival here; 1 ms resolution, includes clock skew.',
      samples: [{
        buckets: [...p.buckets.map(([leMs, n]) => [leMs / 1000, n] as const), [Infinity, p.count] as const], // +Inf is the count
        sum: p.sumMs / 1000,
        count: p.count,
      }],
    },
  ]
}

/** Adds the core source to `cache` unless it is there already; every exporter calls this. */
export function ensureCoreSource (cache: ObservedCache): void {
  if (metricSources(cache).some((s) => s.name === CORE_SOURCE)) return
  const source: MetricSource = {
    name: CORE_SOURCE,
    collect: () => coreFamilies(cache.stats(), cache.peers().length, cache.connectedPeers().length),
  }
  addMetricSource(cache, source)
}
