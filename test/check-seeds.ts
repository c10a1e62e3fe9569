/**
 * The source-of-truth checker over many seeds (`npm test` runs 300):
 *
 *   npm run check:seeds -- --seeds 10000 [--from 1] [--first]
 *
 * Runs seeds from..from+seeds-1, prints every failing seed with its replay
 * command and the first lines of its failure, and exits 1 if any failed.
 * `--first` stops at the first failure.
 */
import { runTruthSeed } from './helpers/truth.ts'
import { parseCli } from './helpers/cli.ts'

const USAGE = 'usage: npm run check:seeds -- [--seeds 10000] [--from 1] [--first]'
const values = parseCli(USAGE, { seeds: { type: 'string', default: '10000' }, from: { type: 'string', default: '1' }, first: { type: 'boolean', default: false } })
const count = Number(values.seeds)
const from = Number(values.from)
if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(from)) {
  console.error(`--seeds must be a positive integer and --from an integer\n${USAGE}`)
  process.exit(2)
}
const failed: number[] = []
const modes = { invalidate: 0, replicate: 0 }
let checks = 0
const started = Date.now()
for (let seed = from; seed < from + count; seed++) {
  try {
    const r = await runTruthSeed(seed)
    modes[r.mode]++
    checks += r.checks
  } catch (error) {
    failed.push(seed)
    const first = String((error as Error).message).split('\n')[0]
    console.log(`seed ${seed} FAILED: ${first}\n  replay: SEED=${seed} ./node_modules/.bin/node test/truth.test.ts`)
    if (values.first) break
  }
  if ((seed - from + 1) % 1000 === 0) console.log(`${seed - from + 1} seeds, ${failed.length} failed, ${((Date.now() - started) / 1000).toFixed(0)} s`)
}
console.log(`${count} seeds from ${from} (${modes.invalidate} invalidate, ${modes.replicate} replicate, ${checks} checks) in ${((Date.now() - started) / 1000).toFixed(1)} s: ${failed.length} failed${failed.length > 0 ? ` (${failed.slice(0, 50).join(', ')}${failed.length > 50 ? ', …' : ''})` : ''}`)
process.exit(failed.length === 0 ? 0 : 1)
