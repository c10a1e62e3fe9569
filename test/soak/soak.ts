/**
 * Soak test for meshcache: N real processes (node.ts), each a cache over the
 * default libp2p transport on 127.0.0.1 with a psk, driven over IPC with
 * random writes (concurrent ones on the same keys included), reads, cut
 * connections, partitions that heal, and kill -9 + restart. At the end:
 * heal, wait (bounded) for quiescence and check convergence, the winning
 * write everywhere, and bounded memory.
 *
 *   npm run soak -- [--nodes 5] [--seconds 120]
 *     [--seed S] [--mode invalidate|replicate] [--ttl 20000] [--max 100]
 *     [--stable 1] [--sample 5] [--quiet] (--help lists the rest)
 *
 * Exit code 0: every check passed; 1: some failed (listed at the end).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

import { generatePsk } from '../../lib/index.ts'
import { freePort } from '../helpers/ports.ts'
import { parseCli } from '../helpers/cli.ts'
const NODE_SCRIPT = fileURLToPath(new URL('./node.ts', import.meta.url))

// ---------------------------------------------------------------- options

const USAGE = `usage: npm run soak -- [--nodes 5] [--seconds 120] [--seed S] [--mode invalidate|replicate] [--ttl 20000]
  [--max 100] [--stable 1] [--sample 5] [--redial 200] [--max-redial 2000] [--hot 40] [--final-split 8] [--quiet]`
const options = parseCli(USAGE, {
  nodes: { type: 'string', default: '5' },
  seconds: { type: 'string', default: '120' },
  seed: { type: 'string', default: String(Math.floor(Math.random() * 2 ** 31)) },
  mode: { type: 'string', default: 'invalidate' },
  ttl: { type: 'string', default: '20000' },
  max: { type: 'string', default: '100' },
  stable: { type: 'string', default: '1' }, // slots 0..stable-1 are never killed (a full-run heap series)
  sample: { type: 'string', default: '5' },
  redial: { type: 'string', default: '200' },
  'max-redial': { type: 'string', default: '2000' },
  quiet: { type: 'boolean', default: false },
  hot: { type: 'string', default: '40' },
  'final-split': { type: 'string', default: '8' },
})
const N = Number(options.nodes)
const SECONDS = Number(options.seconds)
const SEED = Number(options.seed)
const MODE = options.mode as 'invalidate' | 'replicate'
const TTL = Number(options.ttl)
const MAX = Number(options.max)
const STABLE = Number(options.stable)
const SAMPLE_MS = Number(options.sample) * 1000
const REDIAL = Number(options.redial)
const MAX_REDIAL = Number(options['max-redial'])
const QUIET = options.quiet
const HOT_KEYS = Number(options.hot)
const FINAL_SPLIT_MS = Number(options['final-split']) * 1000
const MAX_CLOCK_SKEW = 5000 // the library default
const HORIZON = TTL + MAX_CLOCK_SKEW
const GC_INTERVAL = Math.max(1, Math.min(Math.floor(HORIZON / 4), 10_000))
if (!(N >= 2) || !(SECONDS > 0) || !['invalidate', 'replicate'].includes(MODE) || !Number.isSafeInteger(SEED)) {
  console.error(`--nodes must be 2 or more, --seconds positive, --seed an integer and --mode invalidate or replicate\n${USAGE}`)
  process.exit(2)
}

const replay = `npm run soak -- --nodes ${N} --seconds ${SECONDS} --seed ${SEED} --mode ${MODE} --ttl ${TTL} --max ${MAX} --stable ${STABLE} --hot ${HOT_KEYS} --redial ${REDIAL} --max-redial ${MAX_REDIAL} --final-split ${FINAL_SPLIT_MS / 1000}`
const T0 = Date.now()
const ts = (): string => `[${((Date.now() - T0) / 1000).toFixed(1).padStart(6)} s]`
const say = (s: string): void => { console.log(`${ts()} ${s}`) }
const verbose = (s: string): void => { if (!QUIET) say(s) }
say(`meshcache soak: ${N} processes, ${SECONDS} s, mode ${MODE}, ttl ${TTL} ms (horizon ${HORIZON} ms, gc every ${GC_INTERVAL} ms), max ${MAX}, seed ${SEED}`)
say(`replay: ${replay}`)

// ---------------------------------------------------------------- seeded PRNG (mulberry32)

let rs = SEED >>> 0
function rand (): number {
  rs = (rs + 0x6D2B79F5) >>> 0
  let t = rs
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const rint = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1))
const pick = <T>(a: T[]): T => a[Math.floor(rand() * a.length)] as T
const shuffle = <T>(a: T[]): T[] => { const b = a.slice(); for (let i = b.length - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [b[i], b[j]] = [b[j] as T, b[i] as T] } return b }
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

// ---------------------------------------------------------------- failures

const failures: string[] = []
const warnings: string[] = []
function fail (s: string): void { failures.push(s); say(`FAIL: ${s}`) }
function warn (s: string): void { warnings.push(s); say(`WARN: ${s}`) }

// ---------------------------------------------------------------- processes


interface Sample {
  at: number, tombstones: number, origins: number, liveKeys: number, metaEntries: number, valueless: number
  maxVv: number, sumVv: number, vvOrigins: number
  metadataBytes: number, heapUsed: number, sharedBytes: number, rss: number, connected: number, members: number
  stats: Record<string, number>, transport: Record<string, number>, evicts: Record<string, number>
  frameErrors: number, frameErrorSamples: string[]
}
interface Incarnation { origin: string, peerId: string, pid: number, startedAt: number, endedAt?: number, killed: boolean, samples: Sample[] }
interface Slot {
  slot: number
  port: number
  child?: ChildProcess
  peerId: string
  origin: string
  state: 'down' | 'starting' | 'up' | 'stopping'
  inflight: Set<Promise<unknown>>
  incarnations: Incarnation[]
  waiting: Map<number, { resolve: (v: any) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>
}

const psk: string = generatePsk()
const slots: Slot[] = []
let nextId = 0
const allChildren = new Set<ChildProcess>()

function ask (s: Slot, req: Record<string, unknown>, timeoutMs = 15_000): Promise<any> {
  const child = s.child
  if (child === undefined || s.state === 'down' || !child.connected) return Promise.reject(new Error(`slot ${s.slot} is down`))
  const id = nextId++
  const p = new Promise<any>((resolve, reject) => {
    const timer = setTimeout(() => { s.waiting.delete(id); reject(new Error(`slot ${s.slot}: no answer to ${String(req.op)} within ${timeoutMs} ms`)) }, timeoutMs)
    s.waiting.set(id, { resolve, reject, timer })
    try { child.send({ ...req, id }) } catch (e) { clearTimeout(timer); s.waiting.delete(id); reject(e as Error) }
  })
  s.inflight.add(p)
  const done = (): void => { s.inflight.delete(p) }
  p.then(done, done)
  return p
}

async function start (s: Slot): Promise<void> {
  s.state = 'starting'
  const peerPorts = slots.filter((o) => o !== s).map((o) => o.port).join(',')
  const child = fork(NODE_SCRIPT, [String(s.slot), String(s.port), peerPorts, MODE, String(TTL), String(MAX), String(REDIAL), String(MAX_REDIAL)], {
    execPath: process.execPath,
    execArgv: ['--expose-gc'],
    env: { ...process.env, SOAK_PSK: psk },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  allChildren.add(child)
  s.child = child
  let inc: Incarnation | undefined
  const ready = new Promise<void>((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`slot ${s.slot} not ready within 30 s`)), 30_000)
    child.on('message', (m: any) => {
      if (m.ev === 'ready') {
        clearTimeout(guard)
        s.peerId = m.peerId
        s.origin = m.origin
        inc = { origin: m.origin, peerId: m.peerId, pid: m.pid, startedAt: Date.now(), killed: false, samples: [] }
        s.incarnations.push(inc)
        resolve()
      } else if (m.ev === 'error') {
        fail(`slot ${s.slot} (${s.origin}) reported: ${m.message}`)
      } else if (typeof m.id === 'number') {
        const w = s.waiting.get(m.id)
        if (w === undefined) return
        s.waiting.delete(m.id)
        clearTimeout(w.timer)
        if (m.ok) w.resolve(m.value)
        else w.reject(new Error(`slot ${s.slot}: ${m.error}`))
      }
    })
    child.once('exit', (code, signal) => {
      clearTimeout(guard)
      allChildren.delete(child)
      if (s.child === child) {
        const intended = s.state === 'stopping' || finished
        s.state = 'down'
        if (inc !== undefined) inc.endedAt = Date.now()
        if (!intended) fail(`slot ${s.slot} (${s.origin}) exited unexpectedly: code ${code} signal ${signal}`)
      }
      for (const [, w] of s.waiting) { clearTimeout(w.timer); w.reject(new Error(`slot ${s.slot} exited`)) }
      s.waiting.clear()
      reject(new Error(`slot ${s.slot} exited before ready`))
    })
  })
  await ready
  s.state = 'up'
}

async function kill9 (s: Slot): Promise<void> {
  s.state = 'stopping'
  // Let requests already sent get their answers, so every write it made is logged (bounded).
  await Promise.race([Promise.allSettled([...s.inflight]), sleep(5_000)])
  const child = s.child as ChildProcess
  const inc = s.incarnations.at(-1)
  if (inc !== undefined) inc.killed = true
  const gone = once(child, 'exit')
  child.kill('SIGKILL')
  await Promise.race([gone, sleep(5_000)])
}

const up = (): Slot[] => slots.filter((s) => s.state === 'up')

// ---------------------------------------------------------------- write log

interface Write { key: string, kind: 'set' | 'delete' | 'invalidate', value: string | null, hlc: number, writer: string, vv: Array<string | number>, slot: number, at: number }
const writes = new Map<string, Write[]>()
/** Every value ever sent to a process in a set (recorded before the request leaves). */
const issued = new Map<string, Set<string>>()
let valueCounter = 0
let freshCounter = 0
const recentFresh: string[] = []
const counts = { batches: 0, ops: 0, sets: 0, deletes: 0, invalidates: 0, concurrentRounds: 0, reads: 0, readValues: 0, cuts: 0, partitions: 0, isolations: 0, kills: 0, restarts: 0, writeErrors: 0 }
let finished = false
let partition: { groups: number[][], label: string } | undefined

