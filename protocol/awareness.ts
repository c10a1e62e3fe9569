/**
 * AWARENESS: membership, carried as a y-protocols awareness update.
 *
 *   awareness := update:varbytes
 *
 * The update's own layout is y-protocols' (its protocol description);
 * meshcache only frames it.
 */
import * as encoding from 'lib0/encoding'
import { MessageType, type DecodeLimits } from './constants.ts'
import { readBytes, type Decoder } from './reader.ts'

export interface AwarenessMessage {
  type: typeof MessageType.AWARENESS
  update: Uint8Array
}

export function writeAwareness (encoder: encoding.Encoder, msg: AwarenessMessage): void {
  encoding.writeVarUint8Array(encoder, msg.update)
}

export function readAwareness (decoder: Decoder, limits: DecodeLimits): AwarenessMessage {
  return { type: MessageType.AWARENESS, update: readBytes(decoder, 'awareness update', limits.maxFrameBytes) }
}
