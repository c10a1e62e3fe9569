/**
 * Byte arrays for frames and envelopes, cut from a slab of our own. A write
 * at 1,000/s runs its whole path on a cold CPU, where every allocation and
 * copy shows:
 * - a `new Uint8Array(n)` over 64 bytes gets a buffer of its own outside the
 *   heap (~1-3 µs cold);
 * - Node's `Buffer.allocUnsafe` pools, but through four functions and two
 *   objects (the Buffer, then a plain view of it);
 * - a frame encoded into a scratch buffer is then copied out.
 *
 * So a frame is encoded straight into the slab's free part (`beginInSlab` /
 * `endInSlab`) and handed out as a view of it, and other small arrays are one
 * view each (`pooledBytes`). Views are plain Uint8Arrays (`slice` copies as
 * callers expect), never handed out twice, and a slab lives as long as any
 * view of it, as Node's pool does.
 */
import type * as encoding from 'lib0/encoding'

const SLAB_BYTES = 8 * 1024
/** Larger arrays get their own buffer: a slab is not pinned by one big frame. */
const MAX_POOLED = SLAB_BYTES >>> 1
/** A frame starts on a fresh slab when less than this is free, so that a small one seldom outgrows its slab. */
const MIN_FREE = 512

let slab = new ArrayBuffer(SLAB_BYTES)
/** The whole slab from offset 0, as an encoder's buffer must be (lib0 cuts its pieces from offset 0 of `cbuf.buffer`). */
let slabView = new Uint8Array(slab)
let used = 0

function freshSlab (): void {
  slab = new ArrayBuffer(SLAB_BYTES)
  slabView = new Uint8Array(slab)
  used = 0
}

export function pooledBytes (length: number): Uint8Array {
  if (length > MAX_POOLED) return new Uint8Array(length)
  if (used + length > SLAB_BYTES) freshSlab()
  const out = new Uint8Array(slab, used, length)
  used += length
  return out
}

/**
 * Points an empty encoder at the slab's free part; returns where its bytes
 * start. Nothing may cut from the slab until `endInSlab`.
 */
export function beginInSlab (encoder: encoding.Encoder): number {
  if (SLAB_BYTES - used < MIN_FREE) freshSlab()
  encoder.cbuf = slabView
  encoder.cpos = used
  return used
}

/**
 * The bytes written since `begin` returned `start`, as one array, and the
 * encoder emptied. A frame that outgrew the slab (lib0 then moved on to
 * buffers of its own) is copied out of its pieces into its own array.
 */
export function endInSlab (encoder: encoding.Encoder, start: number): Uint8Array {
  const pieces = encoder.bufs
  if (pieces.length === 0) {
    const out = new Uint8Array(slab, start, encoder.cpos - start)
    used = encoder.cpos
    return out
  }
  // pieces[0] is the slab from offset 0: this frame's bytes in it begin at `start`
  let length = encoder.cpos - start
  for (const piece of pieces) length += piece.length
  const out = new Uint8Array(length)
  let pos = 0
  for (let i = 0; i < pieces.length; i++) {
    const piece = i === 0 ? (pieces[0] as Uint8Array).subarray(start) : pieces[i] as Uint8Array
    out.set(piece, pos)
    pos += piece.length
  }
  out.set(encoder.cbuf.subarray(0, encoder.cpos), pos)
  abandonInSlab(encoder) // nothing past `used` was handed out: the slab's free part is free still
  return out
}

/** Empties an encoder whose frame was not finished (it threw): what it wrote in the slab is free again. */
export function abandonInSlab (encoder: encoding.Encoder): void {
  encoder.bufs.length = 0
  encoder.cbuf = slabView
  encoder.cpos = used
}

/** The bytes of `n` (a safe integer ≥ 0) as a varuint: lib0's encoding, which envelopes and frames share. */
export function uvarintLength (n: number): number {
  let len = 1
  while (n >= 0x80) { n = Math.floor(n / 128); len++ }
  return len
}

/** Writes `n` as a varuint at `pos` of `buf` (room checked by the caller); returns the position after it. */
export function putUvarint (buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 128) | 0x80
    n = Math.floor(n / 128)
  }
  buf[pos++] = n
  return pos
}

/** Whether every character of `s` is ASCII (one byte each, as written by `putAscii`). */
export function isAscii (s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

/** Writes the ASCII string `s` (`isAscii`) as varuint length and bytes at `pos` (room checked by the caller); returns the position after it. */
export function putAscii (buf: Uint8Array, pos: number, s: string): number {
  pos = putUvarint(buf, pos, s.length)
  for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i)
  return pos
}
