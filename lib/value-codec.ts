/**
 * How replicate mode turns values into bytes and back. Invalidate mode never
 * serialises values: only keys and versions travel.
 */
import { ErrorCode, MeshCacheError } from './errors.ts'

export interface ValueCodec<V> {
  encode(value: V): Uint8Array
  decode(bytes: Uint8Array): V
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** JSON: portable between versions and languages, and safe on untrusted bytes. */
export const jsonCodec: ValueCodec<unknown> = {
  encode: (value) => encoder.encode(JSON.stringify(value)),
  decode: (bytes) => JSON.parse(decoder.decode(bytes)),
}

export function encodeValue<V> (codec: ValueCodec<V>, key: string, value: V): Uint8Array {
  let bytes: Uint8Array | undefined
  try {
    bytes = codec.encode(value)
  } catch (cause) {
    throw new MeshCacheError(ErrorCode.VALUE_CODEC, `value of key ${JSON.stringify(key)} cannot be encoded`, { cause })
  }
  if (!(bytes instanceof Uint8Array)) {
    throw new MeshCacheError(ErrorCode.VALUE_CODEC, `value codec returned ${typeof bytes} for key ${JSON.stringify(key)}, not a Uint8Array`)
  }
  return bytes
}

export function decodeValue<V> (codec: ValueCodec<V>, key: string, bytes: Uint8Array): V {
  try {
    return codec.decode(bytes)
  } catch (cause) {
    throw new MeshCacheError(ErrorCode.VALUE_CODEC, `value of key ${JSON.stringify(key)} cannot be decoded`, { cause })
  }
}
