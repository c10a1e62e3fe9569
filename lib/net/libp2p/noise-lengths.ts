/**
 * Noise's inbound length decoder, without an exception per chunk.
 *
 * `@chainsafe/libp2p-noise` (17, `utils.js#EncryptedMessageStream`) splits
 * its input with `@libp2p/utils`' LengthPrefixedDecoder and a `uint16BEDecode`
 * that throws a RangeError when fewer than 2 bytes are buffered; the decoder
 * catches it to stop. That happens at the end of every chunk received, so
 * every message costs a `new RangeError` with its stack trace captured from
 * deep inside the socket callback. Profiled on a bench:mesh receiver
 * (1,000 frames/s): the single largest self time of the process, ~15 µs per
 * frame, more than yamux, Noise's decryption and pnet together.
 *
 * The replacement returns the same lengths, and for fewer than 2 bytes a
 * length that cannot be complete yet (the decoder's own maximum, which it
 * accepts, and which 1 buffered byte cannot hold), so the decoder stops
 * without the exception. The bytes, the limits and every error path for bad
 * input are unchanged.
 */

/** The parts of LengthPrefixedDecoder (`@libp2p/utils`) this relies on. */
interface LengthDecoderHost {
  lengthDecoder: (data: ByteSource) => number
  encodingLength: (n: number) => number
  maxDataLength: number
  decode: unknown
}

/** A Uint8Array or a Uint8ArrayList (both have `length`; a list has `get`). */
type ByteSource = Uint8Array | { length: number, get: (i: number) => number }

function isHost (d: unknown): d is LengthDecoderHost {
  if (typeof d !== 'object' || d === null) return false
  const h = d as Partial<LengthDecoderHost>
  return typeof h.lengthDecoder === 'function' && typeof h.encodingLength === 'function' &&
    typeof h.maxDataLength === 'number' && typeof h.decode === 'function' && h.encodingLength(0) === 2
}

const patched = new WeakSet<object>()

/**
 * Swaps the length decoder of a Noise-encrypted connection (the message
 * stream Noise returns, which libp2p hands to the muxer). Anything else is
 * left alone; returns whether the stream was changed.
 */
export function quietNoiseLengths (stream: unknown): boolean {
  if (typeof stream !== 'object' || stream === null) return false
  const decoder = (stream as { decoder?: unknown }).decoder
  if (!isHost(decoder) || patched.has(decoder)) return false
  const incomplete = decoder.maxDataLength
  decoder.lengthDecoder = (data: ByteSource): number => {
    if (data.length < 2) return incomplete
    if (data instanceof Uint8Array) return ((data[0] as number) << 8) | (data[1] as number)
    return (data.get(0) << 8) | data.get(1)
  }
  patched.add(decoder)
  return true
}
