/**
 * Bounded reads on top of lib0's decoder. lib0's readers trust lengths
 * (`readUint8Array` silently clamps a slice past the end), so every length and
 * count read from a frame is checked here before it is used.
 */
import * as decoding from 'lib0/decoding'
import { ErrorCode, MeshCacheError } from '../lib/errors.ts'

const utf8 = new TextDecoder('utf-8', { fatal: true })

export type Decoder = decoding.Decoder

/**
 * A decoder over `frame`: lib0's shape (its readers take it), as a plain object. Every frame a receiver reads
 * starts here, and lib0's `createDecoder` is two calls (a function and a constructor) on that cold path.
 */
export function newDecoder (frame: Uint8Array): Decoder {
  return { arr: frame, pos: 0 }
}

export function truncated (what: string): MeshCacheError {
  return new MeshCacheError(ErrorCode.FRAME_TRUNCATED, `frame ends inside ${what}`)
}

export function tooLarge (what: string, size: number, limit: number): MeshCacheError {
  return new MeshCacheError(ErrorCode.FRAME_TOO_LARGE, `${what} is ${size}, over the limit of ${limit}`)
}

export function malformed (problem: string): MeshCacheError {
  return new MeshCacheError(ErrorCode.FRAME_MALFORMED, problem)
}

/**
 * A varuint, as lib0's `readVarUint` reads it, bounds checked. Read here rather than through lib0 (and a
 * try/catch around it): a receiver reads ten or so of these a frame, on a cold CPU at modest rates.
 */
export function readUint (decoder: Decoder, what: string): number {
  const arr = decoder.arr
  const len = arr.length
  let pos = decoder.pos
  let num = 0
  let mult = 1
  while (pos < len) {
    const r = arr[pos++] as number
    num += (r & 0x7f) * mult
    if (r < 0x80) {
      decoder.pos = pos
      // lib0 checks the range only between bytes, not after the last one: inexact numbers up to 2^56, and NaN
      // after a long run of 0x80 bytes (Infinity would hang writeVarUint when re-encoded). So it is checked here.
      if (!Number.isSafeInteger(num)) throw notSafe(what)
      return num
    }
    mult *= 128
    if (num > Number.MAX_SAFE_INTEGER) { decoder.pos = pos; throw notSafe(what) }
  }
  decoder.pos = pos
  throw truncated(what)
}

function notSafe (what: string): MeshCacheError {
  return new MeshCacheError(ErrorCode.FRAME_MALFORMED, `${what} is not a safe integer`)
}

export function readByte (decoder: Decoder, what: string): number {
  if (decoder.pos >= decoder.arr.length) throw truncated(what)
  return decoder.arr[decoder.pos++] as number
}

/** A count that must not exceed `limit`. */
export function readCount (decoder: Decoder, what: string, limit: number): number {
  const n = readUint(decoder, what)
  if (n > limit) throw tooLarge(what, n, limit)
  return n
}

/** Length-prefixed bytes, copied: what outlives the frame must not pin the frame's buffer. */
export function readBytes (decoder: Decoder, what: string, limit: number): Uint8Array {
  return readBytesView(decoder, what, limit).slice()
}

/**
 * Length-prefixed bytes as a view into the frame, valid as long as the
 * frame's buffer is: for bytes consumed before the frame is let go. A view
 * also spares native decoders (TextDecoder) a cost: a small copy lives on
 * V8's heap, and handing it to native code moves it off first (~0.4 µs for
 * a 10-byte value, against ~0.08 µs for the view; bench/core, replicate mode).
 */
export function readBytesView (decoder: Decoder, what: string, limit: number): Uint8Array {
  const len = readUint(decoder, `${what} length`)
  if (len > limit) throw tooLarge(what, len, limit)
  if (len > decoder.arr.length - decoder.pos) throw truncated(what)
  return decoding.readUint8Array(decoder, len)
}

/**
 * Keys and origin ids are almost always ASCII, and ASCII bytes read as
 * Latin-1 are the same text: Buffer's Latin-1 slice makes the string with
 * no UTF-8 decoding (71 against 92 ns a string hot, here, and a frame carries
 * at least two). A string with any byte over 0x7f goes through TextDecoder,
 * which also validates UTF-8.
 */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice?: (this: Uint8Array, start: number, end: number) => string }).latin1Slice

export function asciiText (bytes: Uint8Array, start: number, len: number): string | undefined {
  const end = start + len
  for (let i = start; i < end; i++) if ((bytes[i] as number) > 0x7f) return undefined
  return latin1Slice?.call(bytes, start, end)
}

export function readString (decoder: Decoder, what: string, limit: number): string {
  return readStringOf(decoder, readUint(decoder, `${what} length`), what, limit)
}

/** The `len` bytes at the decoder's position as a string (a string's body, its length read already). */
export function readStringOf (decoder: Decoder, len: number, what: string, limit: number): string {
  if (len > limit) throw tooLarge(what, len, limit)
  if (len > decoder.arr.length - decoder.pos) throw truncated(what)
  const text = asciiText(decoder.arr, decoder.pos, len)
  if (text !== undefined) { decoder.pos += len; return text }
  const bytes = decoding.readUint8Array(decoder, len)
  try {
    return utf8.decode(bytes)
  } catch (cause) {
    throw new MeshCacheError(ErrorCode.FRAME_MALFORMED, `${what} is not valid UTF-8`, { cause })
  }
}