const physicalMs = (hlc: number): number => Math.floor(hlc / 1000)
const wins = (a: Write, b: Write): boolean => a.hlc > b.hlc || (a.hlc === b.hlc && a.writer > b.writer)

function chooseKey (): string {
  const r = rand()
  if (r < 0.5) return `h${rint(0, HOT_KEYS - 1)}`
  if (r < 0.6 && recentFresh.length > 0) return pick(recentFresh)
  const k = `f${freshCounter++}`
  recentFresh.push(k)
  if (recentFresh.length > 60) recentFresh.shift()
  return k
}

function chooseOp (key: string, s: Slot): { kind: Write['kind'], key: string, value?: string } {
  const r = rand()
  if (r < 0.6) {
    const value = `${key}=${s.slot}#${++valueCounter}`
    let set = issued.get(key)
    if (set === undefined) issued.set(key, set = new Set())
    set.add(value)
    return { kind: 'set', key, value }
  }
  return { kind: r < 0.8 ? 'delete' : 'invalidate', key }
}

async function sendOps (s: Slot, ops: Array<{ kind: Write['kind'], key: string, value?: string }>): Promise<void> {
  let out: any[]
  try {
    out = await ask(s, { op: 'ops', ops })
  } catch (e) {
    if (s.state === 'up') { counts.writeErrors++; fail(`ops on slot ${s.slot} failed: ${(e as Error).message}`) }
    return
  }
  counts.batches++
  for (const o of out) {
    counts.ops++
    if (o.kind === 'set') counts.sets++
    else if (o.kind === 'delete') counts.deletes++
    else counts.invalidates++
    if (!o.ryw) fail(`read-your-write on slot ${s.slot} (${s.origin}): after ${o.kind} ${o.key}${o.value !== null ? '=' + o.value : ''} get returned ${JSON.stringify(o.got)}`)
    if (o.hlc === undefined || o.writer !== s.origin || o.vkind !== o.kind) fail(`slot ${s.slot}: inspect after ${o.kind} ${o.key} shows ${JSON.stringify({ hlc: o.hlc, writer: o.writer, kind: o.vkind })}`)
    let w = writes.get(o.key)
    if (w === undefined) writes.set(o.key, w = [])
    w.push({ key: o.key, kind: o.kind, value: o.value, hlc: o.hlc, writer: o.writer, vv: o.vv, slot: s.slot, at: physicalMs(o.hlc) })
  }
}

