/**
 * How replicate mode turns values into bytes and back. Invalidate mode never
 * serialises values: only keys and versions travel.
 */
import v8 from 'node:v8'
import { Packr as MsgPackr } from 'msgpackr'
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

/** The codecs a cache can name in its `codec` option; anything else is a custom `ValueCodec`. */
export type CodecName = 'v8' | 'msgpack' | 'json'

/**
 * JSON: portable between versions and languages, and safe on untrusted
 * bytes, but it carries only plain data. Anything it would silently change
 * is refused at `set` (E_VALUE_CODEC), not discovered by every receiver: a
 * `Date` (it would come back a string), a `Map`, `Set` or typed array (`{}`
 * or `{"0":…}`), a class instance (a plain object), a bigint, a function or
 * symbol, `undefined` inside an object or array, NaN or ±Infinity (`null`).
 */
export const jsonCodec: ValueCodec<unknown> = {
  encode: (value) => {
    assertRoundTrips(value, JSON_PROTOTYPES, 'json')
    return encoder.encode(JSON.stringify(value))
  },
  decode: (bytes) => JSON.parse(decoder.decode(bytes)),
  // JSON.parse keeps nothing of its input.
  copyInput: false,
}

/**
 * V8's structured serialization (`node:v8`): what
 * `structuredClone` and worker messages carry. `Date`, `Map`, `Set`,
 * `RegExp`, `Error`, typed arrays, `ArrayBuffer`, bigint, `undefined`, NaN
 * and cyclic or shared references come back as they went. A class instance
 * would come back a plain object, so it is refused, as are functions and
 * symbols. The format is V8's: a Node release reads what older ones wrote,
 * not always the reverse, so a mesh mixing Node majors should pin `json` or
 * `msgpack` during the upgrade (SPEC.md §3).
 */
export const v8Codec: ValueCodec<unknown> = {
  encode: (value) => {
    assertRoundTrips(value, CLONE_PROTOTYPES, 'v8')
    return v8.serialize(value)
  },
  decode: (bytes) => v8.deserialize(bytes),
  // deserialize copies what it keeps (typed arrays included).
  copyInput: false,
}

/** The subset of msgpackr's Packr that the msgpack codec uses. */
export interface Packr {
  pack (value: unknown): Uint8Array
  unpack (bytes: Uint8Array): unknown
}

/**
 * MessagePack through msgpackr, the default, with records and structured
 * cloning (MSGPACK_OPTIONS): the same values as v8 (`Date`, `Map`, `Set`,
 * typed arrays, bigint, cycles; class instances refused the same way), in a
 * format that does not change with the Node release and that other
 * languages read. Each value carries its record definitions inline, so any
 * receiver decodes it without shared state. `msgpackCodec(new Packr(…))`
 * builds one with other msgpackr options.
 */
export function msgpackCodec (packr: Packr): ValueCodec<unknown> {
  return {
    encode: (value) => {
      assertRoundTrips(value, CLONE_PROTOTYPES, 'msgpack')
      return packr.pack(value)
    },
    decode: (bytes) => packr.unpack(bytes),
    // Decoded buffers are copies here (msgpackr copies unless told not to).
    copyInput: false,
  }
}

/** The codec for a `codec` option: a name, a custom codec, or the default. */
export function resolveCodec<V> (codec: CodecName | ValueCodec<V> | undefined): ValueCodec<V> {
  if (codec === undefined || codec === 'msgpack') return defaultMsgpack as ValueCodec<V>
  if (codec === 'json') return jsonCodec as ValueCodec<V>
  if (codec === 'v8') return v8Codec as ValueCodec<V>
  return codec
}

/**
 * The default codec's name, chosen by measurement (bench/core codecs, SPEC.md
 * §12): msgpack applied and encoded fastest of the three faithful options.
 */
