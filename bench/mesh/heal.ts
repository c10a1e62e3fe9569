/**
 * `npm run bench:heal` (meshcache only): how long after a partition heals
 * until no node holds a stale copy.
 *
 * 5 nodes in replicate mode. The writer (node 0) writes version 1 of KEYS
 * keys and every node receives them; the mesh is split 3+2 (nodes 0-2 | 3-4)
 * with the transport's fault switch; the writer writes version 2 of every
 * key, which only its side sees; then the partition heals. Each node of the
 * cut-off side reports when it reconnected and when its last stale copy went.
 * Target (issue 3): under 1 s from reconnection for 10,000 keys.
 *
 * The node-side commands (`peer-id`, `write`, `block`, `heal`, `await-version`)
 * are implemented by systems/meshcache.ts.
 */
import { Cluster } from './harness.ts'
import { count, ms, table } from './stats.ts'
import { loadSystem, systemExists } from './systems/load.ts'
import { now } from './systems/types.ts'
import { parseCli } from '../../test/helpers/cli.ts'

const SYSTEM = 'meshcache'
const SIDE_A = [0, 1, 2]
const SIDE_B = [3, 4]

/** What `await-version` answers: CLOCK_MONOTONIC ms (NaN where it did not happen). */
export interface HealReport {
  /** When this node saw its first peer of the other side connected again. */
  reconnectedAt: number
  /** When the first stale key was replaced. */
  firstRepairAt: number
  /** When the last stale key was replaced. */
  cleanAt: number
}

const USAGE = 'usage: npm run bench:heal -- [--keys 10000]'
const values = parseCli(USAGE, { keys: { type: 'string', default: '10000' } })
const keys = Number(values.keys)
if (!Number.isInteger(keys) || keys < 1) throw new TypeError(`bench:heal: --keys must be a positive integer, got ${values.keys}`)

const reason = systemExists(SYSTEM) ? await (await loadSystem(SYSTEM)).unavailable?.() : 'bench/mesh/systems/meshcache.ts is missing'
if (reason) {
  process.stdout.write(`bench:heal: skipped: ${reason}\n`)
  process.exit(0)
}

process.stdout.write(`bench:heal: ${SIDE_A.length}+${SIDE_B.length} partition, ${count(keys)} keys written on one side\n`)
const cluster = await Cluster.start(SYSTEM, SIDE_A.length + SIDE_B.length, 'heal')
try {
  const at = (i: number) => cluster.nodes[i] ?? (() => { throw new RangeError(`no node ${i}`) })()
  const ids = await Promise.all(cluster.nodes.map((node) => node.command('peer-id', undefined)))
  const idsOf = (side: number[]): unknown[] => side.map((i) => ids[i])

  await cluster.writer.command('write', { keys, version: 1 })
  await Promise.all(cluster.nodes.map((node) => node.command('await-version', { keys, version: 1 })))

  await Promise.all([
    ...SIDE_A.map((i) => at(i).command('block', idsOf(SIDE_B))),
    ...SIDE_B.map((i) => at(i).command('block', idsOf(SIDE_A))),
  ])
  const writeStart = now()
  await cluster.writer.command('write', { keys, version: 2 })
  await Promise.all(SIDE_A.map((i) => at(i).command('await-version', { keys, version: 2 })))
  const writeMs = now() - writeStart

  const healAt = now()
  const waiting = SIDE_B.map((i) => at(i).command('await-version', { keys, version: 2 }, 120_000) as Promise<HealReport>)
  // If a node dies during the heal, Promise.all below reports it; this only keeps it from being unhandled meanwhile.
  for (const report of waiting) report.catch(() => {})
  await Promise.all(cluster.nodes.map((node) => node.command('heal', undefined)))
  const reports = await Promise.all(waiting)

  const rows = reports.map((r, i) => [
    `node ${SIDE_B[i]}`,
    ms(r.reconnectedAt - healAt),
    ms(r.firstRepairAt - r.reconnectedAt),
    ms(r.cleanAt - r.reconnectedAt),
    ms(r.cleanAt - healAt),
  ])
  process.stdout.write(`\nwrites on side A took ${ms(writeMs)} ms; times in ms\n\n`)
  process.stdout.write(table(['cut-off node', 'heal→reconnect', 'reconnect→1st repair', 'reconnect→clean', 'heal→clean'], rows) + '\n')
  const worst = Math.max(...reports.map((r) => r.cleanAt - r.reconnectedAt))
  process.stdout.write(`\ntarget (issue 3): reconnect→clean < 1000 ms for 10,000 keys: worst ${ms(worst)} ms ${worst < 1000 ? 'MET' : 'NOT MET'}\n`)
} finally {
  await cluster.close()
}