// ---------------------------------------------------------------- loops (each bounded by END)

const END = T0 + 15_000 + SECONDS * 1000 // set after start-up below
let runEnd = END

async function writerLoop (): Promise<void> {
  while (Date.now() < runEnd) {
    await sleep(rint(10, 50))
    const live = up()
    if (live.length === 0) continue
    if (rand() < 0.25 && live.length >= 2) {
      // Concurrent writes to the same keys from several processes at once.
      counts.concurrentRounds++
      const keys = Array.from({ length: rint(1, 3) }, () => rand() < 0.8 ? `h${rint(0, Math.min(HOT_KEYS, 8) - 1)}` : chooseKey())
      const writers = shuffle(live).slice(0, rint(2, Math.min(4, live.length)))
      await Promise.all(writers.map((s) => sendOps(s, keys.map((k) => chooseOp(k, s)))))
    } else {
      const s = pick(live)
      const ops = Array.from({ length: rint(1, 4) }, () => chooseOp(chooseKey(), s))
      void sendOps(s, ops) // not awaited: several batches may be in flight on several processes
    }
  }
}

async function readerLoop (): Promise<void> {
  while (Date.now() < runEnd) {
    await sleep(rint(150, 400))
    const live = up()
    if (live.length === 0) continue
    const s = pick(live)
    const keys = [...Array.from({ length: HOT_KEYS }, (_, i) => `h${i}`), ...recentFresh]
    let values: Array<string | null>
    try {
      values = await ask(s, { op: 'get', keys })
    } catch (e) {
      if (s.state === 'up') fail(`get on slot ${s.slot} failed: ${(e as Error).message}`)
      continue
    }
    counts.reads++
    values.forEach((v, i) => {
      if (v === null) return
      counts.readValues++
      const key = keys[i] as string
      if (issued.get(key)?.has(v) !== true) fail(`slot ${s.slot} (${s.origin}) serves ${key}=${JSON.stringify(v)}, which nobody wrote`)
    })
  }
}

