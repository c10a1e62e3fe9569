/**
 * What a relay that deduplicates (gossipsub's message id) should call a
 * frame. An UPDATES frame is its origin and first sequence number: no other
 * frame carries those writes, so two different frames never share an id,
 * even byte-identical ones, and a frame seen twice is the same frame. Other
 * frames (awareness) have no such identity: undefined, and the relay falls
 * back to a hash of the bytes. Reads only the header; a malformed header
 * gives undefined too (the receiver's decoder refuses the frame itself).
 */
import { DEFAULT_LIMITS, MessageType, PROTOCOL_VERSION } from './constants.ts'
import { readOrigins } from './record.ts'
import { newDecoder, readUint } from './reader.ts'

export function updatesFrameId (frame: Uint8Array): string | undefined {
  try {
    const decoder = newDecoder(frame)
    if (readUint(decoder, 'version') !== PROTOCOL_VERSION) return undefined
    if (readUint(decoder, 'message type') !== MessageType.UPDATES) return undefined
    const origins = readOrigins(decoder, DEFAULT_LIMITS)
    const origin = origins[readUint(decoder, 'origin')]
    if (origin === undefined) return undefined
    const firstSeq = readUint(decoder, 'first sequence number')
    return `${origin}/${firstSeq}`
  } catch {
    return undefined
  }
}
