/**
 * Byte arrays for frames and envelopes, cut from Node's shared 8 KB pool (as
 * `Buffer.allocUnsafe` does) when small: a `new Uint8Array(n)` over 64 bytes
 * gets a buffer of its own outside the heap, ~1-3 µs on a cold path, and a
 * write at 1,000/s runs its whole path cold. The result is a plain
 * Uint8Array view, so `slice` copies as callers expect, and a pool slice is
 * never handed out twice. The caller fills every byte.
 */
export function pooledBytes (length: number): Uint8Array {
  const pooled = Buffer.allocUnsafe(length)
  return new Uint8Array(pooled.buffer, pooled.byteOffset, length)
}
