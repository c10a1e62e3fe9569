/**
 * Acknowledgements, sent only when a writer asks (`whenReplicated`):
 *
 *   ackRequest := ackId:varuint • origin:varstring • seq:varuint
 *   ack        := ackId:varuint • seq:varuint
 *
 * ACK_REQUEST asks the receiver to confirm once it has applied every write
 * of `origin` up to `seq` (its contiguous sequence of that origin reaches
 * `seq`). ACK answers with that contiguous sequence, and echoes `ackId` so
 * the writer matches it to its call. An ACK below the asked `seq` is an
 * answer that says "not yet": the writer keeps waiting.
 */
import * as encoding from 'lib0/encoding'
import { MessageType, type DecodeLimits } from './constants.ts'
import { malformed, readString, readUint, type Decoder } from './reader.ts'
import { writeString } from './writer.ts'

export interface AckRequestMessage {
  type: typeof MessageType.ACK_REQUEST
  ackId: number
  origin: string
  seq: number
}

export interface AckMessage {
  type: typeof MessageType.ACK
  ackId: number
  seq: number
}

export function writeAckRequest (encoder: encoding.Encoder, msg: AckRequestMessage): void {
  encoding.writeVarUint(encoder, msg.ackId)
  writeString(encoder, msg.origin)
  encoding.writeVarUint(encoder, msg.seq)
}

export function readAckRequest (decoder: Decoder, limits: DecodeLimits): AckRequestMessage {
  const ackId = readUint(decoder, 'ack id')
  const origin = readString(decoder, 'origin id', limits.maxOriginBytes)
  if (origin.length === 0) throw malformed('empty origin id in ACK_REQUEST')
  return { type: MessageType.ACK_REQUEST, ackId, origin, seq: readUint(decoder, 'sequence') }
}

export function writeAck (encoder: encoding.Encoder, msg: AckMessage): void {
  encoding.writeVarUint(encoder, msg.ackId)
  encoding.writeVarUint(encoder, msg.seq)
}

export function readAck (decoder: Decoder): AckMessage {
  const ackId = readUint(decoder, 'ack id')
  return { type: MessageType.ACK, ackId, seq: readUint(decoder, 'sequence') }
}
