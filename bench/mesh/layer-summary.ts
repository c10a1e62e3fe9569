/**
 * Where a write's time goes, layer by layer (bench/mesh/layers.ts):
 *
 *   MESHCACHE_BENCH_LAYERS=<dir> npm run bench:mesh -- --systems libp2p-stream,libp2p-stream-work,meshcache \
 *     --rate 1000 --seconds 10 --saturate 0 --rounds 3
 *   node bench/mesh/layer-summary.ts <dir>
 *
 * Per write, followed through the stack by causality: on the writer, from the
 * publish to the first YamuxStream send after it, to the first Noise send
 * after that, and so on to the socket write (the first peer's copy); on a
 * receiver, back from the moment the write took effect to the last Yamux
 * message before it, the Noise message before that, and so on to the socket's
 * data event. Each layer's time is the p50 over every write of a system (all
 * its rounds and receivers pooled); `own` is the system's code above the
 * stack, with the bench's own publish and record. The layers' p50s need not
 * add up to the total's.
 */
import { readFileSync, readdirSync } from 'node:fs'
import type { LayerLog } from './layers.ts'

/** The stack's classes, top down (the writer sends through them in this order; a receiver's messages come up in the reverse). */
const STACK = ['YamuxStream', 'EncryptedMessageStream', 'BoxMessageStream', 'TCPSocketMultiaddrConnection'] as const
const LAYER_NAMES = ['yamux', 'noise', 'pnet', 'tcp'] as const
/** A write whose chain through the stack takes longer than this is left out (it met another write or a stall). */
const WITHIN_MS = 0.9

/** meshcache's own steps (layers.ts), where a system has them: the writer's before the stack, a receiver's above it. */
const WRITER_OWN = ['lib:outbox'] as const
const RECEIVER_OWN = ['lib:envelope', 'lib:apply'] as const

export interface LayerTimes {
  /** µs per layer, p50: writer own, yamux, noise, pnet, tcp, total; receiver tcp, pnet, noise, yamux, own, total. */
  writer: number[]
  receiver: number[]
  writes: number
  arrivals: number
  /** µs, p50, where the system has meshcache's steps: writer [to the outbox, outbox to Yamux's send]; receiver [Yamux's message to the envelope splitter, splitter to the replica, replica to applied]. */
  writerOwn?: number[]
  receiverOwn?: number[]
}

const USAGE = 'usage: node bench/mesh/layer-summary.ts <dir written with MESHCACHE_BENCH_LAYERS=<dir>>\n'

/** The first time in sorted `times` at or after `t` (binary search), or NaN. */
function firstFrom (times: number[], t: number): number {
  let lo = 0
  let hi = times.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((times[mid] as number) < t) lo = mid + 1
    else hi = mid
  }
  return lo < times.length ? times[lo] as number : Number.NaN
}

/** The last time in sorted `times` at or before `t`, or NaN. */
function lastUpTo (times: number[], t: number): number {
  let lo = 0
  let hi = times.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((times[mid] as number) <= t) lo = mid + 1
    else hi = mid
  }
  return lo > 0 ? times[lo - 1] as number : Number.NaN
}

function p50 (values: number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor((sorted.length - 1) / 2)] as number
}

/** One write's chain on the writer: [publish, Yamux send, Noise send, pnet send, TCP send, socket write]. */
function writerChain (events: Record<string, number[]>, mark: number): number[] | undefined {
  const chain = [mark]
  for (const name of [...STACK.map((c) => `send:${c}`), 'socket-write']) {
    const t = firstFrom(events[name] ?? [], chain[chain.length - 1] as number)
    if (!(t - mark <= WITHIN_MS)) return undefined
    chain.push(t)
  }
  return chain
}

/** One write's chain on a receiver, bottom up: [socket data, TCP, pnet, Noise, Yamux message, took effect]. */
function receiverChain (events: Record<string, number[]>, mark: number): number[] | undefined {
  const chain = [mark]
  for (const name of [...STACK.map((c) => `message:${c}`), 'socket-data']) {
    const t = lastUpTo(events[name] ?? [], chain[0] as number)
    if (!(mark - t <= WITHIN_MS)) return undefined
    chain.unshift(t)
  }
  return chain
}

/** Splits [start, end] at the first (`forward`) or last event of each step in between; undefined if one is missing. */
function split (events: Record<string, number[]>, steps: readonly string[], start: number, end: number, forward: boolean): number[] | undefined {
  const at = [start]
  for (const step of steps) {
    const times = events[step] ?? []
    const t = forward ? firstFrom(times, at[at.length - 1] as number) : lastUpTo(times, end)
    if (!(t >= (at[at.length - 1] as number) && t <= end)) return undefined
    at.push(t)
  }
  at.push(end)
  return at.slice(1).map((t, i) => (t - (at[i] as number)) * 1000)
}

