/**
 * The contract between the cache core and whatever carries its frames.
 *
 * The core never knows how frames travel: the seeded in-memory network
 * (`meshcache/testing`) and the libp2p mesh both implement this interface, and
 * the same core code runs on either. Frames are opaque bytes here; the core
 * encodes and decodes them (protocol/).
 */
import type { MeshCacheError } from '../errors.ts'
import type { RecordKindValue } from '../../protocol/constants.ts'

/** What the core gives a transport when it joins a namespace. */
export interface FrameHandler {
  /** A frame arrived from `from` (a transport-level peer id). Must not throw. */
  onFrame(from: string, frame: Uint8Array): void
  /**
   * A peer in this namespace became reachable (first contact or reconnection).
   * The core starts anti-entropy with it.
   */
  onPeerUp(peer: string): void
  /** A peer in this namespace stopped being reachable. */
  onPeerDown(peer: string): void
  /**
   * A lone write arrived from `from` (SPEC §11, "Lone writes"): the UPDATES frame `protocol/lone.ts` encodes
   * for write number `seq` of `origin` (one record: `key`, an ASCII key, its kind and clock, written by
   * `origin`, its vector `[origin, seq]`, no value), given as its fields by a transport that carried it
   * without the frame. Must not throw. Omitted: the transport hands such a write to `onFrame` as that frame.
   */
  onLone?(from: string, origin: string, seq: number, key: string, kind: number, hlc: number): void
  /**
   * The region `origin` (a writer, SPEC §1) announced in membership, if
   * known: a transport that carries writes between regions sends a write
   * on to the regions it has not come from, never back (SPEC §11.4).
   * Omitted, or undefined: not known.
   */
  regionOf?(origin: string): string | undefined
}

/** One node's membership in one namespace. */
export interface Channel {
  /** This node's transport-level id (libp2p peer id, or the memory node's name). */
  readonly localPeer: string
  /**
   * Sends a frame of updates to every reachable peer in the namespace.
   * Never throws and never blocks the caller; delivery is best-effort: the
   * core repairs losses with anti-entropy.
   */
  broadcast(frame: Uint8Array): void
  /** Sends a frame to one peer (anti-entropy). Best-effort, like broadcast. */
  send(peer: string, frame: Uint8Array): void
  /**
   * Sends the lone write `seq` of `origin` (the frame `encodeLone` of protocol/lone.ts makes of it) to every
   * reachable peer, as `broadcast` would send that frame, in whatever form each peer reads. Returns false,
   * having sent nothing, if this transport would rather have the frame (the caller then broadcasts it).
   * Omitted: the caller always broadcasts the frame.
   */
  broadcastLone?(origin: string, seq: number, key: string, kind: RecordKindValue, hlc: number): boolean
  /** The peers currently reachable in this namespace. */
  peers(): string[]
  /**
   * Whether `broadcast` reaches peers this node has no connection to, relayed
   * hop by hop (a partial mesh). The core then re-publishes what its
   * anti-entropy repaired (SPEC §6.1), and announces its sequence numbers
   * and membership renewals to its peers only, in digests (SPEC §5, §8).
   * Omitted: false.
   */
  relays?(): boolean
  /** Leaves the namespace; no handler callback runs afterwards. */
  close(): Promise<void>
}

/** A failed attempt to reach a peer (the cache's `peer:error` event). */
export interface PeerErrorEvent {
  /** The address tried (as given in `peers`, or as learnt from a peer). */
  address: string
  /** E_PSK_MISMATCH, E_PEER_ID_MISMATCH or E_PEER_UNREACHABLE, with the transport's error as `cause`. */
  error: MeshCacheError
}

/** A way for a node to reach its peers; one transport may carry many namespaces. */
export interface Transport {
  /**
   * Joins `namespace`. Two caches with different namespaces on the same
   * transport never see each other's frames.
   */
  join(namespace: string, handler: FrameHandler): Promise<Channel>
  /** Addresses other nodes can dial, where that means something (libp2p). */
  multiaddrs?(): string[]
  /**
   * Subscribes to failed attempts to reach peers; returns the unsubscribe
   * function. A transport that cannot fail to connect (memory) omits it.
   */
  onPeerError?(listener: (event: PeerErrorEvent) => void): () => void
  /**
   * The transport's own counters, read when the cache's `stats()` is called
   * or its exporters are scraped (lib/observe/transport-metrics.ts): numbers
   * only, each a count that only grows but `connections`, a gauge, under
   * the same names at every call (exporters register them from the first).
   * A transport shared by several caches reports the same figures in each.
   * Omitted: the cache reports none (`stats().transport` is null).
   */
  stats?(): TransportCounters
  /** Stops the transport if the cache created it. */
  close?(): Promise<void>
}

/** A transport's counters by name (the libp2p transport's: `TransportStats`). */
export type TransportCounters = Readonly<Record<string, number>>
