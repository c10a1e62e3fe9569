/**
 * Starts meshcache libp2p nodes as child processes (fixtures/node.ts) and
 * waits on what they report over IPC. No sleeps: every wait is for a message,
 * with a timeout only as a failure guard.
 */
import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Libp2pTransportOptions } from '../../lib/net/libp2p/index.ts'
import { GUARD_MS } from './helpers.ts'

const FIXTURE = fileURLToPath(new URL('./fixtures/node.ts', import.meta.url))

type Msg = Record<string, any>

export interface Proc {
  readonly child: ChildProcess
  peerId: string
  multiaddrs: string[]
  /** Every message received so far, in order. */
  readonly log: Msg[]
  tell (m: Msg): void
  /** Resolves with the first message (already received or future) matching `pred` that no earlier `next` took. */
  next (pred: (m: Msg) => boolean, what: string, timeoutMs?: number): Promise<Msg>
  /** The data of frames received in `ns`, decoded. */
  frames (ns: string): Array<{ from: string, data: Buffer }>
  broadcast (ns: string, data: Uint8Array): void
  report (): Promise<Msg>
  stop (): Promise<void>
}

export interface SpawnInit {
  options?: Libp2pTransportOptions
  namespaces?: string[]
  latency?: boolean
}

export async function spawnNode (init: SpawnInit = {}): Promise<Proc> {
  const child = fork(FIXTURE, [], {
    execPath: process.execPath,
    // MC_PROF=dir profiles every child (measure.ts investigations)
    execArgv: process.env.MC_PROF !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${process.env.MC_PROF}`] : [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const log: Msg[] = []
  const taken = new Set<Msg>()
  const waiters = new Set<() => void>()
  let exited = false
  child.on('message', (m: Msg) => {
    log.push(m)
    if (m.ev === 'error') process.stderr.write(`child error: ${m.message}\n`)
    for (const w of [...waiters]) w()
  })
  child.on('exit', () => { exited = true; for (const w of [...waiters]) w() })

  const proc: Proc = {
    child,
    peerId: '',
    multiaddrs: [],
    log,
    tell (m) { if (!exited && child.connected) child.send(m) },
    next (pred, what, timeoutMs = GUARD_MS) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const m = log.find(x => !taken.has(x) && pred(x))
          if (m !== undefined) {
            taken.add(m)
            resolve(m)
            return true
          }
          if (exited) { reject(new Error(`child exited while waiting for ${what}`)); return true }
          return false
        }
        if (check()) return
        const timer = setTimeout(() => {
          waiters.delete(w)
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
        }, timeoutMs)
        const w = (): void => { if (check()) { clearTimeout(timer); waiters.delete(w) } }
        waiters.add(w)
      })
    },
    frames (ns) {
      return log.filter(m => m.ev === 'frame' && m.ns === ns).map(m => ({ from: m.from as string, data: Buffer.from(m.data, 'base64') }))
    },
    broadcast (ns, data) { proc.tell({ op: 'broadcast', ns, data: Buffer.from(data).toString('base64') }) },
    async report () {
      proc.tell({ op: 'report' })
      return await proc.next(m => m.ev === 'report', 'report')
    },
    async stop () {
      if (exited) return
      const gone = new Promise<void>(resolve => child.once('exit', () => { resolve() }))
      proc.tell({ op: 'close' })
      const guard = setTimeout(() => { child.kill('SIGKILL') }, 5_000)
      await gone
      clearTimeout(guard)
    }
  }
  proc.tell({ op: 'start', options: init.options ?? {}, namespaces: init.namespaces ?? ['ns'], latency: init.latency === true })
  const ready = await proc.next(m => m.ev === 'ready' || m.ev === 'error', 'ready', 20_000)
  if (ready.ev === 'error') throw new Error(ready.message)
  proc.peerId = ready.peerId
  proc.multiaddrs = ready.multiaddrs
  return proc
}

/** Starts `n` nodes: the first alone, the others bootstrapped to it. */
export async function spawnMesh (n: number, init: SpawnInit = {}): Promise<Proc[]> {
  const first = await spawnNode(init)
  const rest = await Promise.all(Array.from({ length: n - 1 }, async () => await spawnNode({
    ...init,
    options: { ...init.options, peers: [...first.multiaddrs, ...(init.options?.peers ?? [])] }
  })))
  return [first, ...rest]
}

/** Waits until every node has seen onPeerUp from every other in `ns`. */
export async function fullMesh (procs: Proc[], ns = 'ns', timeoutMs = 20_000): Promise<void> {
  await Promise.all(procs.flatMap(p => procs.filter(q => q !== p).map(async q => {
    await p.next(m => m.ev === 'up' && m.ns === ns && m.peer === q.peerId, `${p.peerId} sees ${q.peerId} up`, timeoutMs)
  })))
}

export async function stopAll (procs: Proc[]): Promise<void> {
  await Promise.all(procs.map(async p => { await p.stop() }))
}

export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number
}
