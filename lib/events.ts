/**
 * The cache's events, typed: `cache.on(name, listener)` accepts only these
 * names, each with its payload, so a misspelt name (`'evicted'`) or a
 * listener expecting another payload fails to compile.
 */
import type { MeshCacheError } from './errors.ts'
import type { EvictEvent } from './core/store.ts'
import type { TierFailure } from './tiers/tier.ts'
import type { PeerErrorEvent } from './net/transport.ts'
import type { StaleEvent } from './observe/audit.ts'
import type { ClockSkewEvent } from './observe/clock-skew.ts'

/** A key's replicated state moved to a newer version (see MeshCache docs). */
export interface ChangeEvent {
  key: string
  kind: 'set' | 'delete' | 'invalidate'
  /** 'local' for this instance's writes, 'remote' for updates, 'repair' for anti-entropy. */
  source: 'local' | 'remote' | 'repair'
}

/** A frame refused: from which transport peer, and why (a MeshCacheError with an E_FRAME_* or E_VALUE_CODEC code). */
export interface FrameErrorEvent {
  peer: string
  error: MeshCacheError
}

/** A peer became reachable in this namespace (`peer:join`) or stopped being (`peer:leave`). */
export interface PeerEvent {
  /** The transport's id of the peer (libp2p peer id, or the memory node's name). */
  peer: string
}

/** Each event's payload: `cache.on(name, (payload) => …)`. */
export interface MeshCacheEventPayloads {
  evict: EvictEvent
  change: ChangeEvent
  frameError: FrameErrorEvent
  'peer:join': PeerEvent
  'peer:leave': PeerEvent
  'peer:error': PeerErrorEvent
  /** The staleness audit found a hit that served a replaced value (cache.audit, lib/observe/audit.ts). */
  stale: StaleEvent
  /** A failed L2 call, never thrown to callers (lib/tiers). */
  tierError: TierFailure
  /** A peer's timestamp was ahead of this instance's clock by more than `maxClockSkew` (lib/observe/clock-skew.ts); once a minute per origin and kind. */
  clockSkew: ClockSkewEvent
}

/** The same as Node's EventEmitter event map (each event's arguments). */
export type MeshCacheEvents = { [K in keyof MeshCacheEventPayloads]: [MeshCacheEventPayloads[K]] }
