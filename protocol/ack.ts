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
 *
 * In a partial mesh some members are not neighbours of the writer, and a
 * request reaches them hop by hop (SPEC §5.1):
 *
 *   relayAckRequest := ackId:varuint • origin:varstring • seq:varuint • wait:varuint
 *   relayAck        := ackId:varuint • origin:varstring • n:varuint • member:varstring*n
 *
 * A node passes a RELAY_ACK_REQUEST it has not seen on to its other
 * neighbours and remembers, for `wait` ms, the neighbour it came from; once
 * it has applied `origin`'s writes up to `seq` it sends that neighbour a
 * RELAY_ACK naming itself (its transport id), and it passes every RELAY_ACK
 * of that request on the same way, back to the writer (`origin`).
 */
import * as encoding from 'lib0/encoding'
import { MAX_MEMBER_ID_BYTES, MessageType, type DecodeLimits } from './constants.ts'
import { malformed, readCount, readString, readUint, type Decoder } from './reader.ts'
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

export function writeAckRequest (encoder: encoding.Encoder, msg: Omit<AckRequestMessage, 'type'>): void {
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

export interface RelayAckRequestMessage {
  type: typeof MessageType.RELAY_ACK_REQUEST
  ackId: number
  origin: string
  seq: number
  /** Milliseconds the writer waits: how long a node on the way keeps the way back. */
  wait: number
}

export interface RelayAckMessage {
  type: typeof MessageType.RELAY_ACK
  ackId: number
  /** The writer that asked: where the answer goes. */
  origin: string
  /** Transport ids of the members that applied the writes asked about. */
  members: readonly string[]
}

export function writeRelayAckRequest (encoder: encoding.Encoder, msg: RelayAckRequestMessage): void {
  writeAckRequest(encoder, msg)
  encoding.writeVarUint(encoder, msg.wait)
}

export function readRelayAckRequest (decoder: Decoder, limits: DecodeLimits): RelayAckRequestMessage {
  const { ackId, origin, seq } = readAckRequest(decoder, limits)
  return { type: MessageType.RELAY_ACK_REQUEST, ackId, origin, seq, wait: readUint(decoder, 'wait') }
}

export function writeRelayAck (encoder: encoding.Encoder, msg: RelayAckMessage): void {
  encoding.writeVarUint(encoder, msg.ackId)
  writeString(encoder, msg.origin)
  encoding.writeVarUint(encoder, msg.members.length)
  for (const member of msg.members) writeString(encoder, member)
}

export function readRelayAck (decoder: Decoder, limits: DecodeLimits): RelayAckMessage {
  const ackId = readUint(decoder, 'ack id')
  const origin = readString(decoder, 'origin id', limits.maxOriginBytes)
  if (origin.length === 0) throw malformed('empty origin id in RELAY_ACK')
  const n = readCount(decoder, 'members', limits.maxOrigins)
  if (n === 0) throw malformed('RELAY_ACK names no member')
  const members: string[] = []
  for (let i = 0; i < n; i++) {
    const member = readString(decoder, 'member id', MAX_MEMBER_ID_BYTES)
    if (member.length === 0) throw malformed('empty member id in RELAY_ACK')
    members.push(member)
  }
  return { type: MessageType.RELAY_ACK, ackId, origin, members }
}
