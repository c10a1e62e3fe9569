/**
 * What one write costs meshcache's own code on a cold CPU, writer and receiver, against the floor's code for the same
 * write, interleaved write by write in one process (no network, no other process):
 *
 *   node bench/mesh/cold-path.ts [--writes 3000] [--against <another checkout>] [--als] [--pollute <MiB>] [--steps] [--breadth [--list]] [--minimal [--only <system>]]
 *
 * At 1,000 writes/s (bench:mesh's p50 target) every process sleeps a millisecond between writes, and the path of
 * each write runs with cold caches: what it costs is then mostly how much code and memory it touches, not how many
 * instructions it runs. This times that path alone, each write after 1 ms asleep:
 * - `floor`: bench:mesh's libp2p-stream system's own work for a write: the writer encodes tcp.ts's frame and sends
 *   it in a `process.nextTick`; the receiver splits the frame off and decodes its key (systems/tcp.ts).
 * - `meshcache`: the writer from `invalidate()` to the envelope its transport would send (the frame made at the end
 *   of the synchronous run, then wrapped: lib/net/libp2p/envelope.ts); the receiver from that envelope to the
 *   `change` event (envelope split, frame decoded and merged, the key's copy evicted).
 * - `--minimal`: also bench:mesh's libp2p-stream-minimal system's work (systems/libp2p-stream-minimal.ts): the
 *   least a design of meshcache's guarantees does for a write, hand-fused, its entry table a Map; the writer from
 *   its `invalidate` to its frame, the receiver from the frame to its change event; and `minimal-store`, the same
 *   path over meshcache's Store (systems/libp2p-stream-minimal-store.ts); and `minimal-codec`, that with meshcache's
 *   frames and codec (systems/libp2p-stream-minimal-codec.ts); and `minimal-lone`, that with meshcache's lone codec
 *   as the outbox and dispatch use it for a one-write frame (systems/libp2p-stream-minimal-lone.ts). Timed, each
 *   system runs in a process of its own beside the floor (systems in one process slow each other); `--only
 *   <system>` runs one of them so. `--breadth` counts them all in one process (its counts are exact either way).
 * - `--against <dir>`: the same as `meshcache` with `<dir>/lib`, another checkout, to compare two builds side by
 *   side (`git worktree add /tmp/before <rev>`). The builds are interleaved, so drifts of the host hit both alike.
 * - `--als`: every write is made inside an AsyncLocalStorage context, as in a service whose tracer keeps one per
 *   request (what Node then does per microtask or tick queued differs).
 * - `--pollute <MiB>`: after each sleep, before the timed step, one byte of every 64 in a buffer that size is written
 *   (the same for every system): the caches then hold what a process in place finds after the stack, its timers and
 *   the other processes ran, not the last write's path. How much slower a path gets is how much memory it touches.
 * - `--steps`: also splits `meshcache`'s path at the public methods it crosses (prototype patches, as
 *   bench/mesh/layers.ts; ~1 µs a step, so its totals read higher: compare the steps' shares) and prints each
 *   step's p50/p90.
 * - `--breadth`: instead of timing, counts the JavaScript functions each side of each system calls on every write
 *   (V8's precise coverage with call counts; the harness's own wrappers, 2-4 a side, included for every system). On
 *   a cold CPU each distinct function on the path costs about 0.1 µs (bench/README.md, "the code a write runs"), so
 *   the count is the cold path's cost without the host's noise, and exact between two builds (with `--against`).
 *   `--list` names each function (before its system's row).
 *
 * The libp2p stack beneath (yamux, Noise, pnet, TCP) is the same for both systems and is not in these figures.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { keyOf } from './systems/types.ts'
import { encodeFrame as floorFrame } from './systems/tcp.ts'
import { MinimalReplica, reader as minimalReader, writerEncoder as minimalEncoder, type BoundReplica } from './systems/libp2p-stream-minimal.ts'
import { StoreReplica } from './systems/libp2p-stream-minimal-store.ts'
import { codecReader, codecWriter } from './systems/libp2p-stream-minimal-codec.ts'
import { captureTransport, envelopeInto } from '../core/util.ts'
import { markCalls } from './call-marks.ts'

const { values: args } = parseArgs({ options: { writes: { type: 'string', default: '3000' }, against: { type: 'string' }, 'against-first': { type: 'boolean' }, als: { type: 'boolean' }, pollute: { type: 'string', default: '0' }, steps: { type: 'boolean' }, breadth: { type: 'boolean' }, list: { type: 'boolean' }, minimal: { type: 'boolean' }, only: { type: 'string' }, help: { type: 'boolean', short: 'h' } } })
if (args.help) {
  console.log('usage: node bench/mesh/cold-path.ts [--writes 3000] [--against <another checkout>] [--als] [--pollute <MiB>] [--steps] [--breadth [--list]] [--minimal [--only <system>]]')
  process.exit(0)
}
const writes = Number(args.writes)
if (!Number.isInteger(writes) || writes < 500) throw new Error(`--writes must be an integer of at least 500 (the first 300 warm up), not ${args.writes}`)
const WARMUP = 300
if (args.minimal === true && args.breadth !== true && (args.against !== undefined || args.steps === true)) {
  console.error('--minimal times the bounds and meshcache each in a process of its own: compare two builds (--against) or split meshcache\'s path (--steps) without it')
  process.exit(2)
}
if (args.steps === true && args.against !== undefined) {
  console.error('--steps slows the build it splits (its marks), so its comparison with --against would not be fair: use one or the other')
  process.exit(2)
}
const polluteMiB = Number(args.pollute)
if (!Number.isFinite(polluteMiB) || polluteMiB < 0) throw new Error(`--pollute must be a size in MiB (0 or more), not ${args.pollute}`)
const pollution = new Uint8Array(Math.round(polluteMiB * 1024 * 1024))
/** Writes one byte of every cache line of `pollution`, evicting what the caches held (a no-op at --pollute 0). */
function pollute (): void {
  for (let i = 0; i < pollution.length; i += 64) pollution[i] = (pollution[i] as number) + 1
}
/** `--steps`: the marks of the write or receipt in progress (meshcache's own build only), and each step's times. */
let marks: Array<[string, number]> | undefined
const stepTimes = new Map<string, number[]>()
const mark = (name: string): void => { marks?.push([name, performance.now()]) }
/** Files the marks of one write or receipt as steps (after the warm-up) and stops marking. */
function fileSteps (seq: number): void {
  if (marks !== undefined && seq >= WARMUP) {
    for (let i = 1; i < marks.length; i++) {
      const [from, start] = marks[i - 1] as [string, number]
      const [to, end] = marks[i] as [string, number]
      const step = `${from} → ${to}`
      const times = stepTimes.get(step) ?? []
      times.push((end - start) * 1000)
      stepTimes.set(step, times)
    }
  }
  marks = undefined
}
/** Marks each call of the public methods a write crosses on its way through `lib` (the writer's and the receiver's). */
async function markSteps (lib: string): Promise<void> {
  const { Replica } = await import(`${lib}/core/replica.ts`)
  const { Outbox } = await import(`${lib}/sync/outbox.ts`)
  const { Store } = await import(`${lib}/core/store.ts`)
  const { Derived } = await import(`${lib}/loading/derived.ts`)
  markCalls([['operation', Derived.prototype, 'operation'], ['replica.write', Replica.prototype, 'write'], ['store.writeState', Store.prototype, 'writeState'],
    ['outbox.push', Outbox.prototype, 'push'], ['store.bury', Store.prototype, 'bury'], ['replica.applyUpdates', Replica.prototype, 'applyUpdates'],
    ['store.addState', Store.prototype, 'addState']], mark)
}
const als = new AsyncLocalStorage<{ seq: number }>()
/** Runs a write's first step as the service would: inside a context with `--als`. */
const inContext = <T>(seq: number, fn: () => T): T => args.als === true ? als.run({ seq }, fn) : fn()
/** The other checkout's root, without a trailing slash. */
const againstRoot = args.against?.replace(/\/$/, '')
if (againstRoot !== undefined && !existsSync(`${againstRoot}/lib/index.ts`)) {
  console.error(`--against ${args.against}: no lib/index.ts there; give the root of another meshcache checkout`)
  process.exit(2)
}

