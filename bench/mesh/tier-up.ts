/**
 * `node bench/mesh/tier-up.ts`: after how many writes V8 compiles each function of meshcache's write path with its
 * optimizing tier (TurboFan). Until then the path runs in Maglev's tier, whose code is slower (generic inline
 * caches where TurboFan's code inlines), and bench:mesh's measure at 1,000 writes/s starts 2,000 writes in.
 *
 * One process, no network: a writer cache and a receiver cache over captured transports, as
 * bench/mesh/cold-path.ts joins them (the writer's frame, enveloped, handed to the receiver), one write at a time,
 * each after a turn of the event loop so that V8's concurrent compiles land between writes. It runs itself again
 * with `--trace-opt` and reads V8's trace: for each function of the path, the write during which its TurboFan code
 * was installed (to the nearest 250; Maglev's too with `--maglev`).
 *
 *   node bench/mesh/tier-up.ts [--writes 20000] [--maglev] [--trivial] [--node-args='<V8 flags, to see what moves it>']
 *
 * `--trivial` times V8's own threshold instead: one function of 60 statements of arithmetic (nothing of meshcache),
 * called once a turn as a write's functions are. Node 24 (V8 13.6) gives it TurboFan's code after ~11,000 calls,
 * where `--invocation-count-for-turbofan` reads 3,000 (with that flag given explicitly, ~4,250): the threshold a
 * function called once a write meets, whatever its size (bench/README.md, 2026-12-05 evening).
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { keyOf } from './systems/types.ts'
import { captureTransport, envelopeInto } from '../core/util.ts'
import { numberOption } from '../../test/helpers/cli.ts'

/** The functions on the path of a lone invalidation, writer then receiver (by their names in V8's trace). */
export const PATH_FUNCTIONS = ['invalidate', '#remove', 'flush', 'encodeLone', '#onFrame', 'dispatchFrame', 'decodeLone', 'applyUpdates', '#apply', 'merged', 'valueFate', 'emitChange']
const MARK_EVERY = 250

/**
 * From a `--trace-opt` log with `@@ <writes>` lines between, the writes made when each function's code of `tier`
 * (TURBOFAN_JS, MAGLEV) was first ready.
 */
export function tierUps (log: string, tier: string): Map<string, number> {
  const out = new Map<string, number>()
  let writes = 0
  for (const line of log.split('\n')) {
    const mark = /^@@ (\d+)$/.exec(line)
    if (mark !== null) {
      writes = Number(mark[1])
      continue
    }
    // V8 says "completed compiling" when a job finishes, and "completed optimizing" when TurboFan's code is installed.
    const done = /completed (?:optimizing|compiling) .*<JSFunction (\S+) .*\(target (\w+)\)/.exec(line)
    if (done !== null && done[2] === tier && !out.has(done[1] as string)) out.set(done[1] as string, writes)
  }
  return out
}

async function child (writes: number): Promise<void> {
  const { createMeshCache } = await import('../../lib/index.ts')
  const envelope = await import('../../lib/net/libp2p/envelope.ts')
  let sent: ((bytes: Uint8Array) => void) | undefined
  const toReceiver = captureTransport(undefined, { localPeer: 'receiver', peers: ['writer'] })
  const toWriter = captureTransport(undefined, { localPeer: 'writer', peers: ['receiver'], onBroadcast (frame) { sent?.(envelope.encodeFrame(1, frame)[0] as Uint8Array) } })
  const options = { namespace: 'tier', mode: 'invalidate' as const, max: 100_000, ttl: 10 * 60_000 }
  const writer = await createMeshCache<string>({ ...options, transport: toWriter })
  const receiver = await createMeshCache<string>({ ...options, transport: toReceiver })
  let applied = 0
  receiver.on('change', (event) => { if (event.source !== 'local') applied++ })
  const deliver = envelopeInto(envelope, toReceiver, 'writer', 'tier-up')
  for (let seq = 0; seq < writes; seq++) {
    if (seq % MARK_EVERY === 0) process.stdout.write(`@@ ${seq}\n`)
    const bytes = await new Promise<Uint8Array>((resolve) => { sent = resolve; writer.invalidate(keyOf(seq)) })
    deliver(new Uint8Array(bytes)) // a copy, as a network delivers
    await new Promise((resolve) => setImmediate(resolve))
  }
  if (applied !== writes) throw new Error(`tier-up: ${applied} of ${writes} writes took effect on the receiver`)
  process.stdout.write(`@@ ${writes}\n`)
  await Promise.all([writer.close(), receiver.close()])
}

