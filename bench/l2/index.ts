/**
 * `npm run bench:l2`: the L2 tier's figures, each beside its baseline from
 * the same run (bench/README.md explains each).
 *
 *   npm run bench:l2                          # micro + end to end (~1 min)
 *   npm run bench:l2 -- --seconds 20          # longer end-to-end phases
 *   npm run bench:l2 -- --only micro|e2e
 */
import { startRedis, redisAvailable } from '../../test/helpers/redis.ts'
import { formatTable, type Row } from '../core/util.ts'
import { LATE_MS, runE2e, type E2eOptions, type E2eResult } from './e2e.ts'
import { runMicro } from './micro.ts'
import { parseCli } from '../../test/helpers/cli.ts'

const USAGE = `usage: npm run bench:l2 -- [--only micro|e2e] [--seconds 10] [--warmup 2] [--processes 3] [--keys 10000]
  [--zipf 0.99] [--write-ratio 0.05] [--concurrency 8] [--seed 1] [--rounds 15]`
const args = parseCli(USAGE, {
  only: { type: 'string' },
  seconds: { type: 'string', default: '10' },
  warmup: { type: 'string', default: '2' },
  processes: { type: 'string', default: '3' },
  keys: { type: 'string', default: '10000' },
  zipf: { type: 'string', default: '0.99' },
  'write-ratio': { type: 'string', default: '0.05' },
  concurrency: { type: 'string', default: '8' },
  seed: { type: 'string', default: '1' },
  rounds: { type: 'string', default: '15' },
})

if (!redisAvailable()) {
  console.error('bench:l2 needs redis-server (apt-get install redis-server)')
  process.exit(1)
}

const l2 = await startRedis()
const db = await startRedis()
try {
  if (args.only !== 'e2e') {
    const rows: Row[] = await runMicro(l2, { rounds: Number(args.rounds), missesPerRound: 1_000 })
    console.log(formatTable(rows))
    console.log()
  }
  if (args.only !== 'micro') {
    const o: E2eOptions = {
      processes: Number(args.processes),
      keys: Number(args.keys),
      zipf: Number(args.zipf),
      writeRatio: Number(args['write-ratio']),
      concurrency: Number(args.concurrency),
      seconds: Number(args.seconds),
      warmup: Number(args.warmup),
      seed: Number(args.seed),
    }
    console.log(`end to end: ${o.processes} processes × ${o.concurrency} concurrent ops, ${o.keys} keys Zipf(${o.zipf}), ${o.writeRatio * 100}% writes, ${o.seconds} s (+${o.warmup} s warm-up)`)
    const results: E2eResult[] = []
    for (const system of ['meshcache', 'bentocache'] as const) results.push(await runE2e(system, l2, db, o))
    const base = results[1] as E2eResult
    console.log(`system        reads/s    ops/s   read p50 µs   read p99 µs        stale reads   stale >${LATE_MS} ms   errors   p50/bento  p99/bento  ops/bento`)
    for (const r of results) {
      console.log([
        r.system.padEnd(12),
        r.readsPerSec.toFixed(0).padStart(8),
        r.opsPerSec.toFixed(0).padStart(8),
        r.p50.toFixed(0).padStart(13),
        r.p99.toFixed(0).padStart(13),
        `${r.stale} / ${r.reads} (${(100 * r.stale / r.reads).toFixed(2)}%)`.padStart(18),
        String(r.staleLate).padStart(14),
        String(r.errors).padStart(8),
        `${(r.p50 / base.p50).toFixed(2)}×`.padStart(10),
        `${(r.p99 / base.p99).toFixed(2)}×`.padStart(10),
        `${(r.opsPerSec / base.opsPerSec).toFixed(2)}×`.padStart(10),
      ].join(' '))
    }
    if (process.env.MESHCACHE_BENCH_STATS === '1') for (const r of results) console.log(`STATS ${r.system}`, JSON.stringify(r.stats))
  }
} finally {
  await l2.stop()
  await db.stop()
}
