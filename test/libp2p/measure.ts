/**
 * Latency of the libp2p transport across real processes (not part of
 * `npm test`; the comparative benchmark is bench/mesh). One writer
 * broadcasts timed frames at a fixed rate to n-1 receivers; latency is from
 * broadcast() to onFrame in each receiver, pooled.
 *
 *   ./node_modules/.bin/node test/libp2p/measure.ts [nodes=5] [rate=1000] [seconds=10] [bytes=64] [psk=1]
 */
import { generatePsk } from '../../lib/net/libp2p/index.ts'
import { fullMesh, percentile, spawnMesh, stopAll } from './procs.ts'

const [nodes = 5, rate = 1000, seconds = 10, bytes = 64, withPsk = 1] = process.argv.slice(2).map(Number)

const procs = await spawnMesh(nodes, { latency: true, options: withPsk === 1 ? { psk: generatePsk() } : {} })
try {
  await fullMesh(procs)
  const [writer, ...readers] = procs
  if (writer === undefined) throw new Error('no nodes')
  // warm-up so JIT and windows settle, then the measured run
  writer.tell({ op: 'blast', ns: 'ns', rate, seconds: 1, bytes })
  await writer.next(m => m.ev === 'blasted', 'warm-up', 30_000)
  await Promise.all(readers.map(async r => await r.report()))
  const t0 = performance.now()
  writer.tell({ op: 'blast', ns: 'ns', rate, seconds, bytes })
  const done = await writer.next(m => m.ev === 'blasted', 'blast', (seconds + 30) * 1000)
  const elapsed = (performance.now() - t0) / 1000
  // let the last frames land: wait until every reader counted them all
  const expected = done.sent as number
  const all: number[] = []
  const raw: Array<[number, number, number]> = []
  let received = 0
  for (const r of readers) {
    let got = 0
    const deadline = Date.now() + 5_000
    while (got < expected && Date.now() < deadline) {
      const rep = await r.report()
      got += (rep.latencies as number[]).length
      for (const l of rep.latencies as number[]) all.push(l)
      ;(rep.sentAts as number[]).forEach((t, i) => raw.push([readers.indexOf(r), t, (rep.latencies as number[])[i] as number]))
    }
    received += got
  }
  all.sort((a, b) => a - b)
  if (process.env.MC_RAW !== undefined) (await import('node:fs')).writeFileSync(process.env.MC_RAW, JSON.stringify(raw))
  const ws = (await writer.report()).stats
  console.log(JSON.stringify({
    nodes, rate, seconds, bytes, psk: withPsk === 1,
    sent: expected, achievedRate: Math.round(expected / elapsed), received, expected: expected * readers.length,
    p50: +percentile(all, 0.5).toFixed(3), p99: +percentile(all, 0.99).toFixed(3), max: +(all.at(-1) ?? NaN).toFixed(3),
    droppedBackpressure: ws.droppedBackpressure
  }))
} finally {
  await stopAll(procs)
}
