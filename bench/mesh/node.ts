/**
 * One node process of `npm run bench:mesh`, forked by harness.ts with an IPC
 * channel. It loads systems/<name>.ts, becomes the writer (index 0) or a
 * receiver, and answers the harness's commands (ipc.ts). It exits when the
 * channel closes, so it never outlives the bench.
 */
import { setImmediate as turn } from 'node:timers/promises'
import type { FromNode, ToNode } from './ipc.ts'
import { loadSystem } from './systems/load.ts'
import { now, type NodeHandle } from './systems/types.ts'
import { notePhase, startStallLog, writeStallLog } from './stalls.ts'
import { markLayers, startLayerLog, writeLayerLog } from './layers.ts'

function send(message: FromNode): void {
  process.send?.(message)
}

process.on('disconnect', () => process.exit(0))
// The harness stops a node with SIGTERM after 'close': exiting through process.exit lets Node options
// that write at exit (--cpu-prof, --heap-prof from --node-args) write their files; a default SIGTERM would not.
process.on('SIGTERM', () => process.exit(0))
process.on('uncaughtException', (error) => {
  send({ t: 'error', message: error.stack ?? String(error) })
  process.exit(1)
})

/** Receive times by seq; NaN = not (yet) received. Grows as needed. */
let received = new Float64Array(1 << 16).fill(Number.NaN)
let duplicates = 0
let firstSent = false
let lastArrival = 0
/** Called with each first arrival while a collection waits. */
let onArrival: ((seq: number) => void) | undefined

function record(seq: number): void {
  const at = now()
  if (seq >= received.length) {
    let size = received.length
    while (size <= seq) size *= 2
    const grown = new Float64Array(size).fill(Number.NaN)
    grown.set(received)
    received = grown
  }
  if (!Number.isNaN(received[seq] ?? Number.NaN)) {
    duplicates++
    return
  }
  received[seq] = at
  lastArrival = at
  markLayers(at)
  if (!firstSent) {
    firstSent = true
    send({ t: 'first' })
  }
  onArrival?.(seq)
}

let handle: NodeHandle | undefined
let role = 'node'
let systemName = ''
let index = -1
let probing: NodeJS.Timeout | undefined
let probeSeq = 0

/**
 * Publishes one write. Returns the system's promise only when it has one to
 * wait on (backpressure): callers must not `await` anything else, because an
 * `await` yields to the microtask queue, and a cache that batches per
 * event-loop turn would then send every write of a "chunk" on its own.
 */
function publish(seq: number): Promise<void> | undefined {
  return handle?.publish?.(seq) ?? undefined
}

/** Publishes seqs [from, …) for `seconds`: paced at `rate`/s, or flat out when rate is 0. */
async function run(from: number, rate: number, seconds: number): Promise<Float64Array> {
  const sent: number[] = []
  const start = now()
  const end = start + seconds * 1000
  if (rate > 0) {
    const total = Math.round(rate * seconds)
    const interval = 1000 / rate
    while (sent.length < total) {
      // Send everything due by now, then sleep until the next one is due (timers tick at ~1 ms).
      const due = Math.min(total, Math.floor((now() - start) / interval) + 1)
      while (sent.length < due) {
        const at = now()
        sent.push(at)
        markLayers(at)
        const wait = publish(from + sent.length - 1)
        if (wait) await wait
      }
      const wait = start + sent.length * interval - now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    }
  } else {
    // Saturation: publish in chunks, yielding each turn so I/O (and a cache's per-turn batching) runs.
    while (now() < end) {
      for (let i = 0; i < 256; i++) {
        const at = now()
        sent.push(at)
        markLayers(at)
        const wait = publish(from + sent.length - 1)
        if (wait) await wait
      }
      await turn()
    }
  }
  return Float64Array.from(sent)
}

/**
 * Resolves once every seq in [from, to) has arrived, or after `idleMs` with no arrival. What is missing is counted
 * once, then each arrival costs one decrement: a scan of the range per arrival was quadratic, and a receiver still
 * applying ~100,000 saturation writes when collection began spent a minute or more in it, its event loop blocked, so
 * its peers gave it up as silent after 30 s (the rare "saturation collapse" of earlier runs).
 */
