/**
 * The source-of-truth checkers over many seeds (`npm test` runs 300 of the
 * mesh's and 12 with a Redis L2):
 *
 *   npm run check:seeds -- --seeds 10000 [--from 1] [--first]
 *   npm run check:seeds -- --l2 --seeds 500 [--from 1] [--first]
 *
 * Runs seeds from..from+seeds-1, prints every failing seed with its replay
 * command and the first lines of its failure, and exits 1 if any failed.
 * `--first` stops at the first failure. `--l2` runs test/helpers/l2-truth.ts
 * (a redis-server of its own, ~1 seed a second) instead of truth.ts (~80 a second).
 */
import { runTruthSeed } from './helpers/truth.ts'
import { runL2TruthSeed } from './helpers/l2-truth.ts'
import { startRedis, type RedisServer } from './helpers/redis.ts'
import { parseCli } from './helpers/cli.ts'

const USAGE = 'usage: npm run check:seeds -- [--l2] [--seeds 10000] [--from 1] [--first]'
const values = parseCli(USAGE, {
  seeds: { type: 'string', default: '10000' },
  from: { type: 'string', default: '1' },
  first: { type: 'boolean', default: false },
  l2: { type: 'boolean', default: false },
})
const count = Number(values.seeds)
const from = Number(values.from)
if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(from)) {
  console.error(`--seeds must be a positive integer and --from an integer\n${USAGE}`)
  process.exit(2)
}
const server: RedisServer | undefined = values.l2 ? await startRedis({ persist: true }) : undefined
const replay = values.l2 ? 'test/tiers/l2-truth.test.ts' : 'test/truth.test.ts'
const failed: number[] = []
const tally: Record<string, number> = {}
let checks = 0
const started = Date.now()
for (let seed = from; seed < from + count; seed++) {
  try {
    if (server !== undefined) {
      const r = await runL2TruthSeed(seed, server)
      for (const k of ['l2Hits', 'l2Refused', 'faults', 'restarts'] as const) tally[k] = (tally[k] ?? 0) + r[k]
      checks += r.checks
    } else {
      const r = await runTruthSeed(seed)
      tally[r.mode] = (tally[r.mode] ?? 0) + 1
      tally.handovers = (tally.handovers ?? 0) + r.handovers
      checks += r.checks
    }
  } catch (error) {
    failed.push(seed)
    const first = String((error as Error).message).split('\n')[0]
    console.log(`seed ${seed} FAILED: ${first}\n  replay: SEED=${seed} ./node_modules/.bin/node ${replay}`)
    if (values.first) break
  }
  const every = server !== undefined ? 50 : 1000
  if ((seed - from + 1) % every === 0) console.log(`${seed - from + 1} seeds, ${failed.length} failed, ${((Date.now() - started) / 1000).toFixed(0)} s`)
}
await server?.stop()
const counts = Object.entries(tally).map(([k, v]) => `${v} ${k}`).join(', ')
console.log(`${count} seeds from ${from} (${counts}, ${checks} checks) in ${((Date.now() - started) / 1000).toFixed(1)} s: ${failed.length} failed${failed.length > 0 ? ` (${failed.slice(0, 50).join(', ')}${failed.length > 50 ? ', …' : ''})` : ''}`)
process.exit(failed.length === 0 ? 0 : 1)
