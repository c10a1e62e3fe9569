/**
 * The bench side of `npm run bench:mesh`: starts n node processes for one
 * system, drives them over IPC and turns their timestamps into latencies.
 * Every process it starts is killed when the bench ends, however it ends.
 */
import { fork, type ChildProcess } from 'node:child_process'
import type { FromNode, ToNode } from './ipc.ts'
import { own, stop } from './owned.ts'
import { summarize, type LatencySummary } from './stats.ts'
import { loadSystem } from './systems/load.ts'
import type { Scenario, SystemEnv } from './systems/types.ts'

const NODE_SCRIPT = new URL('./node.ts', import.meta.url)

type Message<T extends FromNode['t']> = Extract<FromNode, { t: T }>

/** One node process and the messages it has sent that nobody has taken yet. */
export class NodeProcess {
  readonly index: number
  readonly child: ChildProcess
  #inbox: FromNode[] = []
  #waiters: Array<{ accept: (m: FromNode) => boolean, reject: (e: Error) => void }> = []
  #failure: Error | undefined
  #nextCommand = 0

  /** `execArgv`: Node options for this process (`--node-args`), e.g. `--cpu-prof`. */
  constructor(index: number, system: string, execArgv: string[] = []) {
    this.index = index
    this.child = own(fork(NODE_SCRIPT, [system, String(index)], {
      execPath: process.execPath,
      execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }))
    this.child.on('message', (message: FromNode) => {
      if (message.t === 'error') return this.#fail(new Error(`node ${index}: ${message.message}`))
      const waiter = this.#waiters.findIndex((w) => w.accept(message))
      if (waiter >= 0) this.#waiters.splice(waiter, 1)
      else this.#inbox.push(message)
    })
    this.child.once('exit', (code, signal) => this.#fail(new Error(`node ${index} exited (${signal ?? code})`)))
  }

  #fail(error: Error): void {
    this.#failure ??= error
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error)
  }

  send(message: ToNode): void {
    if (this.#failure) throw this.#failure
    this.child.send(message)
  }

  /** The next message of type `t` (or matching `where`), with a timeout as a failure guard. */
  next<T extends FromNode['t']>(t: T, timeoutMs: number, where: (m: Message<T>) => boolean = () => true): Promise<Message<T>> {
    const matches = (m: FromNode): m is Message<T> => m.t === t && where(m as Message<T>)
    const queued = this.#inbox.findIndex(matches)
    if (queued >= 0) return Promise.resolve(this.#inbox.splice(queued, 1)[0] as Message<T>)
    if (this.#failure) return Promise.reject(this.#failure)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
        reject(new Error(`node ${this.index}: no '${t}' within ${timeoutMs} ms`))
      }, timeoutMs)
      const waiter = {
        accept: (m: FromNode) => {
          if (!matches(m)) return false
          clearTimeout(timer)
          resolve(m)
          return true
        },
        reject: (e: Error) => { clearTimeout(timer); reject(e) },
      }
      this.#waiters.push(waiter)
    })
  }

  /** Runs `NodeHandle.command(name, args)` in the node. */
  async command(name: string, args: unknown, timeoutMs = 60_000): Promise<unknown> {
    const id = this.#nextCommand++
    this.send({ t: 'command', id, name, args })
    return (await this.next('result', timeoutMs, (m) => m.id === id)).value
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    try {
      this.send({ t: 'close' })
      await this.next('closed', 5000)
    } catch {
      // A node that cannot close cleanly is killed below.
    }
    await stop(this.child)
  }
}

/** n nodes of one system, initialised and with the writer → receivers path proven. */
export class Cluster {
  readonly system: string
  readonly nodes: NodeProcess[]
  readonly env: SystemEnv | undefined
  /** The first seq not yet used (probes use seqs too). */
  nextSeq = 0

  private constructor(system: string, nodes: NodeProcess[], env: SystemEnv | undefined) {
    this.system = system
    this.nodes = nodes
    this.env = env
  }

