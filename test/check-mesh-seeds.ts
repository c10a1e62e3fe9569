/**
 * The partial-mesh convergence run over real processes
 * (test/helpers/partial-convergence.ts) over many seeds (`npm test` runs 3):
 *
 *   npm run check:mesh-seeds -- --seeds 50 [--from 1] [--instances 12] [--regions 2 | --full] [--first] [--verbose]
 *
 * Runs seeds from..from+seeds-1 one after another, prints one line per seed
 * (and every failing seed with its replay command and the first lines of its
 * failure), and exits 1 if any failed. `--regions n` splits the instances into n regions (contiguous blocks),
 * so region links are on (SPEC.md §11.4); `--full` links every instance to every other (the full mesh, where lone
 * writes travel as LONE, SPEC.md §11) with the same faults. `--first` stops at the first failure;
 * `--verbose` prints every step as it runs. About 20 s a seed on 2 cores.
 */
import { runPartialSeed } from './helpers/partial-convergence.ts'
import { parseCli } from './helpers/cli.ts'

const USAGE = 'usage: npm run check:mesh-seeds -- [--seeds 50] [--from 1] [--instances 12 (6 or more)] [--regions 0 (0, or 2 to instances / 3) | --full] [--first] [--verbose]'
const values = parseCli(USAGE, { seeds: { type: 'string', default: '50' }, from: { type: 'string', default: '1' }, first: { type: 'boolean', default: false }, full: { type: 'boolean', default: false }, verbose: { type: 'boolean', default: false }, instances: { type: 'string', default: '12' }, regions: { type: 'string', default: '0' } })
const count = Number(values.seeds)
const from = Number(values.from)
const instances = Number(values.instances)
const regions = Number(values.regions)
if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(from) || !Number.isSafeInteger(instances) || instances < 6) {
  console.error(`--seeds must be a positive integer, --from an integer and --instances an integer of 6 or more\n${USAGE}`)
  process.exit(2)
}
// A region of fewer than three instances has no link of its own to prefer.
if (!Number.isSafeInteger(regions) || regions === 1 || regions < 0 || regions * 3 > instances) {
  console.error(`--regions must be 0, or 2 to a third of --instances (${Math.floor(instances / 3)})\n${USAGE}`)
  process.exit(2)
}
const full = values.full === true
if (full && regions > 0) {
  console.error(`--full and --regions cannot be given together: region links are a partial mesh's\n${USAGE}`)
  process.exit(2)
}
/** A failure's message with at most 8 of its differences: the graph and the last steps after them in full (what tells why). */
function brief (message: string): string[] {
  const lines = message.split('\n')
  const end = lines.findIndex((l, i) => i > 0 && !l.startsWith('    '))
  const details = lines.slice(1, end < 0 ? undefined : end)
  if (details.length <= 8) return lines
  return [lines[0] as string, ...details.slice(0, 8), `    … ${details.length - 8} more`, ...(end < 0 ? [] : lines.slice(end))]
}

const failed: number[] = []
const settles: number[] = []
const started = Date.now()
for (let seed = from; seed < from + count; seed++) {
  const t0 = Date.now()
  try {
    const r = await runPartialSeed(seed, { instances, regions, full, onStep: (line: string) => { if (values.verbose || line.includes('still settling')) console.log(`    ${line}`) } })
    settles.push(...r.settleMs)
    console.log(`seed ${seed} ok in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${r.mode}, ${r.instances} instances in ${r.hosts} processes${r.regions > 0 ? ` and ${r.regions} regions` : ''}, maxPeers ${r.maxPeers}, connections ${Math.min(...r.connections)}-${Math.max(...r.connections)}; ${r.writes} writes (${r.clears} clears), ${JSON.stringify(r.faults)}; settled in ${r.settleMs.map((ms, i) => `${ms}${(r.settleComponents[i] ?? 1) > 1 ? ` (${r.settleComponents[i]} components)` : ''}`).join(', ')} ms`)
  } catch (error) {
    failed.push(seed)
    console.log(`seed ${seed} FAILED: ${brief(String((error as Error).message)).join('\n  ')}\n  replay: npm run check:mesh-seeds -- --seeds 1 --from ${seed} --instances ${instances}${regions > 0 ? ` --regions ${regions}` : ''}${full ? ' --full' : ''} --verbose${instances === 12 && !full ? `\n  or: ${regions > 0 ? `REGIONS=${regions} ` : ''}SEED=${seed} ./node_modules/.bin/node test/mesh/partial-convergence.test.ts` : ''}`)
    if (values.first) break
  }
}
settles.sort((a, b) => a - b)
const at = (q: number): number => settles[Math.min(settles.length - 1, Math.floor(q * settles.length))] ?? Number.NaN
console.log(`${count} seeds from ${from} in ${((Date.now() - started) / 1000).toFixed(0)} s: ${failed.length} failed${failed.length > 0 ? ` (${failed.join(', ')})` : ''}; heal to convergence p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${settles.at(-1)} ms over ${settles.length} settles (shared machine)`)
process.exit(failed.length === 0 ? 0 : 1)
