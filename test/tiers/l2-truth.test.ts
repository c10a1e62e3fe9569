/**
 * The source-of-truth checker with a Redis L2 (test/helpers/l2-truth.ts)
 * over seeded runs: no instance serves, from L1 or from L2, a row the
 * database does not hold, after every heal, sync and recovery.
 *
 * SEEDS=n runs seeds 1..n (default 12); SEED=s replays one. Many more:
 * `npm run check:seeds -- --l2 --seeds 200`.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { runL2TruthSeed } from '../helpers/l2-truth.ts'
import { startRedis, type RedisServer } from '../helpers/redis.ts'
import { eachSeed, seedsFromEnv } from '../helpers/seeds.ts'

const { seeds } = seedsFromEnv(12)
let server: RedisServer

test.before(async () => { server = await startRedis({ persist: true }) })
test.after(async () => { await server?.stop() })

test(`${seeds.length} seeded runs with a Redis L2 serve only the database's rows`, async () => {
  const results = await eachSeed(seeds, 'L2 source-of-truth checker', 'test/tiers/l2-truth.test.ts', (seed) => runL2TruthSeed(seed, server))
  assert.ok(results.reduce((n, r) => n + r.checks, 0) >= seeds.length, 'every seed was checked')
  if (seeds.length >= 10) {
    assert.ok(results.reduce((n, r) => n + r.l2Hits, 0) > 0, 'checks were answered from L2')
    assert.ok(results.reduce((n, r) => n + r.l2Refused, 0) > 0, 'the read guard refused copies')
    assert.ok(results.reduce((n, r) => n + r.faults, 0) > 0, 'Redis faults ran')
  }
})

test.run()
