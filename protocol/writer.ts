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
  encoding.writeVarUint(encoder, n)
  encoding.verifyLen(encoder, n)
  const buf = encoder.cbuf
  let pos = encoder.cpos
  for (let i = 0; i < n; i++) buf[pos++] = s.charCodeAt(i)
  encoder.cpos = pos
}
