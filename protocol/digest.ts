/**
 * DIGEST: how far the sender has seen each origin, sent to its neighbours
 * only (never relayed), in a partial mesh (SPEC.md §5, §8, §11.1), with the
 * membership states that moved at the sender since its last tick.
 *
 *   digest := stateVector • update:varbytes
 *
 * The entries are the part of the sender's state vector the receiver is not
 * known to have (all of it now and then). A receiver behind an entry asks
 * the sender (anti-entropy): the sender holds everything it counts, so a
 * write lost on its way to the receiver is repaired from the nearest
 * neighbour that has it, however far the writer is. `update` is a y-protocols
 * awareness update (as in AWARENESS), empty when no state moved: renewals
 * cross the mesh hop by hop in these frames instead of being relayed to all.
 */
import * as encoding from 'lib0/encoding'
import { MessageType, type DecodeLimits } from './constants.ts'
import { readBytes, type Decoder } from './reader.ts'
import { readStateVector, writeStateVector, type StateVector } from './sync.ts'

export interface DigestMessage {
  type: typeof MessageType.DIGEST
  sv: StateVector
  /** Awareness states that moved at the sender (a y-protocols update), or empty. */
  update: Uint8Array
}

export function writeDigest (encoder: encoding.Encoder, msg: DigestMessage): void {
  writeStateVector(encoder, msg.sv)
  encoding.writeVarUint8Array(encoder, msg.update)
}

export function readDigest (decoder: Decoder, limits: DecodeLimits): DigestMessage {
  const sv = readStateVector(decoder, limits)
  return { type: MessageType.DIGEST, sv, update: readBytes(decoder, 'awareness update', limits.maxFrameBytes) }
}