async function applyPartitionTo (s: Slot): Promise<void> {
  if (partition === undefined) return
  const mine = partition.groups.find((g) => g.includes(s.slot)) ?? []
  const others = slots.filter((o) => !mine.includes(o.slot) && o.peerId !== '').map((o) => o.peerId)
  // Also the peer ids of earlier incarnations of the other side are harmless to block.
  await ask(s, { op: 'block', peers: others }).catch(() => {})
}

async function healAll (): Promise<void> {
  partition = undefined
  await Promise.all(up().map((s) => ask(s, { op: 'heal' }).catch(() => {})))
}

async function faultLoop (): Promise<void> {
  let partitionUntil = 0
  let nextKill = Date.now() + rint(8_000, 15_000)
  const pendingRestarts: Array<Promise<void>> = []
  let finalSplit = false
  while (Date.now() < runEnd) {
    await sleep(rint(700, 2_500))
    if (Date.now() >= runEnd) break
    if (finalSplit) continue
    if (Date.now() >= runEnd - FINAL_SPLIT_MS) {
      // The last seconds run split in two (writes on both sides), so the final heal has something to merge.
      if (partition !== undefined) await healAll()
      const order = shuffle(slots.map((s) => s.slot))
      const cut = rint(1, N - 1)
      partition = { groups: [order.slice(0, cut), order.slice(cut)], label: `final {${order.slice(0, cut).join(',')}} | {${order.slice(cut).join(',')}}` }
      finalSplit = true
      counts.partitions++
      verbose(`partition ${partition.label} until the end of the run`)
      await Promise.all(up().map((s) => applyPartitionTo(s)))
      continue
    }
    if (partition !== undefined && Date.now() >= partitionUntil) {
      verbose(`heal (${partition.label})`)
      await healAll()
      continue
    }
    const live = up()
    const r = rand()
    if (Date.now() >= nextKill) {
      nextKill = Date.now() + rint(10_000, 20_000)
      const victims = live.filter((s) => s.slot >= STABLE)
      if (victims.length === 0) continue
      const v = pick(victims)
      const downMs = rint(300, 4_000)
      counts.kills++
      verbose(`kill -9 slot ${v.slot} (${v.origin}), restart in ${downMs} ms`)
      await kill9(v)
      pendingRestarts.push((async () => {
        await sleep(downMs)
        try {
          await start(v)
          counts.restarts++
          verbose(`restarted slot ${v.slot} as ${v.origin}`)
          if (partition !== undefined) {
            // the new peer id must be blocked by the other side, and it must block the other side
            await Promise.all(up().map((o) => applyPartitionTo(o)))
          }
        } catch (e) {
          fail(`restart of slot ${v.slot} failed: ${(e as Error).message}`)
        }
      })())
      continue
    }
    if (r < 0.45 && live.length >= 2) {
      const [a, b] = shuffle(live) as [Slot, Slot]
      counts.cuts++
      verbose(`cut ${a.slot} -> ${b.slot}`)
      await ask(a, { op: 'cut', peer: b.peerId }).catch(() => {})
    } else if (r < 0.75 && partition === undefined) {
      const order = shuffle(slots.map((s) => s.slot))
      let groups: number[][]
      if (rand() < 0.3) {
        const cut = rint(1, N - 1)
        groups = [order.slice(0, cut), order.slice(cut)]
      } else {
        const a = rint(1, N - 2)
        const b = rint(a + 1, N - 1)
        groups = [order.slice(0, a), order.slice(a, b), order.slice(b)].filter((g) => g.length > 0)
      }
      const label = groups.map((g) => `{${g.join(',')}}`).join(' | ')
      partition = { groups, label }
      partitionUntil = Date.now() + rint(2_000, 9_000)
      counts.partitions++
      verbose(`partition ${label} for ${partitionUntil - Date.now()} ms`)
      await Promise.all(up().map((s) => applyPartitionTo(s)))
    } else if (r < 0.85 && partition === undefined && live.length >= 2) {
      const s = pick(live)
      counts.isolations++
      partition = { groups: [[s.slot], slots.filter((o) => o !== s).map((o) => o.slot)], label: `isolate ${s.slot}` }
      partitionUntil = Date.now() + rint(1_000, 6_000)
      verbose(`isolate slot ${s.slot}`)
      await ask(s, { op: 'isolate' }).catch(() => {})
    }
  }
  await Promise.race([Promise.allSettled(pendingRestarts), sleep(40_000)])
}