/** This script again, in a child process, with the same options and `extra`: what it printed. */
function runChild (extra: string[]): string {
  const argv = [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2), ...extra]
  return execFileSync(process.execPath, argv, { encoding: 'utf8', env: { ...process.env, COLD_PATH_CHILD: '1' }, stdio: ['ignore', 'pipe', 'inherit'] })
}

// Of two builds in one process, the one set up first runs 5-13 % slower (both ways round, the same pair of builds).
// So a comparison runs twice, in two processes, each build first once, and gives the geometric mean of the two.
if (args.against !== undefined && args.breadth !== true && process.env.COLD_PATH_CHILD === undefined) {
  const ratios: Array<[number, number]> = []
  for (const first of [false, true]) {
    const out = runChild(first ? ['--against-first'] : [])
    process.stdout.write(out)
    const m = /meshcache \/ against: writer ([\d.]+), receiver ([\d.]+)/.exec(out)
    if (m === null) throw new Error('cold-path: a run printed no ratio')
    ratios.push([Number(m[1]), Number(m[2])])
  }
  const mean = (i: 0 | 1): string => Math.sqrt((ratios[0] as number[])[i] as number * ((ratios[1] as number[])[i] as number)).toFixed(3)
  console.log(`meshcache / against, both orders (geometric mean): writer ${mean(0)}, receiver ${mean(1)}`)
  process.exit(0)
}

