/**
 * What the receive path leaves for the young-generation GC: N remote
 * invalidations of new keys (as bench:mesh's 20,000 writes/s: every write a new
 * key), `--batch` records a frame, into an invalidate-mode cache with a
 * `change` listener, against decoding the same frames alone. Run with
 * `--trace-gc-nvp` and sum with bench/mesh/gc-summary.ts, or read the
 * figures this prints (`performance` GC entries are not detailed enough). It
 * also prints the main thread's CPU time per frame handled: the longest, and
 * how many took over 1 ms (a scavenge or a growth step inside the frame), the
 * receive path's own share of bench:mesh's event-loop stalls.
 *
 *   node --trace-gc-nvp bench/core/receive-gc.ts [--batch 20] [--keys 250000] [--decode-only] > gc.log
 */
import { createMeshCache } from '../../lib/index.ts'
import { decodeFrame } from '../../protocol/frame.ts'
import { RecordKind } from '../../protocol/constants.ts'
import { SyntheticOrigin } from './updates.ts'
import { captureTransport } from './util.ts'
import { parseCli } from '../../test/helpers/cli.ts'

const USAGE = 'usage: node --trace-gc-nvp bench/core/receive-gc.ts [--batch 20] [--keys 250000] [--decode-only] > gc.log'
const values = parseCli(USAGE, { batch: { type: 'string', default: '20' }, keys: { type: 'string', default: '250000' }, 'decode-only': { type: 'boolean', default: false } })
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
/** The main thread's CPU time (ms): the longest frames are this process's own work, whatever the host's load. */
const cpuMs = (): number => { const u = process.threadCpuUsage(); return (u.user + u.system) / 1000 }
let longest = 0
let over1 = 0
let over1Ms = 0
let handled = 0
const t0 = performance.now()
for (let i = 0; i < n; i += CHUNK) {
  const idx = Array.from({ length: Math.min(CHUNK, n - i) }, (_, j) => i + j)
  for (const frame of origin.frames(idx, batch, RecordKind.INVALIDATE)) {
    const before = cpuMs()
    if (values['decode-only']) decodeFrame(frame)
    else handler.onFrame('bench-peer', frame)
    const took = cpuMs() - before
    handled += took
    if (took > longest) longest = took
    if (took > 1) { over1++; over1Ms += took }
  }
  await new Promise((resolve) => setImmediate(resolve))
}
const ms = performance.now() - t0
process.stderr.write(`receive-gc: ${n} keys, ${batch} a frame, ${values['decode-only'] ? 'decode only' : `${changes} changes, ${cache.stats({ metadataBytes: false }).tombstones} tombstones`}, ${ms.toFixed(0)} ms; ` +
  `CPU in frames ${handled.toFixed(0)} ms, longest frame ${longest.toFixed(1)} ms, ${over1} frames over 1 ms (${over1Ms.toFixed(0)} ms)\n`)
await cache.close()
