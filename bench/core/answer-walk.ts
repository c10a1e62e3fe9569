/**
 * How long an instance holding 250,000 keys (every write a new key, as after
 * bench:mesh's 20,000 writes/s) takes to answer a periodic anti-entropy
 * round: the request marks the one writer as seen (a flowing origin, SPEC
 * §6), so the answer is empty, but it walks every key to find that out, in
 * one synchronous run that delays every frame behind it. Best of 20.
 *
 *   node bench/core/answer-walk.ts
 */
import { createMeshCache } from '../../lib/index.ts'
import { MessageType, RecordKind } from '../../protocol/constants.ts'
import { encodeFrame } from '../../protocol/frame.ts'
import { SyntheticOrigin } from './updates.ts'
import { captureTransport } from './util.ts'

const N = 250_000
const WRITER = 'bench-peer~0000bench'
const transport = captureTransport()
const cache = await createMeshCache<string>({ namespace: 'answer-walk', mode: 'invalidate', max: 200_000, ttl: 600_000, transport })
const handler = transport.handler()
const keys = Array.from({ length: N }, (_, i) => `user:${i}`)
const origin = new SyntheticOrigin(WRITER, keys, false)
for (const frame of origin.frames(Array.from({ length: N }, (_, i) => i), 100, RecordKind.INVALIDATE)) handler.onFrame('bench-peer', frame)
let best = Infinity
for (let i = 0; i < 20; i++) {
  const request = encodeFrame({ type: MessageType.SYNC_STEP1, syncId: i + 1, sv: new Map([[WRITER, Number.MAX_SAFE_INTEGER]]) })
  const t = performance.now()
  handler.onFrame('bench-peer', request)
  best = Math.min(best, performance.now() - t)
}
process.stdout.write(`answer to a periodic round over ${N} keys: best ${best.toFixed(2)} ms\n`)
await cache.close()
