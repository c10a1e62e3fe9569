/**
 * The wire-level fix noise-lengths.ts really applies to the connections the
 * transport makes, with and without psk: no exception per received chunk
 * (checked by spying on the library's prototype).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
// the module Noise's decoder comes from (through @libp2p/utils' index)
import { LengthPrefixedDecoder } from '../../node_modules/@libp2p/utils/dist/src/length-prefixed-decoder.js'
import { generatePsk } from '../../lib/libp2p/index.ts'
import { joinedPair, until } from './helpers.ts'

/**
 * Noise's inbound decoders seen decoding (the LengthPrefixedDecoders with a
 * 2-byte length; the handshake uses them before the muxer exists).
 */
const noiseDecoders = new Set<DecoderFields>()
/** Only this file's connections (uvu may run other files in this process). */
let collecting = false
const lpd = LengthPrefixedDecoder.prototype as unknown as { decode: (this: DecoderFields, buf: unknown) => Generator<unknown> }
interface DecoderFields { encodingLength: (n: number) => number, lengthDecoder: (data: Uint8Array) => number }
const decode = lpd.decode
lpd.decode = function * (this: DecoderFields, buf: unknown) {
  if (collecting && this.encodingLength(0) === 2) noiseDecoders.add(this)
  return yield * decode.call(this, buf)
}

for (const withPsk of [true, false]) {
  test(`${withPsk ? 'psk' : 'no psk'}: 1,000 frames cost no exception each`, async () => {
    const psk = withPsk ? generatePsk() : undefined
    noiseDecoders.clear()
    collecting = true
    const { rb, ca, close } = await joinedPair({ psk })
    try {
      await new Promise(resolve => setTimeout(resolve, 100))
      let received = 0
      const n = 1000
      rb.handler.onFrame = () => { received++ }
      for (let i = 0; i < n; i++) {
        ca.broadcast(new Uint8Array(100 + (i % 7) * 300))
        if (i % 4 === 0) await new Promise(resolve => setImmediate(resolve))
      }
      await until(() => received === n, 'all frames received')
      // both connections' Noise decoders (one per side) stop on a short buffer without throwing
      assert.ok(noiseDecoders.size >= 2, `${noiseDecoders.size} Noise decoders seen`)
      const throwing = [...noiseDecoders].filter(d => {
        try { d.lengthDecoder(new Uint8Array(1)); return false } catch { return true }
      })
      assert.is(throwing.length, 0, 'a Noise decoder still throws at the end of each chunk')
    } finally {
      collecting = false
      await close()
    }
  })
}

test.run()
