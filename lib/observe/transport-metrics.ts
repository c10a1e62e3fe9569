/**
 * A transport's counters (lib/net/transport.ts `stats()`; the libp2p
 * transport's `TransportStats`) as a metric source (lib/observe/exporter.ts),
 * read at scrape time. The wiring adds it to every cache whose transport has
 * counters, so an operator sees what the transport did beneath the cache:
 * how many connections a partial mesh holds, how many frame copies it sent,
 * relayed or carried across regions, and what it dropped (each drop is a
 * write a peer hears of later, by repair).
 *
 * `connections` is the gauge `transport_connections`; the four `dropped…`
 * counts are one family, `transport_frames_dropped_total{reason}`; every
 * other number is a count, `transport_<snake_case>_total`
 * (`fastLaneFar` → `transport_fast_lane_far_total`), with the help text
 * below or, for a field this file does not know, a generic one.
 */
import type { TransportCounters } from '../net/transport.ts'
import type { MetricFamily, MetricSource } from './exporter.ts'

export const TRANSPORT_SOURCE = 'transport'

/** The drop counters and their `reason` label. */
const DROPS: Record<string, string> = {
  droppedBackpressure: 'backpressure',
  droppedOversize: 'oversize',
  droppedNoPeer: 'no_peer',
  droppedUnjoined: 'unjoined',
}

/** Help for the libp2p transport's counts (lib/net/libp2p/stats.ts says more). */
const HELP: Record<string, string> = {
  framesSent: 'Frame copies handed to a peer\'s stream (a broadcast to 4 peers counts 4).',
  framesReceived: 'Frames the transport delivered to a cache.',
  bytesReceived: 'Bytes read from peers\' streams, envelopes included.',
  badEnvelopes: 'Envelopes from peers that were malformed, oversized or of an unknown type.',
  handlerErrors: 'Frames whose handler threw (logged and swallowed).',
  peerUps: 'Peers that came up in a namespace (first contact or reconnection).',
  streamOpenFailures: 'Failed attempts to open a stream to a connected peer (retried).',
  peersTimedOut: 'Peers given up after peerTimeout of silence.',
  probes: 'Bare TCP connects made to find a healed path to a silent or lost peer.',
  staleReplaced: 'Silent connections replaced by a fresh one once the path was back.',
  refusedFull: 'Inbound connections closed because a partial mesh had twice maxPeers peers.',
  linksLetGo: 'Links let go on purpose (over a partial mesh\'s bound, or a far link the region does not need).',
  farLinksStoodDown: 'Far links let go because this node stood down as its region\'s link holder.',
  crossedClosed: 'Connections closed because the peer dialled at the same time (its connection kept).',
  shedsReceived: 'Links a peer let go on purpose (not redialled as lost).',
  redials: 'Dials made by the redialer.',
  redialFailures: 'Redialer dials that failed.',
  framesRelayed: 'Broadcasts published on gossipsub instead of sent to each peer.',
  relayedReceived: 'Frames received through gossipsub and delivered.',
  fastLaneSent: 'Frame copies sent on a partial mesh\'s fast lane.',
  fastLaneForwarded: 'Fast-lane copies of other instances\' writes forwarded along the region path.',
  fastLaneFar: 'Fast-lane copies sent over a far link, to a peer of another region.',
  fastLaneToHolders: 'Writers\' copies passed to a neighbour holding a far link, to send across.',
  fastLaneOffTopic: 'Fast-lane copies to a neighbour that does not join the region\'s topic.',
  fastLaneDeferred: 'Writes this node holds a far link for but left to the holder that carries their origin\'s (crossRegionCopies \'one\').',
  fastLaneRelayed: 'Frames that crossed from another region, published on gossipsub in this one.',
  fastLaneDuplicates: 'Fast-lane copies of a frame already delivered, dropped.',
  relayedDuplicates: 'Gossipsub copies of a frame the fast lane delivered first, dropped.',
}

const snake = (s: string): string => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()

/** The families of one reading of a transport's counters. */
export function transportFamilies (stats: TransportCounters): MetricFamily[] {
  const families: MetricFamily[] = []
  const drops: MetricFamily = { type: 'counter', name: 'transport_frames_dropped_total', help: 'Frame copies the transport did not send or deliver, by reason: backpressure (the peer\'s stream saturated past maxBufferedBytes), oversize (past maxFrameBytes), no_peer (no open stream), unjoined (a namespace not joined here).', samples: [] }
  for (const [field, value] of Object.entries(stats)) {
    if (typeof value !== 'number' || !/^[a-z]\w*$/.test(field)) continue
    const reason = DROPS[field]
    if (reason !== undefined) drops.samples.push({ labels: { reason }, value })
    else if (field === 'connections') families.push({ type: 'gauge', name: 'transport_connections', help: 'Peers with an open connection on the transport now (bounded by maxPeers in a partial mesh).', samples: [{ value }] })
    else families.push({ type: 'counter', name: `transport_${snake(field)}_total`, help: HELP[field] ?? `The transport's ${snake(field).replace(/_/g, ' ')} count.`, samples: [{ value }] })
  }
  if (drops.samples.length > 0) families.push(drops)
  return families
}

/** The metric source of a transport's counters. */
export function transportMetricSource (stats: () => TransportCounters): MetricSource {
  return { name: TRANSPORT_SOURCE, collect: () => transportFamilies(stats()) }
}
