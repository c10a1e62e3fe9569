import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Uint8ArrayList } from 'uint8arraylist'
// the same decoder and length function Noise builds its inbound splitter from
import { LengthPrefixedDecoder } from '../../node_modules/@libp2p/utils/dist/src/length-prefixed-decoder.js'
import { uint16BEDecode } from '../../node_modules/@chainsafe/libp2p-noise/dist/src/encoder.js'
import { quietNoiseLengths } from '../../lib/net/libp2p/noise-lengths.ts'

/** The decoder's fields as this test drives them (they are private in its typings). */
interface Decoder {
  decode (chunk: Uint8Array): Iterable<{ subarray: () => Uint8Array }>
  lengthDecoder: (data: unknown) => number
}

function noiseDecoder (): { decoder: Decoder } {
  // as in @chainsafe/libp2p-noise utils.js#EncryptedMessageStream
  const decoder = new LengthPrefixedDecoder({
    lengthDecoder: uint16BEDecode as unknown as (data: Uint8Array) => number,
    maxBufferSize: 16 * 1024 * 1024,
    encodingLength: () => 2
  })
  return { decoder: decoder as unknown as Decoder }
}

function seeded (seed: number): () => number {
  return () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 2 ** 32 }
}

/** Noise-style messages (u16 length • body) of random sizes, cut into random chunks. */
function traffic (seed: number): { chunks: Uint8Array[], bodies: Uint8Array[] } {
  const rnd = seeded(seed)
  const bodies: Uint8Array[] = []
  const parts: Uint8Array[] = []
  for (let i = 0; i < 300; i++) {
    const n = rnd() < 0.1 ? Math.floor(rnd() * 65535) + 1 : Math.floor(rnd() * 300) + 1
    const body = new Uint8Array(n).map(() => Math.floor(rnd() * 256))
    bodies.push(body)
    parts.push(new Uint8Array([n >> 8, n & 0xff]), body)
  }
  const all = new Uint8ArrayList(...parts).subarray()
  const chunks: Uint8Array[] = []
  for (let pos = 0; pos < all.length;) {
    const n = Math.max(1, Math.floor(rnd() * (rnd() < 0.5 ? 4 : 3000)))
    chunks.push(all.subarray(pos, pos + n))
    pos += n
  }
  return { chunks, bodies }
}

function run (stream: { decoder: Decoder }, chunks: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = []
  for (const c of chunks) for (const b of stream.decoder.decode(c)) out.push(b.subarray())
  return out
}

test('same messages as the original decoder, for any chunking', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const { chunks, bodies } = traffic(seed)
    const original = run(noiseDecoder(), chunks)
    const quiet = noiseDecoder()
    assert.ok(quietNoiseLengths(quiet))
    const got = run(quiet, chunks)
    assert.equal(original, bodies)
    assert.equal(got, bodies, `seed ${seed}`)
  }
})

test('no RangeError is thrown at the end of a chunk', () => {
  const quiet = noiseDecoder()
  quietNoiseLengths(quiet)
  const calls: number[] = []
  const inner = quiet.decoder.lengthDecoder
  quiet.decoder.lengthDecoder = (d: unknown) => { try { return inner(d) } catch (err) { calls.push(1); throw err } }
  const { chunks } = traffic(7)
  run(quiet, chunks)
  assert.is(calls.length, 0)
  // the original throws once per chunk that ends on a message boundary or inside a length
  const original = noiseDecoder()
  const orig = original.decoder.lengthDecoder
  let thrown = 0
  original.decoder.lengthDecoder = (d: unknown) => { try { return orig(d) } catch (err) { thrown++; throw err } }
  run(original, chunks)
  assert.ok(thrown > 0)
})

test('bad input still fails as before: the buffer limit', () => {
  const quiet = noiseDecoder()
  quietNoiseLengths(quiet)
  assert.throws(() => run(quiet, [new Uint8Array(16 * 1024 * 1024 + 1)]))
})

test('leaves other objects alone, and patches once', () => {
  assert.not.ok(quietNoiseLengths({}))
  assert.not.ok(quietNoiseLengths(null))
  assert.not.ok(quietNoiseLengths({ decoder: new LengthPrefixedDecoder() }), 'a varint decoder is not Noise\'s')
  const s = noiseDecoder()
  assert.ok(quietNoiseLengths(s))
  assert.not.ok(quietNoiseLengths(s))
})

test.run()