export const DEFAULT_CODEC: CodecName = 'msgpack'
/** Records (a shape's keys written once per value), structured clone (cycles, Map, Set, Date…), and more types (typed arrays, RegExp, Error). */
export const MSGPACK_OPTIONS = { useRecords: true, structuredClone: true, moreTypes: true } as const
const defaultMsgpack = msgpackCodec(new MsgPackr(MSGPACK_OPTIONS))

const JSON_PROTOTYPES: ReadonlySet<object | null> = new Set([Object.prototype, Array.prototype, null])

const TYPED_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array]
const CLONE_PROTOTYPES: ReadonlySet<object | null> = new Set<object | null>([
  Object.prototype, Array.prototype, null, Date.prototype, RegExp.prototype, Map.prototype, Set.prototype,
  ArrayBuffer.prototype, DataView.prototype, Buffer.prototype,
  Error.prototype, EvalError.prototype, RangeError.prototype, ReferenceError.prototype, SyntaxError.prototype, TypeError.prototype, URIError.prototype,
  ...TYPED_ARRAYS.map((t) => t.prototype),
])

/**
 * Throws a TypeError naming the first part of `value` that `codec` would not
 * bring back as it is: a function or symbol anywhere, an object whose
 * prototype is not one the codec rebuilds (a class instance), and for JSON
 * also what JSON changes (bigint, undefined, NaN, ±Infinity). Walks the
 * whole value once (cycles included) at `set`; receivers never pay it.
 */
function assertRoundTrips (value: unknown, prototypes: ReadonlySet<object | null>, codec: CodecName): void {
  const json = codec === 'json'
  const seen = new Set<object>()
  const walk = (v: unknown, path: string): void => {
    switch (typeof v) {
      case 'string': case 'boolean': return
      case 'number':
        if (json && !Number.isFinite(v)) throw new TypeError(`${path} is ${v}, which JSON turns into null`)
        return
      case 'bigint':
        if (json) throw new TypeError(`${path} is a bigint, which JSON cannot carry`)
        return
      case 'undefined':
        if (json) throw new TypeError(`${path} is undefined, which JSON drops`)
        return
      case 'function': case 'symbol':
        throw new TypeError(`${path} is a ${typeof v}, which no codec carries`)
    }
    if (v === null) return
    const o = v as object
    if (seen.has(o)) {
      if (json) throw new TypeError(`${path} refers back to an enclosing object, which JSON cannot carry`)
      return
    }
    const proto = Object.getPrototypeOf(o) as object | null
    if (!prototypes.has(proto)) {
      const name = (proto as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'an exotic object'
      throw new TypeError(`${path} is ${json ? `a ${name}, which JSON does not bring back (use codec 'v8' or 'msgpack')` : `an instance of ${name}, which would come back a plain object`}`)
    }
    if (ArrayBuffer.isView(o) || o instanceof ArrayBuffer || o instanceof Date || o instanceof RegExp) return
    seen.add(o)
    if (o instanceof Map) {
      for (const [k, x] of o) { walk(k, `${path} (a Map key)`); walk(x, `${path}.get(${String(k)})`) }
    } else if (o instanceof Set) {
      for (const x of o) walk(x, `${path} (a Set member)`)
    } else {
      for (const k of Object.keys(o)) walk((o as Record<string, unknown>)[k], `${path}.${k}`)
    }
    // JSON: `seen` holds the ancestors (a cycle throws, a shared object is
    // written twice and comes back equal). Clone codecs keep every object
    // seen, so shared and cyclic ones are walked once.
    if (json) seen.delete(o)
  }
  walk(value, 'the value')
}

export function encodeValue<V> (codec: ValueCodec<V>, key: string, value: V): Uint8Array {
  let bytes: Uint8Array | undefined
  try {
    bytes = codec.encode(value)
  } catch (cause) {
    throw new MeshCacheError(ErrorCode.VALUE_CODEC, `value of key ${JSON.stringify(key)} cannot be encoded: ${(cause as Error)?.message ?? String(cause)}`, { cause })
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
