/**
 * The source-of-truth checker (test/helpers/truth.ts) over seeded runs: no
 * instance serves a value the database (invalidate mode) or the winning write
 * (replicate mode) does not hold, after every heal, flush and sync.
 *
 * SEEDS=n runs seeds 1..n (default 300); SEED=s replays one. Many more:
 * `npm run check:seeds -- --seeds 10000`.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { runTruthSeed } from './helpers/truth.ts'
import { eachSeed, seedsFromEnv } from './helpers/seeds.ts'

const { seeds } = seedsFromEnv(300)

test(`${seeds.length} seeded runs serve only the source of truth`, async () => {
  const results = await eachSeed(seeds, 'source-of-truth checker', 'test/truth.test.ts', runTruthSeed)
  assert.ok(results.reduce((n, r) => n + r.checks, 0) >= seeds.length, 'every seed was checked')
  // Over many seeds only: one replayed seed (SEED=s) runs one mode.
  if (seeds.length >= 20) {
    assert.ok(results.some((r) => r.mode === 'invalidate') && results.some((r) => r.mode === 'replicate'), 'both modes ran')
    assert.ok(results.reduce((n, r) => n + r.loads, 0) > seeds.length, 'loads ran')
    assert.ok(results.reduce((n, r) => n + r.restarts, 0) > 0, 'instances restarted')
  }
})

test.run()
