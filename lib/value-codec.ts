/**
 * How replicate mode turns values into bytes and back. Invalidate mode never
 * serialises values: only keys and versions travel.
 */
import { ErrorCode, MeshCacheError } from './errors.ts'

export interface ValueCodec<V> {
  encode(value: V): Uint8Array
  decode(bytes: Uint8Array): V
  /**
   * Whether `decode` gets a copy of the bytes it may keep (the default), or,
   * when `false`, a view into the received frame that is valid only during
   * the call. A codec that keeps no reference to its input (JSON; msgpackr or
   * cbor-x with `copyBuffers`) sets `false` and spares a copy per value.
   * @default true
   */
  readonly copyInput?: boolean
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * JSON: portable between versions and languages, and safe on untrusted
 * bytes. A value JSON cannot carry as a value (a function, a symbol, a
 * `toJSON` returning undefined, NaN or ±Infinity, which become `null`) is
 * refused at `set`, not discovered by every receiver. Inside an object or
 * array JSON's own rules apply (`undefined` members vanish, NaN becomes null).
 */
export const jsonCodec: ValueCodec<unknown> = {
  encode: (value) => {
    const text: unknown = JSON.stringify(value)
    if (typeof text !== 'string' || text === 'null') throw new TypeError(`${describe(value)} has no JSON value`)
    return encoder.encode(text)
  },
  decode: (bytes) => JSON.parse(decoder.decode(bytes)),
  // JSON.parse keeps nothing of its input.
  copyInput: false,
}

function describe (value: unknown): string {
  return typeof value === 'number' ? String(value) : `a ${typeof value}`
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

/** Decodes a value received in a frame; `bytes` may be a view into the frame (see `copyInput`). */
export function decodeValue<V> (codec: ValueCodec<V>, key: string, bytes: Uint8Array): V {
  let value: V
  try {
    value = codec.decode(codec.copyInput === false ? bytes : bytes.slice())
  } catch (cause) {
    throw new MeshCacheError(ErrorCode.VALUE_CODEC, `value of key ${JSON.stringify(key)} cannot be decoded`, { cause })
  }
  // set() refuses these locally; a peer must not slip one in either.
  if (value === undefined || value === null) {
    throw new MeshCacheError(ErrorCode.VALUE_CODEC, `value of key ${JSON.stringify(key)} decodes to ${String(value)}`)
  }
  return value
}
