/**
 * pnet's cipher must not leak WebAssembly memory across connections
 * (lib/net/libp2p/xsalsa20-memory.ts): many ciphers taking turns after one of
 * them grew the shared memory used to grow it again on every call, until
 * WebAssembly.Memory.grow() threw inside libp2p and ended the process.
 */
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { fixXSalsa20Memory, loadPnetXSalsa20 } from '../../lib/net/libp2p/xsalsa20-memory.ts'

type Cipher = { update (input: Uint8Array): Uint8Array, finalize (): void, _xor: { _memory: Uint8Array } }
const XSalsa20 = loadPnetXSalsa20() as unknown as new (nonce: Uint8Array, key: Uint8Array) => Cipher

const memoryBytes = (c: Cipher): number => c._xor._memory.buffer.byteLength

test('ciphers taking turns after a growth keep the shared memory bounded and stay correct', () => {
  assert.ok(fixXSalsa20Memory(), 'the fix applies to the installed xsalsa20')
  const keys = Array.from({ length: 16 }, () => [randomBytes(24), randomBytes(32)] as const)
  const ciphers = keys.map(([n, k]) => new XSalsa20(n, k))
  const twins = keys.map(([n, k]) => new XSalsa20(n, k)) // the same keystreams, for checking output
  const chunk = randomBytes(8 * 1024)
  for (const c of ciphers) c.update(chunk)
  for (const t of twins) t.update(chunk)
  let grows = 0
  let peak = 0
  for (let round = 0; round < 2_000; round++) {
    if (round % 100 === 0) {
      // One connection receives a burst larger than the memory: a real growth.
      const big = randomBytes(memoryBytes(ciphers[0] as Cipher) + 64 * 1024)
      const a = (ciphers[0] as Cipher).update(big)
      assert.equal(a, (twins[0] as Cipher).update(big), 'keystream after a growth')
      grows++
    }
    const i = 1 + (round % (ciphers.length - 1))
    const out = (ciphers[i] as Cipher).update(chunk)
    if (round % 97 === 0) assert.equal(out, (twins[i] as Cipher).update(chunk), `keystream of cipher ${i}`)
    else (twins[i] as Cipher).update(chunk)
    peak = Math.max(peak, memoryBytes(ciphers[i] as Cipher))
  }
  assert.ok(grows === 20)
  // Without the fix this grows by a page per cipher per growth, reaching the 64 MiB cap and throwing.
  assert.ok(peak < 8 * 1024 * 1024, `shared wasm memory peaked at ${(peak / 1e6).toFixed(1)} MB`)
  for (const c of [...ciphers, ...twins]) c.finalize()
})

test.run()