interface Path {
  name: string
  /** Starts write `seq`; resolves with the bytes the writer would send and when they were ready. */
  write (seq: number): Promise<{ bytes: Uint8Array, at: number }>
  /** Takes those bytes on the receiver; returns when the write took effect there. */
  receive (bytes: Uint8Array): number
  writer: number[]
  receiver: number[]
}

/**
 * A path's `write` that makes write `seq`'s frame with `encode` and sends it in a `process.nextTick`, as
 * libp2p-stream.ts's writer does (made once per path: on the path, the same functions as a method of its own).
 */
function sentNextTick (encode: (seq: number) => Buffer): Path['write'] {
  return (seq) => new Promise((resolve) => {
    inContext(seq, () => {
      const turn = [encode(seq)]
      process.nextTick(() => { resolve({ bytes: turn[0] as Buffer, at: performance.now() }) })
    })
  })
}

function floorPath (): Path {
  let received = -1
  return {
    name: 'floor',
    writer: [],
    receiver: [],
    write: sentNextTick(floorFrame),
    receive (bytes) {
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) // as libp2p-stream.ts's receiver reads it
      const len = buf.readUInt16BE(0)
      buf.toString('utf8', 6, 2 + len)
      received = buf.readUInt32BE(2)
      if (received < 0) throw new Error('unreachable')
      return performance.now()
    },
  }
}

function minimalPath<R extends BoundReplica> (name: string, makeReplica: () => R, encoder: (replica: R) => (seq: number) => Buffer, reader: (replica: R) => (chunk: Buffer) => void): Path {
  const writer = encoder(makeReplica())
  const replica = makeReplica()
  const read = reader(replica)
  let changedAt = Number.NaN
  replica.events.on('change', () => { changedAt = performance.now() })
  return {
    name,
    writer: [],
    receiver: [],
    write: sentNextTick(writer),
    receive (bytes) {
      changedAt = Number.NaN
      read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
      if (Number.isNaN(changedAt)) throw new Error(`${name}: the write did not take effect on the receiver`)
      return changedAt
    },
  }
}

async function meshcachePath (name: string, lib: string): Promise<Path> {
  const { createMeshCache } = await import(`${lib}/index.ts`)
  const envelope = await import(`${lib}/net/libp2p/envelope.ts`)
  let sent: ((out: { bytes: Uint8Array, at: number }) => void) | undefined
  let changedAt = Number.NaN
  const toReceiver = captureTransport(undefined, { localPeer: 'receiver', peers: ['writer'] })
  const toWriter = captureTransport(undefined, {
    localPeer: 'writer',
    peers: ['receiver'],
    onBroadcast (frame) {
      mark('frame made')
      const bytes = envelope.encodeFrame(1, frame)[0] as Uint8Array
      mark('enveloped')
      sent?.({ bytes, at: performance.now() })
    },
  })
  const options = { namespace: 'cold', mode: 'invalidate', max: 100_000, ttl: 10 * 60_000 }
  const writer = await createMeshCache({ ...options, transport: toWriter })
  const receiver = await createMeshCache({ ...options, transport: toReceiver })
  receiver.on('change', (event: { source: string }) => {
    if (event.source === 'local') return
    changedAt = performance.now()
    mark('change')
  })
  const steps = args.steps === true && name === 'meshcache'
  let receipts = 0 // one per write, in order: the write's number
  if (steps) await markSteps(lib)
  const deliver = envelopeInto(envelope, toReceiver, 'writer', name)
  return {
    name,
    writer: [],
    receiver: [],
    write (seq) {
      return new Promise((resolve) => {
        sent = (out) => {
          if (steps) fileSteps(seq)
          resolve(out)
        }
        if (steps) marks = [['W invalidate()', performance.now()]]
        inContext(seq, () => writer.invalidate(keyOf(seq)))
        mark('W returned')
      })
    },
    receive (bytes) {
      changedAt = Number.NaN
      if (steps) marks = [['R envelope in', performance.now()]]
      deliver(bytes)
      if (steps) fileSteps(receipts++)
      if (Number.isNaN(changedAt)) throw new Error(`${name}: the write did not take effect on the receiver`)
      return changedAt
    },
  }
}