async function samplerLoop (): Promise<void> {
  while (Date.now() < runEnd) {
    await takeSamples()
    const until = Math.min(runEnd, Date.now() + SAMPLE_MS)
    while (Date.now() < until) await sleep(Math.min(250, until - Date.now()))
  }
}

async function takeSamples (): Promise<void> {
  await Promise.all(up().map(async (s) => {
    const inc = s.incarnations.at(-1)
    try {
      const sm = await ask(s, { op: 'sample', gc: true }) as Sample
      inc?.samples.push(sm)
      if (sm.tombstones !== sm.valueless) fail(`slot ${s.slot} (${s.origin}): stats().tombstones ${sm.tombstones} but ${sm.valueless} metadata entries without a value`)
    } catch (e) {
      if (s.state === 'up') warn(`sample of slot ${s.slot} failed: ${(e as Error).message}`)
    }
  }))
}

// ---------------------------------------------------------------- final checks

type Meta = Array<[string, { kind: string, hlc: number, writer: string, vv: Array<string | number>, hasValue: boolean }]>
/**
 * A key's state as a comparable string. With `live`, vector entries of other
 * origins (departed incarnations, save the writer) are left out: each process
 * forgets those on its own clock, within about two horizons (SPEC §7).
 */
const metaKey = (v: Meta[number][1], live?: ReadonlySet<string>): string => {
  const vv = live === undefined ? v.vv : v.vv.filter((_, i, all) => {
    const origin = all[i - (i % 2)] as string
    return origin === v.writer || live.has(origin)
  })
  return JSON.stringify([v.kind, v.hlc, v.writer, vv])
}

async function metadataOfAll (): Promise<Map<number, Map<string, Meta[number][1]>>> {
  const out = new Map<number, Map<string, Meta[number][1]>>()
  await Promise.all(up().map(async (s) => {
    const m = await ask(s, { op: 'metadata' }, 30_000) as Meta
    out.set(s.slot, new Map(m))
  }))
  return out
}

/** Differences: keys held by two processes with different metadata, and recent keys missing somewhere. */
function compareMeta (all: Map<number, Map<string, Meta[number][1]>>, now: number, live?: ReadonlySet<string>): string[] {
  const diffs: string[] = []
  const keys = new Set<string>()
  for (const m of all.values()) for (const k of m.keys()) keys.add(k)
  const recentCut = now - HORIZON + 4_000 // written after this: nobody may have collected it yet
  for (const key of keys) {
    const seen = new Map<string, number[]>()
    let newest = 0
    for (const [slot, m] of all) {
      const v = m.get(key)
      if (v === undefined) continue
      newest = Math.max(newest, physicalMs(v.hlc))
      const k = metaKey(v, live)
      seen.set(k, [...(seen.get(k) ?? []), slot])
    }
    const missing = [...all.keys()].filter((slot) => all.get(slot)?.has(key) !== true)
    if (seen.size > 1) diffs.push(`${key}: ${[...seen].map(([k, sl]) => `slots ${sl.join(',')} hold ${k}`).join('; ')}`)
    else if (missing.length > 0 && newest > recentCut) diffs.push(`${key} (written ${((now - newest) / 1000).toFixed(1)} s ago): missing on slots ${missing.join(',')}, held as ${[...seen.keys()][0]} by ${[...seen.values()][0]?.join(',')}`)
  }
  return diffs
}

