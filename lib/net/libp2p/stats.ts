/**
 * The transport's counters (`transport.stats()`), in a file of their own:
 * the mesh, its stream lifecycle, the partial-mesh bound and the healing of
 * silent peers all count into one object, and none of them owns it.
 */
/**
 * Counters for what the transport did and dropped; see `transport.stats()`.
 * A type, not an interface, so that it is a `TransportCounters` (lib/net/transport.ts).
 */
export type TransportStats = {
  /** Frame copies handed to a peer's stream (one broadcast to 4 peers counts 4). */
  framesSent: number
  /** Frames delivered to a handler. */
  framesReceived: number
  /** Bytes read from peers' streams, envelopes included. */
  bytesReceived: number
  /** Frames not sent because the peer's stream was saturated past maxBufferedBytes. */
  droppedBackpressure: number
  /** Frames refused because they exceed maxFrameBytes. */
  droppedOversize: number
  /** `send` to a peer with no open stream. */
  droppedNoPeer: number
  /** Frames for a namespace this node has not joined (or has left). */
  droppedUnjoined: number
  /** Envelopes from peers that were malformed, oversized or of unknown type. */
  badEnvelopes: number
  /** A handler threw (it must not); the error was logged and swallowed. */
  handlerErrors: number
  /** onPeerUp calls, all namespaces. */
  peerUps: number
  /** Attempts to open our stream to a connected peer that failed (each is retried with backoff). */
  streamOpenFailures: number
  /** Peers given up after `peerTimeout` of silence (their connections closed; the redialer takes over). */
  peersTimedOut: number
  /** Bare TCP connects made to find a healed path to a silent or lost peer (probe.ts). */
  probes: number
  /** Silent connections replaced by a fresh one once the path was back. */
  staleReplaced: number
  /** Peers with an open connection now (bounded by `maxPeers` in a partial mesh). */
  connections: number
  /** Inbound connections closed because a partial mesh had twice `maxPeers` peers already. */
  refusedFull: number
  /** Links this node let go on purpose (over a partial mesh's bound, or a far link its region does not need), each with a SHED first. */
  linksLetGo: number
  /** Of them, far links let go because this node stood down: a link holder by what it sees, it heard of `crossRegionLinks` smaller same-region holders (regions.ts). */
  farLinksStoodDown: number
  /** Our connections closed because the peer had dialled us at the same time (crossed-dials.ts): its connection is kept. */
  crossedClosed: number
  /** SHEDs received: links a peer let go on purpose, which this node does not redial as lost. */
  shedsReceived: number
  /** Dials made by the redialer, and how many failed. */
  redials: number
  redialFailures: number
  /** Broadcasts published on gossipsub (the relay tier) instead of sent to each peer. */
  framesRelayed: number
  /** Frames received through gossipsub and delivered to a handler. */
  relayedReceived: number
  /** Frame copies sent on a partial mesh's fast lane (fast-lane.ts; also counted in framesSent). */
  fastLaneSent: number
  /** Of them, copies of other instances' writes forwarded along the region path. */
  fastLaneForwarded: number
  /** Of them, copies sent over a far link (to a peer of another region). */
  fastLaneFar: number
  /** Of them, writers' copies passed to a neighbour of our region that holds a far link, to send across (fast-lane.ts). */
  fastLaneToHolders: number
  /** Of them, copies to a neighbour that does not join our region's topic (a release from before region topics: fast-lane.ts). */
  fastLaneOffTopic: number
  /** Writes we hold a far link for but left to the holder of our region that carries their origin's (regions.ts `carries`). */
  fastLaneDeferred: number
  /** Frames that crossed from another region by the fast lane, published on gossipsub in ours (fast-lane.ts). */
  fastLaneRelayed: number
  /** Fast-lane copies of a frame already delivered (by gossipsub or the lane), dropped. */
  fastLaneDuplicates: number
  /** Gossipsub copies of a frame the fast lane delivered first, dropped. */
  relayedDuplicates: number
}

export function emptyStats (): TransportStats {
  return {
    framesSent: 0, framesReceived: 0, bytesReceived: 0,
    droppedBackpressure: 0, droppedOversize: 0, droppedNoPeer: 0, droppedUnjoined: 0,
    badEnvelopes: 0, handlerErrors: 0, peerUps: 0, streamOpenFailures: 0, peersTimedOut: 0, probes: 0, staleReplaced: 0, connections: 0, refusedFull: 0, linksLetGo: 0, farLinksStoodDown: 0, crossedClosed: 0, shedsReceived: 0, redials: 0, redialFailures: 0,
    framesRelayed: 0, relayedReceived: 0, fastLaneSent: 0, fastLaneForwarded: 0, fastLaneFar: 0, fastLaneToHolders: 0, fastLaneOffTopic: 0, fastLaneDeferred: 0, fastLaneRelayed: 0, fastLaneDuplicates: 0, relayedDuplicates: 0
  }
}