/** The bounds `--minimal` adds beside meshcache, by name, each made only where it runs. */
const boundEncoder = (replica: BoundReplica): (seq: number) => Buffer => minimalEncoder(replica, 7, 0)
const BOUND_ORIGIN = '0123abcd~0123456789ab'
const BOUNDS: Record<string, () => Path> = {
  minimal: () => minimalPath('minimal', () => new MinimalReplica(), boundEncoder, minimalReader),
  'minimal-store': () => minimalPath('minimal-store', () => new StoreReplica(), boundEncoder, minimalReader),
  'minimal-codec': () => minimalPath('minimal-codec', () => new StoreReplica(), (replica) => codecWriter(replica, BOUND_ORIGIN), codecReader),
  'minimal-lone': () => minimalPath('minimal-lone', () => new StoreReplica(), (replica) => codecWriter(replica, BOUND_ORIGIN, 'lone'), (replica) => codecReader(replica, 'lone')),
}
/** What `--minimal` times, each in a process of its own; `--only <name>` times one of them (with the floor). */
const MINIMAL_SYSTEMS = [...Object.keys(BOUNDS), 'meshcache']
if (args.only !== undefined && (args.minimal !== true || !MINIMAL_SYSTEMS.includes(args.only))) {
  console.error(`--only ${args.only}: takes --minimal and one of ${MINIMAL_SYSTEMS.join(', ')}`)
  process.exit(2)
}
// Timed in one process, the systems slow each other: meshcache's path read 7-9 µs beside the floor alone and
// 18-22 µs beside the four bounds (each system's code and data evicting the others' between its writes; bench/README.md,
// "2026-12-06"). So `--minimal` times each system in a process of its own beside the floor, as bench:mesh runs one
// system a process, and prints their rows together, each against its own process's floor.
if (args.minimal === true && args.breadth !== true && args.only === undefined) {
  console.log(`cold path: ${writes} writes per system, each system in a process of its own beside the floor, each step after 1 ms asleep${polluteMiB > 0 ? ` and ${polluteMiB} MiB written over` : ''}`)
  console.log('system                 writer p50    p90   receiver p50    p90   both p50 (µs)   / its floor')
  for (const name of MINIMAL_SYSTEMS) {
    const out = runChild(['--only', name])
    const rows = out.split('\n').filter((line) => line.startsWith('floor ') || line.startsWith(`${name} `))
    if (rows.length !== 2) throw new Error(`cold-path --only ${name}: expected the floor's row and its own, got:\n${out}`)
    for (const row of rows) console.log(row.startsWith('floor ') ? row.replace(/^floor {6}/, '(its floor)') : row)
  }
  process.exit(0)
}

const paths = [floorPath()]
if (args.minimal === true) {
  for (const [name, make] of Object.entries(BOUNDS)) if (args.only === undefined || args.only === name) paths.push(make())
}
const against = againstRoot === undefined ? undefined : (): Promise<Path> => meshcachePath(`against ${againstRoot}`, `${againstRoot}/lib`)
if (against !== undefined && args['against-first'] === true) paths.push(await against())
if (args.only === undefined || args.only === 'meshcache') paths.push(await meshcachePath('meshcache', new URL('../../lib', import.meta.url).pathname))
if (against !== undefined && args['against-first'] !== true) paths.push(await against())

if (args.breadth === true) {
  await printBreadth(paths)
  process.exit(0)
}

