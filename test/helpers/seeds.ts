/** Seed handling shared by the randomised suites: which seeds run, and how a failure is replayed. */

/** SEED=s replays one seed; SEEDS=n runs seeds 1..n (default `count`). */
export function seedsFromEnv (count: number): { seeds: number[], replaying: boolean } {
  const only = process.env.SEED === undefined ? undefined : Number(process.env.SEED)
  if (only !== undefined) return { seeds: [only], replaying: true }
  return { seeds: Array.from({ length: Number(process.env.SEEDS ?? count) }, (_, i) => i + 1), replaying: false }
}

/**
 * Runs every seed in turn; a failure prints its seed and the command that replays it (`env`: more variables the
 * replay needs, as `REGIONS=2 `), then fails the test.
 */
export async function eachSeed<R> (seeds: number[], suite: string, file: string, run: (seed: number) => Promise<R>, env = ''): Promise<R[]> {
  const results: R[] = []
  for (const seed of seeds) {
    try {
      results.push(await run(seed))
    } catch (error) {
      console.error(`\n${suite} failed for seed ${seed}; replay with:\n  ${env}SEED=${seed} ./node_modules/.bin/node ${file}\n`)
      throw error
    }
  }
  return results
}
