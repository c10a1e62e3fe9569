/**
 * Where each incoming frame goes: decoded once (bounds checked against the
 * cache's limits), then handed to the part that owns its message type. Kept
 * out of MeshCache, which only counts frames and reports the ones refused.
 */
import { decodeFrame, type Message } from '../../protocol/frame.ts'
import { decodeLone, loneMessage } from '../../protocol/lone.ts'
import { MessageType } from '../../protocol/constants.ts'
import type { Replica } from '../core/replica.ts'
import type { ResolvedOptions } from '../options.ts'
import type { ReplicationAcks } from './replication-acks.ts'
import type { Replication } from './replication.ts'

export interface FrameRoutes<V extends {}> {
  limits: ResolvedOptions<V>['limits']
  replica: Replica<V>
  repl: Replication<V>
  acks: ReplicationAcks
}

/** Applies one frame from `from`. Throws (a MeshCacheError, or what a part threw) for a frame that cannot be taken. */
export function dispatchFrame<V extends {}> (from: string, frame: Uint8Array, r: FrameRoutes<V>): void {
  // Values this instance cannot take are read as absent (SPEC §3.4): their
  // records merge as invalidations, and the replica reports them.
  dispatchMessage(from, decodeLone(frame, r.limits, r.replica.canonicalOrigin) ?? decodeFrame(frame, r.limits, r.replica.canonicalOrigin, true), r)
}

/** Applies the lone write a transport carried as its fields (Transport's `onLone`): as its frame would be. */
export function dispatchLone<V extends {}> (from: string, origin: string, seq: number, key: string, kind: number, hlc: number, r: FrameRoutes<V>): void {
  dispatchMessage(from, loneMessage(origin, seq, key, kind, hlc, r.limits, r.replica.canonicalOrigin), r)
}

/** Applies one decoded message from `from`. Throws as `dispatchFrame` does. */
function dispatchMessage<V extends {}> (from: string, msg: Message, r: FrameRoutes<V>): void {
  switch (msg.type) {
    case MessageType.UPDATES: if (r.replica.applyUpdates(from, msg)) r.repl.request(from); break
    case MessageType.SYNC_STEP1: r.repl.onStep1(from, msg); break
    case MessageType.SYNC_STEP2: r.repl.onStep2(from, msg); break
    case MessageType.AWARENESS: r.repl.onAwareness(from, msg.update); break
    case MessageType.ACK_REQUEST:
      r.acks.onRequest(from, msg)
      // It names the asker's last number, as its membership summary does (§5.1): a gap is repaired now, not at
      // the asker's next announcement, which whenReplicated would wait for.
      r.repl.heardNumber(msg.origin, msg.seq, from)
      break
    case MessageType.RELAY_ACK_REQUEST:
      r.acks.onRelayRequest(from, msg)
      r.repl.heardNumber(msg.origin, msg.seq, from) // as above: a gap is repaired with the neighbour it came through
      break
    case MessageType.ACK: r.acks.onAck(from, msg); break
    case MessageType.RELAY_ACK: r.acks.onRelayAck(from, msg); break
    case MessageType.DIGEST: r.repl.onDigest(from, msg.sv, msg.update); break
  }
  // An applied frame may complete what a whenReplicated() waits for.
  r.acks.recheck()
}