function collect(from: number, to: number, idleMs: number): Promise<void> {
  let missing = 0
  for (let seq = from; seq < to; seq++) if (Number.isNaN(received[seq] ?? Number.NaN)) missing++
  return new Promise((resolve) => {
    if (missing === 0) return resolve()
    let timer: NodeJS.Timeout
    const idle = (): void => {
      const quiet = now() - lastArrival
      if (quiet >= idleMs) return done()
      timer = setTimeout(idle, idleMs - quiet)
    }
    const done = (): void => {
      clearTimeout(timer)
      onArrival = undefined
      resolve()
    }
    onArrival = (seq) => { if (seq >= from && seq < to && --missing === 0) done() }
    lastArrival = Math.max(lastArrival, now())
    timer = setTimeout(idle, idleMs)
  })
}

process.on('message', async (message: ToNode) => {
  try {
    switch (message.t) {
      case 'init': {
        await startPromotedSampling()
        startStallLog()
        await startLayerLog()
        role = message.index === 0 ? 'writer' : 'receiver'
        index = message.index
        systemName = message.system
        const system = await loadSystem(message.system)
        handle = await system.node({
          index: message.index,
          n: message.n,
          role: message.index === 0 ? 'writer' : 'receiver',
          scenario: message.scenario,
          config: message.config,
          peers: message.peers,
          received: record,
        })
        send({ t: 'ready', address: handle.address })
        break
      }
      case 'probe-start': {
        probeSeq = message.from
        probing = setInterval(() => { void publish(probeSeq++) }, message.everyMs)
        break
      }
      case 'probe-stop': {
        clearInterval(probing)
        send({ t: 'probe-stopped', next: probeSeq })
        break
      }
      case 'run': {
        const started = now()
        const sent = await run(message.from, message.rate, message.seconds)
        notePhase(started, now(), message.rate)
        send({ t: 'ran', from: message.from, sent })
        break
      }
      case 'collect': {
        const started = now()
        await collect(message.from, message.to, message.idleMs)
        notePhase(started, now())
        const slice = received.slice(message.from, message.to)
        // slice() past the end of a short buffer is short: pad with NaN.
        const out = new Float64Array(message.to - message.from).fill(Number.NaN)
        out.set(slice)
        send({ t: 'collected', received: out, duplicates })
        break
      }
      case 'command': {
        if (!handle?.command) throw new Error(`node ${process.pid}: this system has no commands (${message.name})`)
        const value = await handle.command(message.name, message.args)
        send({ t: 'result', id: message.id, value })
        break
      }
      case 'close': {
        await writePromotedSampling()
        writeStallLog(role, index)
        writeLayerLog(systemName, role, index)
        await handle?.close()
        send({ t: 'closed' })
        process.disconnect()
        break
      }
    }
  } catch (error) {
    send({ t: 'error', message: error instanceof Error ? error.stack ?? error.message : String(error) })
  }
})

/**
 * MESHCACHE_BENCH_PROMOTED=<dir>: a sampling heap profile of every object
 * that survived a young-generation GC (promoted, so copied at least twice),
 * whether or not a full GC collected it later: what the scavenges copy, by
 * allocation site. One file per process, written at 'close'.
 */
let promoted: import('node:inspector/promises').Session | undefined
async function startPromotedSampling(): Promise<void> {
  if (process.env.MESHCACHE_BENCH_PROMOTED === undefined) return
  const { Session } = await import('node:inspector/promises')
  promoted = new Session()
  promoted.connect()
  await promoted.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false })
}
async function writePromotedSampling(): Promise<void> {
  if (promoted === undefined) return
  const { profile } = await promoted.post('HeapProfiler.getSamplingProfile')
  const { writeFileSync } = await import('node:fs')
  writeFileSync(`${process.env.MESHCACHE_BENCH_PROMOTED}/promoted-${process.pid}.heapprofile`, JSON.stringify(profile))
}

send({ t: 'loaded' })