async function finalPhase (): Promise<void> {
  say('run over: stopping faults and writes, restarting dead processes, healing')
  const down = slots.filter((s) => s.state === 'down')
  await Promise.all(down.map(async (s) => { try { await start(s); counts.restarts++ } catch (e) { fail(`final restart of slot ${s.slot}: ${(e as Error).message}`) } }))
  await healAll()
  const healedAt = Date.now()
  // Connected everywhere (bounded)
  const connDeadline = Date.now() + 60_000
  let conn: number[] = []
  while (Date.now() < connDeadline) {
    conn = await Promise.all(up().map((s) => ask(s, { op: 'connected' }).catch(() => -1)))
    if (conn.length === N && conn.every((c) => c === N - 1)) break
    await sleep(200)
  }
  if (!(conn.length === N && conn.every((c) => c === N - 1))) fail(`mesh not fully connected 60 s after the heal: connected peers ${conn.join(',')}`)
  else say(`full mesh again ${Date.now() - healedAt} ms after the heal`)
  await Promise.all(up().map((s) => ask(s, { op: 'sync' }).catch(() => {})))

  // Quiescence: metadata identical twice in a row (bounded), leaving out the
  // vector entries of departed incarnations; those are checked after (1b).
  const live = new Set(up().map((s) => s.origin))
  const qDeadline = Date.now() + 60_000
  let all = await metadataOfAll()
  let diffs = compareMeta(all, Date.now(), live)
  let stableRounds = 0
  let rounds = 0
  while (Date.now() < qDeadline) {
    rounds++
    if (diffs.length === 0) {
      if (++stableRounds >= 2) break
    } else {
      stableRounds = 0
      if (rounds % 5 === 0) await Promise.all(up().map((s) => ask(s, { op: 'sync' }).catch(() => {})))
    }
    await sleep(1_000)
    all = await metadataOfAll()
    diffs = compareMeta(all, Date.now(), live)
  }
  const checkedAt = Date.now()
  if (diffs.length > 0) {
    fail(`(1) metadata differs ${((checkedAt - healedAt) / 1000).toFixed(1)} s after the heal on ${diffs.length} key(s); first ones:\n    ${diffs.slice(0, 8).join('\n    ')}`)
  } else {
    say(`(1) metadata identical on every process ${((checkedAt - healedAt) / 1000).toFixed(1)} s after the heal (${[...all.values()][0]?.size ?? 0} keys held; vector entries of departed incarnations aside)`)
    // (1b) Every process forgets those entries once it retires their origin:
    // a horizon after the origin's last number reached it, checked every gcInterval.
    const fDeadline = Date.now() + 2 * HORIZON + 10_000
    let full = compareMeta(all, Date.now())
    while (full.length > 0 && Date.now() < fDeadline) {
      await sleep(1_000)
      all = await metadataOfAll()
      full = compareMeta(all, Date.now())
    }
    if (full.length > 0) fail(`(1b) vectors still differ ${((Date.now() - healedAt) / 1000).toFixed(1)} s after the heal on ${full.length} key(s); first ones:\n    ${full.slice(0, 8).join('\n    ')}`)
    else say(`(1b) vectors identical, departed incarnations forgotten everywhere, ${((Date.now() - healedAt) / 1000).toFixed(1)} s after the heal`)
  }

  // (2) values: every key ever written, on every process.
  const keys = [...writes.keys()]
  const values = new Map<number, Array<string | null>>()
  await Promise.all(up().map(async (s) => { values.set(s.slot, await ask(s, { op: 'get', keys }, 60_000)) }))
  const metaNow = await metadataOfAll()
  const killedOrigins = new Set(slots.flatMap((s) => s.incarnations.filter((i) => i.killed).map((i) => i.origin)))
  let valueProblems = 0
  let lostKilled = 0
  let lostLive = 0
  let keysChecked = 0
  let heldValues = 0
  let missingReplicated = 0
  const problems: string[] = []
  const now = Date.now()
  keys.forEach((key, i) => {
    const ws = writes.get(key) as Write[]
    keysChecked++
    // The converged state of the key (from any process holding it).
    let state: Meta[number][1] | undefined
    for (const m of metaNow.values()) { const v = m.get(key); if (v !== undefined && (state === undefined || wins(v as any, state as any))) state = v }
    const logged = state === undefined ? undefined : ws.find((w) => w.hlc === state!.hlc && w.writer === state!.writer)
    if (state !== undefined && logged === undefined) problems.push(`${key}: converged state ${metaKey(state)} matches no logged write`)
    // Logged writes that beat the converged state but are not in it.
    for (const w of ws) {
      const beats = state === undefined ? physicalMs(w.hlc) > now - HORIZON + 4_000 : (w.hlc > state.hlc || (w.hlc === state.hlc && w.writer > state.writer))
      if (!beats) continue
      if (killedOrigins.has(w.writer)) lostKilled++
      else { lostLive++; problems.push(`${key}: write ${w.kind} hlc ${w.hlc} by ${w.writer} (live: ${live.has(w.writer)}) beats the converged state ${state ? metaKey(state) : '(none)'}`) }
    }
    for (const [slot, vals] of values) {
      const v = vals[i]
      if (v === null || v === undefined) {
        // replicate mode: the winning set should be held while alive, unless evicted for capacity (max)
        if (MODE === 'replicate' && state?.kind === 'set' && physicalMs(state.hlc) + TTL > now + 1_000) missingReplicated++
        continue
      }
      heldValues++
      if (state === undefined) { valueProblems++; problems.push(`slot ${slot} serves ${key}=${v} but no process holds metadata for ${key}`); continue }
      if (state.kind !== 'set') { valueProblems++; problems.push(`slot ${slot} serves ${key}=${v} but the winning write is a ${state.kind}`); continue }
      if (logged !== undefined && v !== logged.value) { valueProblems++; problems.push(`slot ${slot} serves ${key}=${v}, not the winning write ${logged.value}`) }
      if (physicalMs(state.hlc) + TTL + 1_000 < now) { valueProblems++; problems.push(`slot ${slot} serves ${key}=${v} ${now - physicalMs(state.hlc)} ms after its write (ttl ${TTL})`) }
    }
  })
  if (problems.length > 0) fail(`(2) ${problems.length} problem(s) with the winning write (values: ${valueProblems}, lost writes of live processes: ${lostLive}); first ones:\n    ${problems.slice(0, 10).join('\n    ')}`)
  else say(`(2) every held value is the winning write: ${keysChecked} keys, ${heldValues} values held across processes; writes of killed processes never propagated (lost with the process, allowed): ${lostKilled}`)
  if (MODE === 'replicate') say(`    replicate mode: ${missingReplicated} (slot, key) pairs lack a still-alive winning value (capacity evictions with max ${MAX} explain these)`)
}

