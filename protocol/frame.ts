/**
 * The frame dispatcher.
 *
 *   frame := version:varuint • type:varuint • body
 *
 * `decodeFrame` either returns a whole message or throws a MeshCacheError
 * with a stable code; it has no side effects, so a bad frame changes nothing.
 */
import * as encoding from 'lib0/encoding'
import { ErrorCode, MeshCacheError } from '../lib/errors.ts'
import { abandonInSlab, beginInSlab, endInSlab } from './bytes.ts'
import { DEFAULT_LIMITS, MessageType, PROTOCOL_VERSION, type DecodeLimits } from './constants.ts'
import { readAwareness, writeAwareness, type AwarenessMessage } from './awareness.ts'
import { malformed, newDecoder, readUint, tooLarge } from './reader.ts'
import { writeUint } from './writer.ts'
import { readSyncStep1, readSyncStep2, writeSyncStep1, writeSyncStep2, type SyncStep1Message, type SyncStep2Message } from './sync.ts'
import { readUpdates, writeUpdates, type UpdatesMessage } from './updates.ts'
import type { InternOrigin } from './record.ts'
import {
  readAck, readAckRequest, readRelayAck, readRelayAckRequest, writeAck, writeAckRequest, writeRelayAck, writeRelayAckRequest,
  type AckMessage, type AckRequestMessage, type RelayAckMessage, type RelayAckRequestMessage,
} from './ack.ts'
import { readDigest, writeDigest, type DigestMessage } from './digest.ts'

export type Message = UpdatesMessage | SyncStep1Message | SyncStep2Message | AwarenessMessage | AckRequestMessage | AckMessage | DigestMessage
  | RelayAckRequestMessage | RelayAckMessage

/**
 * One encoder for every frame (encoding is synchronous and never re-entered;
 * a fresh one allocates a 100-byte buffer outside the heap, ~1-3 µs on a cold
 * path). It writes each frame straight into the slab of bytes.ts, and the
 * frame is the slab's view of those bytes: no copy, no allocation but the
 * view, for the one-record frame a write at 1,000/s sends on a cold CPU.
 */
const scratch = encoding.createEncoder()

export function encodeFrame (msg: Message): Uint8Array {
  const encoder = scratch
  const start = beginInSlab(encoder)
  try {
    writeMessage(encoder, msg)
  } catch (err) {
    abandonInSlab(encoder)
    throw err
  }
  return endInSlab(encoder, start)
}

function writeMessage (encoder: encoding.Encoder, msg: Message): encoding.Encoder {
  writeUint(encoder, PROTOCOL_VERSION)
  writeUint(encoder, msg.type)
  switch (msg.type) {
    case MessageType.UPDATES: writeUpdates(encoder, msg); break
    case MessageType.SYNC_STEP1: writeSyncStep1(encoder, msg); break
    case MessageType.SYNC_STEP2: writeSyncStep2(encoder, msg); break
    case MessageType.AWARENESS: writeAwareness(encoder, msg); break
    case MessageType.ACK_REQUEST: writeAckRequest(encoder, msg); break
    case MessageType.ACK: writeAck(encoder, msg); break
    case MessageType.DIGEST: writeDigest(encoder, msg); break
    case MessageType.RELAY_ACK_REQUEST: writeRelayAckRequest(encoder, msg); break
    case MessageType.RELAY_ACK: writeRelayAck(encoder, msg); break
  }
  return encoder
}

/**
 * `intern` may map each origin id of a frame's origin table to an equal
 * string the caller already holds (see InternOrigin); it must not keep
 * anything itself, since the frame may still be refused.
 *
 * `dropValues` (a receiver's choice, SPEC §3.4): a value the receiver cannot
 * take does not refuse its frame; its record is read without it
 * (`droppedValueBytes`), so the write's state still merges, as an
 * invalidation of the key. Values over `maxValueBytes` are dropped, and in
 * an UPDATES or step-2 frame over `maxFrameBytes` every value is: the frame is
 * already in memory, and its records' metadata is bounded by the other limits.
 */
export function decodeFrame (frame: Uint8Array, limits: DecodeLimits = DEFAULT_LIMITS, intern?: InternOrigin, dropValues = false): Message {
  const oversized = frame.byteLength > limits.maxFrameBytes
  if (oversized && !(dropValues && carriesRecords(frame))) throw tooLarge('frame', frame.byteLength, limits.maxFrameBytes)
  if (oversized) {
    // Readable records are merged without their values; anything else is
    // refused as the strict decode would (the frame is over the limit).
    try {
      return decodeBody(frame, limits, intern, -1)
    } catch {
      throw tooLarge('frame', frame.byteLength, limits.maxFrameBytes)
    }
  }
  return decodeBody(frame, limits, intern, dropValues ? limits.maxValueBytes : undefined)
}

function decodeBody (frame: Uint8Array, limits: DecodeLimits, intern: InternOrigin | undefined, drop: number | undefined): Message {
  const decoder = newDecoder(frame)
  const version = readUint(decoder, 'version')
  if (version !== PROTOCOL_VERSION) {
    throw new MeshCacheError(ErrorCode.FRAME_VERSION, `frame version ${version} is not supported (this node speaks ${PROTOCOL_VERSION})`)
  }
  const type = readUint(decoder, 'message type')
  let msg: Message
  switch (type) {
    case MessageType.UPDATES: msg = readUpdates(decoder, limits, intern, drop); break
    case MessageType.SYNC_STEP1: msg = readSyncStep1(decoder, limits); break
    case MessageType.SYNC_STEP2: msg = readSyncStep2(decoder, limits, intern, drop); break
    case MessageType.AWARENESS: msg = readAwareness(decoder, limits); break
    case MessageType.ACK_REQUEST: msg = readAckRequest(decoder, limits); break
    case MessageType.ACK: msg = readAck(decoder); break
    case MessageType.DIGEST: msg = readDigest(decoder, limits); break
    case MessageType.RELAY_ACK_REQUEST: msg = readRelayAckRequest(decoder, limits); break
    case MessageType.RELAY_ACK: msg = readRelayAck(decoder, limits); break
    default: throw new MeshCacheError(ErrorCode.FRAME_TYPE, `message type ${type} is unknown`)
  }
  if (decoder.pos !== frame.length) throw malformed(`${frame.byteLength - decoder.pos} bytes follow the message`)
  return msg
}

/** Whether a frame claims a version and type whose body is records (UPDATES, SYNC_STEP2). */
function carriesRecords (frame: Uint8Array): boolean {
  // Both fields are one-byte varuints for every type this version knows.
  return frame[0] === PROTOCOL_VERSION && (frame[1] === MessageType.UPDATES || frame[1] === MessageType.SYNC_STEP2)
}