/**
 * The `--trivial` probe: straight-line arithmetic over a string, no call, one return at its end; 60 statements, so
 * that it is too large to be inlined into its caller (V8 inlines up to 460 bytes of bytecode) and tiers up as itself.
 */
// A body of 60 alike statements, written out by a loop; an indirect eval, so that V8's trace names it `probe`.
const probe = (0, eval)(`(function probe (k) {\nlet s = 0\n${Array.from({ length: 60 }, (_, i) => `s = (s * 31 + k.charCodeAt(${i % 3})) | 0`).join('\n')}\nreturn s\n})`) as (k: string) => number

/** Calls the probe once a turn (each call from a fresh `setImmediate`, as a write's functions run once a turn). */
function trivialChild (calls: number): Promise<void> {
  return new Promise((resolve) => {
    let i = 0
    let sum = 0
    const turn = (): void => {
      if (i % MARK_EVERY === 0) process.stdout.write(`@@ ${i}\n`)
      sum ^= probe(`k${i}`)
      if (++i < calls) setImmediate(turn)
      else {
        process.stdout.write(`@@ ${calls}\nsum ${sum}\n`)
        resolve()
      }
    }
    turn()
  })
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { writes: { type: 'string', default: '20000' }, maglev: { type: 'boolean' }, trivial: { type: 'boolean' }, 'node-args': { type: 'string', default: '' }, child: { type: 'boolean' } } })
  const writes = numberOption('tier-up', 'writes', values.writes, MARK_EVERY)
  if (values.child === true) return values.trivial === true ? await trivialChild(writes) : await child(writes)
  const flags = ['--trace-opt', ...values['node-args'].split(/\s+/).filter(Boolean)]
  const run = spawnSync(process.execPath, [...flags, fileURLToPath(import.meta.url), '--child', '--writes', String(writes), ...(values.trivial === true ? ['--trivial'] : [])], { encoding: 'utf8', maxBuffer: 1 << 28 })
  if (run.status !== 0) throw new Error(`tier-up: the traced run failed (${run.status}): ${run.stderr.slice(-2000)}`)
  const tiers: Array<[string, string]> = [['TURBOFAN_JS', 'TurboFan'], ...(values.maglev === true ? [['MAGLEV', 'Maglev'] as [string, string]] : [])]
  const what = values.trivial === true ? `${writes} calls of a trivial function, one a turn` : `${writes} lone invalidations, writer → receiver in one process`
  process.stdout.write(`tier-up: ${what}; Node ${process.version}${flags.length > 1 ? `, ${flags.slice(1).join(' ')}` : ''}\n`)
  process.stdout.write(`${values.trivial === true ? 'calls' : 'writes'} made when each function's code was installed (to the nearest ${MARK_EVERY}; "-": not within the run)\n`)
  const functions = values.trivial === true ? ['probe'] : PATH_FUNCTIONS
  const width = Math.max(...functions.map((f) => f.length))
  process.stdout.write(`${'function'.padEnd(width)}  ${tiers.map(([, name]) => name.padStart(9)).join('')}\n`)
  const found = tiers.map(([tier]) => tierUps(run.stdout, tier))
  for (const fn of functions) {
    process.stdout.write(`${fn.padEnd(width)}  ${found.map((m) => String(m.get(fn) ?? '-').padStart(9)).join('')}\n`)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