// ---------------------------------------------------------------- memory analysis

function trend (xs: number[], ys: number[]): { slope: number, r: number } {
  const n = xs.length
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let sxy = 0; let sxx = 0; let syy = 0
  for (let i = 0; i < n; i++) { sxy += (xs[i]! - mx) * (ys[i]! - my); sxx += (xs[i]! - mx) ** 2; syy += (ys[i]! - my) ** 2 }
  return { slope: sxx === 0 ? 0 : sxy / sxx, r: sxx === 0 || syy === 0 ? 0 : sxy / Math.sqrt(sxx * syy) }
}

function distinctKeysWrittenBetween (from: number, to: number): number {
  let n = 0
  for (const ws of writes.values()) if (ws.some((w) => w.at >= from && w.at <= to)) n++
  return n
}

function memoryReport (): void {
  const warmup = 2 * HORIZON + GC_INTERVAL
  say(`(3) memory: samples every ${SAMPLE_MS / 1000} s after a forced gc; growth is judged after a warm-up of ${warmup / 1000} s per incarnation`)
  for (const s of slots) {
    for (const inc of s.incarnations) {
      const sm = inc.samples
      if (sm.length === 0) continue
      const rel = (x: Sample): string => ((x.at - T0) / 1000).toFixed(0)
      console.log(`  slot ${s.slot} ${inc.origin} (${inc.killed ? 'killed' : 'alive'}; ${sm.length} samples)`)
      console.log(`    t(s)       ${sm.map(rel).join(' ')}`)
      console.log(`    meta       ${sm.map((x) => x.metaEntries).join(' ')}`)
      console.log(`    tombstones ${sm.map((x) => x.tombstones).join(' ')}`)
      console.log(`    liveKeys   ${sm.map((x) => x.liveKeys).join(' ')}`)
      console.log(`    origins    ${sm.map((x) => x.origins).join(' ')}`)
      console.log(`    maxVv      ${sm.map((x) => x.maxVv).join(' ')}`)
      console.log(`    sumVv      ${sm.map((x) => x.sumVv).join(' ')}`)
      console.log(`    vvOrigins  ${sm.map((x) => x.vvOrigins).join(' ')}`)
      console.log(`    metaBytes  ${sm.map((x) => x.metadataBytes).join(' ')}`)
      console.log(`    heap MB    ${sm.map((x) => (x.heapUsed / 2 ** 20).toFixed(1)).join(' ')}`)
      console.log(`    shared MB  ${sm.map((x) => (x.sharedBytes / 2 ** 20).toFixed(1)).join(' ')}`)
      console.log(`    rss MB     ${sm.map((x) => (x.rss / 2 ** 20).toFixed(0)).join(' ')}`)
      const last = sm.at(-1)!
      console.log(`    last: stats ${JSON.stringify(last.stats)} evicts ${JSON.stringify(last.evicts)} frameErrors ${last.frameErrors}${last.frameErrorSamples.length ? ' ' + JSON.stringify(last.frameErrorSamples) : ''}`)
      console.log(`    transport ${JSON.stringify(last.transport)}`)
      // Bounds: metadata <= keys written in the last two horizons (+ gc period + slack): a key
      // goes a horizon after it lost its value here, and a state repaired late (to a restarted
      // process, say) arrives up to a horizon after its write (SPEC §7);
      // origins <= incarnations alive in the last 30 s (membership) + 3 horizons + gc period + slack:
      // an instance that learns a departed origin from a peer's state vector (a peer that has not
      // retired it yet) retires it a horizon after that (SPEC §7), and with restarts every 10-20 s
      // (faster than the horizon) a fresh incarnation may learn it again from one that learnt it
      // late. Growth over the run is watched by the trend check below.
      for (const x of sm) {
        const window = 2 * HORIZON + GC_INTERVAL + 3_000
        const bound = distinctKeysWrittenBetween(x.at - window, x.at)
        if (x.metaEntries > bound) fail(`slot ${s.slot} ${inc.origin} at ${rel(x)} s: ${x.metaEntries} metadata entries, more than the ${bound} keys written in the last ${window / 1000} s`)
        const oWindow = Math.max(30_000 + 3_000, HORIZON) + 2 * HORIZON + GC_INTERVAL + 5_000
        const incs = slots.flatMap((o) => o.incarnations).filter((i) => i.startedAt <= x.at && (i.endedAt === undefined || i.endedAt >= x.at - oWindow)).length
        if (x.origins > incs) fail(`slot ${s.slot} ${inc.origin} at ${rel(x)} s: tracks ${x.origins} origins, more than the ${incs} incarnations alive in the last ${oWindow / 1000} s`)
      }
      const after = sm.filter((x) => x.at - inc.startedAt >= warmup)
      if (after.length < 6) continue
      const xs = after.map((x) => (x.at - T0) / 60_000)
      for (const [name, get] of [['heapUsed', (x: Sample) => x.heapUsed], ['sharedBytes', (x: Sample) => x.sharedBytes], ['metaEntries', (x: Sample) => x.metaEntries], ['tombstones', (x: Sample) => x.tombstones], ['origins', (x: Sample) => x.origins], ['maxVv', (x: Sample) => x.maxVv], ['sumVv', (x: Sample) => x.sumVv], ['vvOrigins', (x: Sample) => x.vvOrigins], ['metadataBytes', (x: Sample) => x.metadataBytes]] as const) {
        const ys = after.map(get)
        const mean = ys.reduce((a, b) => a + b, 0) / ys.length
        const { slope, r } = trend(xs, ys)
        const perMin = mean === 0 ? 0 : slope / mean
        const half = Math.floor(ys.length / 2)
        const m1 = ys.slice(0, half).reduce((a, b) => a + b, 0) / half
        const m2 = ys.slice(half).reduce((a, b) => a + b, 0) / (ys.length - half)
        const line = `slot ${s.slot} ${inc.origin}: ${name} after warm-up grows ${(perMin * 100).toFixed(1)} %/min (r=${r.toFixed(2)}, first half mean ${m1.toFixed(0)}, second half ${m2.toFixed(0)})`
        // The shared buffers grow in steps (a column doubles: 33 KB at 1,024 slots) and never shrink; a step is not a leak.
        const stepOnly = name === 'sharedBytes' && m2 - m1 < 1 << 20
        if (r > 0.8 && perMin > 0.1 && m2 > m1 * 1.1 && !stepOnly) warn(`suspicious growth: ${line}`)
        else verbose(`  ${line}`)
      }
    }
  }
}