/** `--breadth`: per system and side, the functions called on every timed write and the calls a write they make. */
async function printBreadth (systems: Path[]): Promise<void> {
  const { Session } = await import('node:inspector/promises')
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: false })
  const n = writes - WARMUP
  /** What `run` calls on every one of the n writes: [functions, calls a write]. */
  const counted = async (run: () => Promise<void>): Promise<[number, number]> => {
    await session.post('Profiler.takePreciseCoverage') // counts from zero
    await run()
    const { result } = await session.post('Profiler.takePreciseCoverage')
    let functions = 0
    let calls = 0
    for (const script of result) {
      for (const fn of script.functions) {
        const count = fn.ranges[0]?.count ?? 0
        if (count < n) continue
        functions++
        calls += count / n
        if (args.list === true) console.log(`    ${fn.functionName || '(anonymous)'}  ${script.url.split('/').slice(-2).join('/')}  ${(count / n).toFixed(1)} a write`)
      }
    }
    return [functions, calls]
  }
  console.log(`path breadth: JavaScript functions called on every one of ${n} writes (after ${WARMUP} to warm up), and their calls a write`)
  console.log('system                 writer functions   calls   receiver functions   calls')
  for (const path of systems) {
    for (let seq = 0; seq < WARMUP; seq++) path.receive(new Uint8Array((await path.write(seq)).bytes))
    const sent: Uint8Array[] = []
    const writer = await counted(async () => { for (let seq = WARMUP; seq < writes; seq++) sent.push(new Uint8Array((await path.write(seq)).bytes)) })
    const receiver = await counted(async () => { for (const bytes of sent) path.receive(bytes) })
    const cells = [writer[0], writer[1].toFixed(1), receiver[0], receiver[1].toFixed(1)].map(String)
    console.log(`${path.name.padEnd(22)} ${(cells[0] as string).padStart(16)} ${(cells[1] as string).padStart(7)} ${(cells[2] as string).padStart(20)} ${(cells[3] as string).padStart(7)}`)
  }
}

const asleep = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1))
console.log(`cold path: ${writes} writes per system, each step after 1 ms asleep${polluteMiB > 0 ? ` and ${polluteMiB} MiB written over` : ''}, systems interleaved write by write${args.als === true ? ', each write in an AsyncLocalStorage context' : ''}${args['against-first'] === true ? ', the other build set up first' : ''}`)
// Each meshcache build runs right after the floor, never after another build: a build that follows code much like
// its own finds more of it in the caches (the same build twice, each after the other, differed by 15 %).
const [floorPath0, ...builds] = paths as [Path, ...Path[]]
for (let seq = 0; seq < writes; seq++) {
  const order = builds.flatMap((_, k) => [floorPath0, builds[(seq + k) % builds.length] as Path])
  for (const path of order) {
    await asleep()
    pollute()
    const start = performance.now()
    const { bytes, at } = await path.write(seq)
    await asleep()
    pollute()
    const arrived = performance.now()
    // A copy, as a network delivers: the receiver does not read the bytes where the writer made them.
    const done = path.receive(new Uint8Array(bytes))
    if (seq >= WARMUP) {
      path.writer.push((at - start) * 1000)
      path.receiver.push((done - arrived) * 1000)
    }
  }
}

const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))] as number
const floor = paths[0] as Path
const floorSum = quantile(floor.writer, 0.5) + quantile(floor.receiver, 0.5)
console.log('system                 writer p50    p90   receiver p50    p90   both p50 (µs)   / floor')
for (const path of paths) {
  const sum = quantile(path.writer, 0.5) + quantile(path.receiver, 0.5)
  const cells = [quantile(path.writer, 0.5), quantile(path.writer, 0.9), quantile(path.receiver, 0.5), quantile(path.receiver, 0.9)]
  console.log(`${path.name.padEnd(22)} ${cells.map((v) => v.toFixed(2).padStart(10)).join('')} ${sum.toFixed(2).padStart(12)} ${(sum / floorSum).toFixed(2).padStart(9)}x`)
}
const other = paths.find((p) => p.name.startsWith('against'))
if (other !== undefined) {
  const mine = paths.find((p) => p.name === 'meshcache') as Path
  const ratio = (f: (p: Path) => number[]): string => (quantile(f(mine), 0.5) / quantile(f(other), 0.5)).toFixed(3)
  console.log(`meshcache / against: writer ${ratio((p) => p.writer)}, receiver ${ratio((p) => p.receiver)}`)
}
if (stepTimes.size !== 0) {
  console.log(`meshcache's path, step by step (µs${polluteMiB > 0 ? `, after ${polluteMiB} MiB written over` : ''})    p50      p90`)
  for (const [step, times] of stepTimes) console.log(`  ${step.padEnd(44)} ${quantile(times, 0.5).toFixed(2).padStart(7)}  ${quantile(times, 0.9).toFixed(2).padStart(7)}`)
}
process.exit(0)
