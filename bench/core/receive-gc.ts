/**
 * What the receive path leaves for the young-generation GC: N remote
 * invalidations of new keys (as bench:mesh's 20,000 writes/s: every write a new
 * key), `--batch` records a frame, into an invalidate-mode cache with a
 * `change` listener, against decoding the same frames alone. Run with
 * `--trace-gc-nvp` and sum with bench/mesh/gc-summary.ts, or read the
 * figures this prints (`performance` GC entries are not detailed enough).
 *
 *   node --trace-gc-nvp bench/core/receive-gc.ts [--batch 20] [--keys 250000] [--decode-only] > gc.log
 */
import { parseArgs } from 'node:util'
import { createMeshCache } from '../../lib/index.ts'
import { decodeFrame } from '../../protocol/frame.ts'
import { RecordKind } from '../../protocol/constants.ts'
import { SyntheticOrigin } from './updates.ts'
import { captureTransport } from './util.ts'

const { values } = parseArgs({ options: { batch: { type: 'string', default: '20' }, keys: { type: 'string', default: '250000' }, 'decode-only': { type: 'boolean', default: false } } })
const batch = Number(values.batch)
const n = Number(values.keys)
const CHUNK = 10_000

const transport = captureTransport()
const cache = await createMeshCache<string>({ namespace: 'receive-gc', mode: 'invalidate', max: 100_000, ttl: 600_000, transport })
let changes = 0
cache.on('change', () => { changes++ })
const handler = transport.handler()
const keys = Array.from({ length: n }, (_, i) => `user:${i}`)
const origin = new SyntheticOrigin('bench-peer~0000bench', keys, false)
const t0 = performance.now()
for (let i = 0; i < n; i += CHUNK) {
  const idx = Array.from({ length: Math.min(CHUNK, n - i) }, (_, j) => i + j)
  for (const frame of origin.frames(idx, batch, RecordKind.INVALIDATE)) {
    if (values['decode-only']) decodeFrame(frame)
    else handler.onFrame('bench-peer', frame)
  }
  await new Promise((resolve) => setImmediate(resolve))
}
const ms = performance.now() - t0
process.stderr.write(`receive-gc: ${n} keys, ${batch} a frame, ${values['decode-only'] ? 'decode only' : `${changes} changes, ${cache.stats({ metadataBytes: false }).tombstones} tombstones`}, ${ms.toFixed(0)} ms\n`)
await cache.close()