// ---------------------------------------------------------------- main

async function killAll (): Promise<void> {
  for (const c of allChildren) { try { c.kill('SIGKILL') } catch {} }
}
process.on('SIGINT', () => { void killAll().then(() => process.exit(130)) })
process.on('exit', () => { for (const c of allChildren) { try { c.kill('SIGKILL') } catch {} } })

let exitCode = 0
try {
  for (let i = 0; i < N; i++) slots.push({ slot: i, port: await freePort(), peerId: '', origin: '', state: 'down', inflight: new Set(), incarnations: [], waiting: new Map() })
  await Promise.all(slots.map((s) => start(s)))
  const meshDeadline = Date.now() + 30_000
  while (Date.now() < meshDeadline) {
    const c = await Promise.all(slots.map((s) => ask(s, { op: 'connected' })))
    if (c.every((x) => x === N - 1)) break
    await sleep(100)
  }
  say(`${N} processes up: ${slots.map((s) => `${s.slot}=${s.origin}@${s.port}`).join(' ')}`)
  runEnd = Date.now() + SECONDS * 1000
  let lastProgress = Date.now()
  const progress = (async () => {
    while (Date.now() < runEnd) {
      await sleep(1_000)
      if (Date.now() - lastProgress >= 15_000) {
        lastProgress = Date.now()
        say(`progress: ${JSON.stringify(counts)}; up: ${up().map((s) => s.slot).join(',')}; partition: ${partition?.label ?? 'none'}`)
      }
    }
  })()
  await Promise.all([writerLoop(), readerLoop(), faultLoop(), samplerLoop(), progress])
  // the last in-flight write batches
  await Promise.race([Promise.allSettled(slots.flatMap((s) => [...s.inflight])), sleep(10_000)])
  say(`workload: ${JSON.stringify(counts)}; distinct keys written ${writes.size}`)
  await finalPhase()
  await takeSamples()
  memoryReport()
} catch (e) {
  fail(`soak aborted: ${(e as Error).stack}`)
} finally {
  finished = true
  await Promise.all(up().map((s) => Promise.race([ask(s, { op: 'close' }, 5_000).catch(() => {}), sleep(5_000)])))
  await killAll()
  say(`\nSUMMARY seed ${SEED} mode ${MODE}: ${failures.length} failure(s), ${warnings.length} warning(s)`)
  for (const f of failures.slice(0, 40)) console.log(`  FAIL ${f.split('\n')[0]}`)
  if (failures.length > 40) console.log(`  … ${failures.length - 40} more`)
  for (const w of warnings) console.log(`  WARN ${w}`)
  console.log(`replay: ${replay}`)
  exitCode = failures.length > 0 ? 1 : 0
}
process.exit(exitCode)
