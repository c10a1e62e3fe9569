/**
 * DIGEST: how far the sender has seen each origin, sent to its neighbours
 * only (never relayed), in a partial mesh (SPEC.md §5, §11.1).
 *
 *   digest := stateVector
 *
 * The entries are the sender's state vector, or the part of it that moved
 * since its last digest. A receiver behind an entry asks the sender
 * (anti-entropy): the sender holds everything it counts, so a write lost on
 * its way to the receiver is repaired from the nearest neighbour that has
 * it, however far the writer is.
 */
import type * as encoding from 'lib0/encoding'
import { MessageType, type DecodeLimits } from './constants.ts'
import type { Decoder } from './reader.ts'
import { readStateVector, writeStateVector, type StateVector } from './sync.ts'

export interface DigestMessage {
  type: typeof MessageType.DIGEST
  sv: StateVector
}

export function writeDigest (encoder: encoding.Encoder, msg: DigestMessage): void {
  writeStateVector(encoder, msg.sv)
}

export function readDigest (decoder: Decoder, limits: DecodeLimits): DigestMessage {
  return { type: MessageType.DIGEST, sv: readStateVector(decoder, limits) }
}
