/**
 * Convergence over a partial mesh of real processes against the source of
 * truth (test/helpers/partial-convergence.ts): 12 instances in 3–4 processes,
 * maxPeers 3–4, seeded random writes, partitions, cut links, SIGKILL and
 * restart; after the heal every instance holds the winning write of every
 * key, its joined vector, and serves its value (or nothing).
 *
 * SEEDS=n runs seeds 1..n (default 2: odd seeds run replicate mode, even
 * ones invalidate; ~20-30 s a seed on 2 cores); SEED=s replays one (the same steps,
 * printed as they run; the timing is real); REGIONS=n splits the instances into n
 * regions with region links (seed 3 runs in two by default). More: `npm run
 * check:mesh-seeds -- --seeds 50 [--regions 2]`.
 *
 * It fails when it should: bugs planted in scratch changes (bench/README.md,
 * check:mesh-seeds) were caught by seeds 1-4 of 1-4 (anti-entropy answers
 * carrying only the responder's own writes; relayed tombstones counted but not
 * merged) and by seeds 1, 4, 7 of 1-8 (a clear arriving by repair not swept).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { runPartialSeed } from '../helpers/partial-convergence.ts'
import { eachSeed, seedsFromEnv } from '../helpers/seeds.ts'

const { seeds, replaying } = seedsFromEnv(2)
/** REGIONS=n runs the seeds with the instances in n regions (region links on); without SEED or REGIONS, seed 3 runs in two as well. */
const regions = Number(process.env.REGIONS ?? 0)
const FILE = 'test/mesh/partial-convergence.test.ts'

test(`${seeds.length} seeded runs over a partial mesh of real processes converge to the source of truth${regions > 0 ? ` (${regions} regions)` : ''}`, async () => {
  const results = await eachSeed(seeds, 'partial-mesh convergence', FILE, (seed) => runPartialSeed(seed, { regions, ...(replaying ? { onStep: (line: string) => console.log(`    ${line}`) } : {}) }), regions > 0 ? `REGIONS=${regions} ` : '')
  check(results)
})

if (process.env.SEED === undefined && process.env.REGIONS === undefined) {
  test('a seeded run in two regions, with region links, converges to the source of truth too', async () => {
    const results = await eachSeed([3], 'partial-mesh convergence in two regions', FILE, (seed) => runPartialSeed(seed, { regions: 2 }), 'REGIONS=2 ')
    check(results)
    assert.is(results[0]?.regions, 2)
  })
}

function check (results: Array<Awaited<ReturnType<typeof runPartialSeed>>>): void {
  for (const r of results) {
    console.log(`  seed ${r.seed}: ${r.mode}, ${r.instances} instances in ${r.hosts} processes${r.regions > 0 ? ` and ${r.regions} regions` : ''}, maxPeers ${r.maxPeers}, connections ${Math.min(...r.connections)}-${Math.max(...r.connections)} (end ${Math.min(...r.connectionsAtEnd)}-${Math.max(...r.connectionsAtEnd)}); ${r.writes} writes, ${JSON.stringify(r.faults)}; settled in ${r.settleMs.join(', ')} ms (shared machine)`)
    for (const [when, counts] of [['at the start', r.connections], ['at the end', r.connectionsAtEnd]] as const) {
      assert.is(counts.length, r.instances, `seed ${r.seed}: connections of every instance ${when}`)
      // Complete only if every instance is connected to all others; the bound itself is scale.test.ts's.
      assert.ok(Math.min(...counts) < r.instances - 1, `seed ${r.seed}: not a full mesh ${when} (connections ${counts.join(',')})`)
    }
    assert.ok(r.writes > 0, `seed ${r.seed} wrote`)
  }
}

test.run()