  get writer(): NodeProcess { return this.nodes[0] as NodeProcess }
  get receivers(): NodeProcess[] { return this.nodes.slice(1) }

  static async start(system: string, n: number, scenario: Scenario = 'fanout', execArgv: string[] = [], readyTimeoutMs = 30_000): Promise<Cluster> {
    const env = await (await loadSystem(system)).setup?.(n)
    const nodes: NodeProcess[] = []
    const cluster = new Cluster(system, nodes, env)
    try {
      for (let i = 0; i < n; i++) nodes.push(new NodeProcess(i, system, execArgv))
      await Promise.all(nodes.map((node) => node.next('loaded', readyTimeoutMs)))
      // Receivers first, writer last: each node gets the addresses of those before it.
      const addresses: unknown[] = []
      for (const node of [...nodes.slice(1), nodes[0] as NodeProcess]) {
        node.send({ t: 'init', system, scenario, index: node.index, n, config: env?.config, peers: [...addresses] })
        addresses.push((await node.next('ready', readyTimeoutMs)).address)
      }
      // The path is up once every receiver has seen a probe (a mesh may need a heartbeat or two).
      cluster.writer.send({ t: 'probe-start', from: 0, everyMs: 10 })
      await Promise.all(cluster.receivers.map((node) => node.next('first', readyTimeoutMs)))
      cluster.writer.send({ t: 'probe-stop' })
      cluster.nextSeq = (await cluster.writer.next('probe-stopped', 5000)).next
      return cluster
    } catch (error) {
      await cluster.close()
      throw error
    }
  }

  /**
   * The writer publishes at `rate`/s (0: as fast as the system accepts) for
   * `seconds`; then every receiver reports what arrived, waiting at most
   * `idleMs` of silence for stragglers.
   */
  async phase(rate: number, seconds: number, idleMs = 2000): Promise<PhaseResult> {
    const from = this.nextSeq
    this.writer.send({ t: 'run', from, rate, seconds })
    const { sent } = await this.writer.next('ran', seconds * 1000 + 60_000)
    const to = from + sent.length
    this.nextSeq = to
    const reports = await Promise.all(this.receivers.map(async (node) => {
      node.send({ t: 'collect', from, to, idleMs })
      return node.next('collected', 120_000)
    }))
    return phaseResult(sent, reports.map((r) => r.received), reports.reduce((sum, r) => sum + r.duplicates, 0))
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.close()))
    await this.env?.close()
  }
}

export interface PhaseResult {
  sent: number
  /** Writes per second the writer actually issued. */
  offered: number
  latency: LatencySummary
  /** Deliveries that never arrived (summed over receivers). */
  lost: number
  duplicates: number
  /** Writes that reached every receiver, per second, from the first send to the last arrival. */
  deliveredPerSecond: number
}

function phaseResult(sent: Float64Array, received: Float64Array[], duplicates: number): PhaseResult {
  const latencies: number[] = []
  let lost = 0
  let lastArrival = Number.NEGATIVE_INFINITY
  let reachedAll = 0
  for (let i = 0; i < sent.length; i++) {
    let everywhere = true
    for (const times of received) {
      const at = times[i] ?? Number.NaN
      if (Number.isNaN(at)) {
        lost++
        everywhere = false
        continue
      }
      latencies.push(at - (sent[i] ?? 0))
      if (at > lastArrival) lastArrival = at
    }
    if (everywhere) reachedAll++
  }
  const first = sent[0] ?? 0
  const last = sent[sent.length - 1] ?? 0
  return {
    sent: sent.length,
    offered: sent.length > 1 ? (sent.length - 1) / ((last - first) / 1000) : Number.NaN,
    latency: summarize(Float64Array.from(latencies)),
    lost,
    duplicates,
    deliveredPerSecond: reachedAll / ((lastArrival - first) / 1000),
  }
}