/** Per-layer p50s of one system's logs. */
export function layerTimes (logs: LayerLog[]): LayerTimes {
  const writer: number[][] = [[], [], [], [], [], []]
  const receiver: number[][] = [[], [], [], [], [], []]
  const writerOwn: number[][] = [[], []]
  const receiverOwn: number[][] = [[], [], []]
  for (const log of logs) {
    const marks = log.events.mark ?? []
    const isWriter = log.role === 'writer'
    const into = isWriter ? writer : receiver
    const steps = isWriter ? WRITER_OWN : RECEIVER_OWN
    const hasOwn = steps.every((step) => (log.events[step]?.length ?? 0) > 0)
    for (const mark of marks) {
      const chain = isWriter ? writerChain(log.events, mark) : receiverChain(log.events, mark)
      if (chain === undefined) continue
      for (let i = 0; i < 5; i++) (into[i] as number[]).push(((chain[i + 1] as number) - (chain[i] as number)) * 1000)
      ;(into[5] as number[]).push(((chain[5] as number) - (chain[0] as number)) * 1000)
      if (!hasOwn) continue
      const parts = isWriter ? split(log.events, steps, chain[0] as number, chain[1] as number, true) : split(log.events, steps, chain[4] as number, chain[5] as number, false)
      if (parts !== undefined) parts.forEach((v, i) => (isWriter ? writerOwn : receiverOwn)[i]?.push(v))
    }
  }
  return {
    writer: writer.map(p50),
    receiver: receiver.map(p50),
    writes: writer[5]?.length ?? 0,
    arrivals: receiver[5]?.length ?? 0,
    ...(writerOwn[0]?.length ? { writerOwn: writerOwn.map(p50) } : {}),
    ...(receiverOwn[0]?.length ? { receiverOwn: receiverOwn.map(p50) } : {}),
  }
}

export function readLayerLogs (dir: string): Map<string, LayerLog[]> {
  const bySystem = new Map<string, LayerLog[]>()
  for (const file of readdirSync(dir).filter((f) => /^layers-\d+\.json$/.test(f)).sort()) {
    const log = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as LayerLog
    const logs = bySystem.get(log.system) ?? []
    logs.push(log)
    bySystem.set(log.system, logs)
  }
  return bySystem
}

function main (args: string[]): number {
  if (args.includes('--help') || args.includes('-h')) { process.stdout.write(USAGE); return 0 }
  const [dir, ...rest] = args
  if (dir === undefined || rest.length > 0 || dir.startsWith('-')) { process.stderr.write(USAGE); return 2 }
  const bySystem = readLayerLogs(dir)
  if (bySystem.size === 0) { process.stderr.write(`layer-summary: no layers-<pid>.json in ${dir}\n${USAGE}`); return 2 }
  const f = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(1)).padStart(7)
  const head = `${'p50 µs'.padEnd(22)} writer:${['own', ...LAYER_NAMES, 'total'].map((h) => h.padStart(7)).join('')}   receiver:${[...[...LAYER_NAMES].reverse(), 'own', 'total'].map((h) => h.padStart(7)).join('')}   writes / arrivals`
  process.stdout.write(`${head}\n`)
  const rows = new Map<string, LayerTimes>()
  for (const [system, logs] of bySystem) {
    const t = layerTimes(logs)
    rows.set(system, t)
    process.stdout.write(`${system.padEnd(22)}        ${t.writer.map(f).join('')}            ${t.receiver.map(f).join('')}   ${t.writes} / ${t.arrivals}\n`)
  }
  for (const [system, t] of rows) {
    if (t.writerOwn === undefined && t.receiverOwn === undefined) continue
    const w = t.writerOwn ?? []
    const r = t.receiverOwn ?? []
    process.stdout.write(`${system}'s own, split (p50 µs): writer: publish to the outbox ${f(w[0]).trim()}, outbox to Yamux's send ${f(w[1]).trim()}; ` +
      `receiver: Yamux's message to the envelope splitter ${f(r[0]).trim()}, to the replica ${f(r[1]).trim()}, to applied ${f(r[2]).trim()}\n`)
  }
  const floor = rows.get('libp2p-stream')
  if (floor !== undefined && rows.size > 1) {
    process.stdout.write('minus libp2p-stream (the floor)\n')
    for (const [system, t] of rows) {
      if (t === floor) continue
      process.stdout.write(`${system.padEnd(22)}        ${t.writer.map((v, i) => f(v - (floor.writer[i] as number))).join('')}            ${t.receiver.map((v, i) => f(v - (floor.receiver[i] as number))).join('')}\n`)
    }
  }
  return 0
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2))
