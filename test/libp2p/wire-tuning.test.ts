/**
 * The two wire-level fixes (yamux-window.ts, noise-lengths.ts) really apply
 * to the connections and streams the transport makes, with and without psk:
 * no window update per frame, and no exception per received chunk.
 * (Both are checked by spying on the libraries' prototypes.)
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { YamuxStream } from '@chainsafe/libp2p-yamux/stream'
// the module Noise's decoder comes from (through @libp2p/utils' index)
import { LengthPrefixedDecoder } from '../../node_modules/@libp2p/utils/dist/src/length-prefixed-decoder.js'
import { generatePsk } from '../../lib/net/libp2p/index.ts'
import { joinedPair, until } from './helpers.ts'

/** Window updates received by yamux streams, counted process-wide. */
let windowUpdates = 0
const yamuxProto = YamuxStream.prototype as unknown as { handleWindowUpdate: (frame: unknown) => void }
const handleWindowUpdate = yamuxProto.handleWindowUpdate
yamuxProto.handleWindowUpdate = function (frame) {
  windowUpdates++
  handleWindowUpdate.call(this, frame)
}

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
  test(`${withPsk ? 'psk' : 'no psk'}: 1,000 frames cost no window update each and no exception each`, async () => {
    const psk = withPsk ? generatePsk() : undefined
    noiseDecoders.clear()
    collecting = true
    const { rb, ca, close } = await joinedPair({ psk })
    try {
      await new Promise(resolve => setTimeout(resolve, 100))
      const before = windowUpdates
      let received = 0
      const n = 1000
      rb.handler.onFrame = () => { received++ }
      for (let i = 0; i < n; i++) {
        ca.broadcast(new Uint8Array(100 + (i % 7) * 300))
        if (i % 4 === 0) await new Promise(resolve => setImmediate(resolve))
      }
      await until(() => received === n, 'all frames received')
      // 1,000 frames of 0.1-1.9 KB are ~1 MB through a 256 KiB window: a handful of updates, not 1,000
      assert.ok(windowUpdates - before <= 16, `${windowUpdates - before} window updates for ${n} frames`)
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
