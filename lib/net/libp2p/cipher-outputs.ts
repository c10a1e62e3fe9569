/**
 * Outputs of the two per-message ciphers from Node's buffer pool.
 *
 * Noise's cipher for messages under 1,200 bytes (`@chainsafe/as-chacha20poly1305`'s
 * `seal`) and pnet's (`xsalsa20`'s `update`) each return a `new Uint8Array(n)`,
 * one per message sent (and, for pnet, per chunk received). V8 keeps a typed
 * array of up to 64 bytes on its heap and allocates a larger one's memory
 * outside it, through the embedder: ~0.6 µs against ~30 ns here, and each such
 * buffer is later swept by the GC. A one-record frame, sealed with Yamux's
 * header and Noise's tag (~85 bytes), is past that limit where the bench floor's
 * frames (~45) are not: on a writer, sending a frame to four peers, `seal` held
 * 79 ms of self time in 8 s of 1,000 writes/s against the floor's 10, and pnet's
 * `update` 27 against under 4 (CPU profiles, bench:mesh).
 *
 * With no output passed, each now writes into `Buffer.allocUnsafe(n)`, a slice
 * of Node's 8 KiB pool for n under 4 KiB (a plain allocation above). Every
 * byte of it is written (the ciphertext and the tag; the XOR of the whole
 * input), so nothing of the pool's old content leaks. A Buffer also spares
 * the socket write its conversion of a Uint8Array. Noise's `open` is given
 * its output already (it decrypts in place). A release that changes these
 * functions' shape is left alone (test/libp2p/cipher-outputs.test.ts fails then).
 */
import { createRequire } from 'node:module'
import { loadPnetXSalsa20 } from './xsalsa20-memory.ts'

/** `ChaCha20Poly1305#seal(key, nonce, plaintext, associatedData?, dst?)`. */
type Seal = (key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad?: Uint8Array, dst?: Uint8Array) => Uint8Array
/** `XSalsa20#update(input, output?)`. */
type Update = (input: Uint8Array, output?: Uint8Array) => Uint8Array

const TAG_BYTES = 16

let applied: boolean | undefined

/** The as-chacha20poly1305 module that Noise itself loads. */
export function loadNoiseChaCha (): { ChaCha20Poly1305: { prototype: { seal: Seal } } } {
  return createRequire(import.meta.resolve('@chainsafe/libp2p-noise'))('@chainsafe/as-chacha20poly1305')
}

/** Applies the change once per process; returns whether both ciphers have it. */
export function poolCipherOutputs (): boolean {
  if (applied !== undefined) return applied
  applied = false
  let sealer: { seal: Seal }
  let xor: { update: Update }
  try {
    sealer = loadNoiseChaCha().ChaCha20Poly1305.prototype
    xor = loadPnetXSalsa20().prototype
  } catch {
    return false
  }
  // seal(key, nonce, plaintext, ad, dst) and update(input, output): checked by arity before anything is changed.
  if (typeof sealer?.seal !== 'function' || sealer.seal.length !== 5 || typeof xor?.update !== 'function' || xor.update.length !== 2) return false
  const seal = sealer.seal
  sealer.seal = function (this: unknown, key, nonce, plaintext, ad, dst) {
    return seal.call(this, key, nonce, plaintext, ad, dst ?? Buffer.allocUnsafe(plaintext.length + TAG_BYTES))
  }
  const update = xor.update
  xor.update = function (this: unknown, input, output) {
    return update.call(this, input, output ?? Buffer.allocUnsafe(input.length))
  }
  applied = true
  return true
}
