/**
 * Writes on top of lib0's encoder, where lib0's own cost more than they need
 * on the hot path.
 */
import * as encoding from 'lib0/encoding'

/**
 * A string as varuint length • UTF-8 bytes, exactly as lib0's
 * `writeVarString`. Keys and origin ids are almost always ASCII: those go
 * straight into the encoder's buffer, a byte per character, where lib0
 * encodes into a side buffer through TextEncoder and copies it a byte (and
 * a call) at a time. Anything else goes through lib0.
 */
export function writeString (encoder: encoding.Encoder, s: string): void {
  const n = s.length
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(i) > 0x7f) { encoding.writeVarString(encoder, s); return }
  }
  writeUint(encoder, n)
  encoding.verifyLen(encoder, n)
  const buf = encoder.cbuf
  let pos = encoder.cpos
  for (let i = 0; i < n; i++) buf[pos++] = s.charCodeAt(i)
  encoder.cpos = pos
}

/**
 * A varuint exactly as lib0's `writeVarUint` writes it, straight into the
 * encoder's buffer (a safe integer takes at most 8 bytes), where lib0 calls
 * its byte writer, with a bounds check of its own, once a byte: a one-record
 * frame made 36 such calls.
 */
export function writeUint (encoder: encoding.Encoder, n: number): void {
  encoding.verifyLen(encoder, 8)
  const buf = encoder.cbuf
  let pos = encoder.cpos
  while (n > 0x7f) {
    buf[pos++] = 0x80 | (n & 0x7f) // the low 7 bits, past 2^31 too: 2^32 is a multiple of 128
    n = Math.floor(n / 128)
  }
  buf[pos++] = n & 0x7f // as lib0 masks it (the same byte for any valid n)
  encoder.cpos = pos
}
