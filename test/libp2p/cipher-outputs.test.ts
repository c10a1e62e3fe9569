/**
 * Noise's and pnet's per-message ciphers write into Node's buffer pool when
 * no output is passed (lib/net/libp2p/cipher-outputs.ts), with the same bytes.
 */
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { loadNoiseChaCha, poolCipherOutputs } from '../../lib/net/libp2p/cipher-outputs.ts'
import { loadPnetXSalsa20 } from '../../lib/net/libp2p/xsalsa20-memory.ts'

interface Sealer { seal (key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad?: Uint8Array, dst?: Uint8Array): Uint8Array, open (key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad?: Uint8Array): Uint8Array | null }
const { ChaCha20Poly1305, newInstance } = loadNoiseChaCha() as unknown as { ChaCha20Poly1305: new (ctx: unknown) => Sealer, newInstance: () => unknown }
type Cipher = { update (input: Uint8Array, output?: Uint8Array): Uint8Array, finalize (): void }
const XSalsa20 = loadPnetXSalsa20() as unknown as new (nonce: Uint8Array, key: Uint8Array) => Cipher

test('the change applies to the installed ciphers, and to the very module Noise imports', async () => {
  assert.ok(poolCipherOutputs(), 'both ciphers have the shape it relies on')
  assert.ok(poolCipherOutputs(), 'applied once, reported again')
  // Noise loads the cipher as an ES module import of a CommonJS package: the same exports, so the same prototype.
  const path = createRequire(import.meta.resolve('@chainsafe/libp2p-noise')).resolve('@chainsafe/as-chacha20poly1305')
  const imported = await import(path) as { ChaCha20Poly1305: unknown }
  assert.is(imported.ChaCha20Poly1305, ChaCha20Poly1305)
})

test('seal without an output gives a pooled Buffer with the ciphertext and tag an explicit output gets, and opens', () => {
  poolCipherOutputs()
  const sealer = new ChaCha20Poly1305(newInstance())
  const key = randomBytes(32)
  const nonce = randomBytes(12)
  const ad = randomBytes(32)
  for (const size of [0, 1, 47, 48, 49, 70, 1_199, 5_000]) {
    const plaintext = randomBytes(size)
    // The pool holds old bytes: the output must be written whole.
    Buffer.allocUnsafe(4_000).fill(0xa5)
    const pooled = sealer.seal(key, nonce, plaintext, ad)
    const explicit = sealer.seal(key, nonce, plaintext, ad, new Uint8Array(size + 16))
    assert.ok(Buffer.isBuffer(pooled), `${size} B: a Buffer`)
    assert.is(pooled.length, size + 16)
    assert.equal(new Uint8Array(pooled), explicit, `${size} B: the same bytes`)
    if (size > 0 && size < 4_000) assert.is(pooled.buffer.byteLength, Buffer.poolSize, `${size} B: a slice of the pool`)
    assert.equal(sealer.open(key, nonce, pooled, ad), new Uint8Array(plaintext), `${size} B: opens`)
  }
})

test('pnet\'s update without an output gives a pooled Buffer with the keystream XOR an explicit output gets', () => {
  poolCipherOutputs()
  const nonce = randomBytes(24)
  const key = randomBytes(32)
  const a = new XSalsa20(nonce, key)
  const b = new XSalsa20(nonce, key)
  for (const size of [1, 63, 64, 65, 86, 1_000, 9_000]) {
    const input = randomBytes(size)
    Buffer.allocUnsafe(4_000).fill(0x5a)
    const pooled = a.update(input)
    const explicit = b.update(input, new Uint8Array(size))
    assert.ok(Buffer.isBuffer(pooled), `${size} B: a Buffer`)
    assert.equal(new Uint8Array(pooled), explicit, `${size} B: the same bytes`)
  }
  a.finalize()
  b.finalize()
})

test.run()
