/**
 * Drives n meshcache instances spread over a few host processes
 * (bench/scale/host.ts): start, wait for full membership, write at a rate,
 * and measure when each write reached its last receiver.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import type { TransportStats } from '../../lib/net/libp2p/index.ts'

export interface InstanceStats {
  transport: TransportStats
  /** Gossipsub copies received (duplicates included), all kinds, and of them UPDATES frames. */
  gossip: number
  gossipUpdates: number
  /** Gossipsub copies received by the frame's message type (index 7: 7 and above). */
  gossipByType: number[]
  /** Frames handed to the cache by message type: direct frames, plus each relayed frame's first copy. */
  deliveredByType: number[]
  heapPerInstance: number
  peers: number
  /** Gossipsub copies received, by the neighbour (peer id) that sent them. */
  gossipFrom: Record<string, number>
  /** Of them, UPDATES frames. */
  gossipUpdatesFrom: Record<string, number>
  /** Peer ids connected now. */
  connected: string[]
}

const HOST = new URL('./host.ts', import.meta.url)
const REPLY_TIMEOUT_MS = 180_000

export interface ScaleOptions {
  instances: number
  /** Instances per host process. */
  perProcess: number
  /** The transport's maxPeers (undefined: a full mesh). */
  maxPeers?: number
  /** Regions: instances in this many contiguous blocks, whole hosts each where the sizes allow (labels; none: 1). */
  regions?: number
  /** Whether the transport shapes the mesh by region (region links, SPEC.md §11.4), or the regions are labels only. */
  regionLinks?: boolean
  /** The last this many instances set no region (the others are split into `regions`): a mesh that mixes both. */
  regionless?: number
  /** With region links, the transport's crossRegionCopies (SPEC.md §11.4). */
  crossRegionCopies?: 'each-link' | 'one'
}

/** The region of instance `index` of `n` in `regions` contiguous blocks. */
export function regionOf (index: number, n: number, regions: number): string {
  return regions > 1 ? `r${Math.floor(index * regions / n)}` : ''
}

export interface WriteResult {
  key: string
  sentAt: number
  /** Receivers that got it (of instances − 1). */
  receivers: number
  /** Latest arrival minus send time (ms); NaN if nobody received it. */
  lastMs: number
  /** Receivers that got it by a repair (anti-entropy, a gap's or an announcement's), not by its own frame. */
  repaired: number
  /** Per host (this.hosts' order): its latest arrival minus send time (NaN: none there), and its arrivals by repair. */
  byHost: Array<[lastMs: number, repaired: number]>
  /** The instances (global index) that got it by a repair. */
  repairedAt: number[]
}

interface Pending { resolve: (value: unknown) => void, reject: (error: Error) => void, timer: ReturnType<typeof setTimeout> }

class Host {
  readonly child: ChildProcess
  readonly first: number
  readonly count: number
  readonly #pending = new Map<number, Pending>()
  #nextId = 0

  constructor (child: ChildProcess, first: number, count: number) {
    this.child = child
    this.first = first
    this.count = count
    child.on('message', (reply: { id?: number, value?: unknown }) => {
      if (reply.id === undefined) return
      const p = this.#pending.get(reply.id)
      if (p === undefined) return
      this.#pending.delete(reply.id)
      clearTimeout(p.timer)
      p.resolve(reply.value)
    })
    child.once('exit', (code) => {
      for (const p of this.#pending.values()) { clearTimeout(p.timer); p.reject(new Error(`scale host exited (${code})`)) }
      this.#pending.clear()
    })
  }

  ask<T> (op: string, args: Record<string, unknown> = {}, timeoutMs = REPLY_TIMEOUT_MS): Promise<T> {
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { this.#pending.delete(id); reject(new Error(`scale host: no answer to ${op} within ${timeoutMs} ms`)) }, timeoutMs)
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
      this.child.send({ ...args, op, id })
    })
  }
}

async function startHost (config: Record<string, unknown>, first: number, count: number): Promise<Host> {
  const child = fork(HOST, [JSON.stringify({ ...config, first, instances: count })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const exited = once(child, 'exit').then(([code]) => { throw new Error(`scale host exited early (${code})`) })
  await Promise.race([once(child, 'message'), exited])
  return new Host(child, first, count)
}

export class ScaleCluster {
  readonly hosts: Host[]
  readonly instances: number
  readonly peerIds: string[]
  /** Region of each instance ('' without regions). */
  readonly regions: string[]

  private constructor (hosts: Host[], peerIds: string[], regions: string[]) {
    this.hosts = hosts
    this.instances = hosts.reduce((n, h) => n + h.count, 0)
    this.peerIds = peerIds
    this.regions = regions
  }

  /** Starts the hosts: the first one alone, then the others bootstrapped to its first three instances. */
  static async start (options: ScaleOptions): Promise<ScaleCluster> {
    const psk = randomBytes(32).toString('hex')
    const base = { psk, ...(options.maxPeers !== undefined ? { maxPeers: options.maxPeers } : {}), regionLinks: options.regionLinks === true, ...(options.crossRegionCopies !== undefined ? { crossRegionCopies: options.crossRegionCopies } : {}) }
    const regioned = options.instances - (options.regionless ?? 0)
    const regions = Array.from({ length: options.instances }, (_, i) => i < regioned ? regionOf(i, regioned, options.regions ?? 1) : '')
    const withRegions = (first: number, count: number): Record<string, unknown> => ({ ...base, regions: regions.slice(first, first + count) })
    const hosts: Host[] = []
    try {
      const firstCount = Math.min(options.perProcess, options.instances)
      const first = await startHost({ ...withRegions(0, firstCount), bootstrap: [] }, 0, firstCount)
      hosts.push(first)
      const bootstrap = (await first.ask<string[]>('addrs')).slice(0, 3)
      const starts: Array<Promise<Host>> = []
      for (let at = firstCount; at < options.instances; at += options.perProcess) {
        const count = Math.min(options.perProcess, options.instances - at)
        starts.push(startHost({ ...withRegions(at, count), bootstrap }, at, count))
      }
      hosts.push(...await Promise.all(starts))
      const ids = (await Promise.all(hosts.map((h) => h.ask<string[]>('addrs')))).flat().map((a) => a.slice(a.lastIndexOf('/p2p/') + 5))
      return new ScaleCluster(hosts, ids, regions)
    } catch (error) {
      for (const h of hosts) h.child.kill('SIGKILL')
      throw error
    }
  }

  hostOf (instance: number): Host {
    const host = this.hosts.find((h) => instance >= h.first && instance < h.first + h.count)
    if (host === undefined) throw new RangeError(`no instance ${instance}`)
    return host
  }

  /** Resolves when every instance's membership lists every other instance. */
  async awaitMembership (timeoutMs = REPLY_TIMEOUT_MS): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.ask('await-peers', { count: this.instances - 1 }, timeoutMs)))
  }

  async write (instance: number, key: string): Promise<number> {
    return await this.hostOf(instance).ask<number>('write', { instance, key })
  }

  async awaitKeys (keys: string[], timeoutMs = REPLY_TIMEOUT_MS): Promise<number[]> {
    return await Promise.all(this.hosts.map((h) => h.ask<number>('await-keys', { keys }, timeoutMs)))
  }

  /** When each write reached its last receiver. */
  async results (writes: Array<{ key: string, sentAt: number }>): Promise<WriteResult[]> {
    const perHost = await Promise.all(this.hosts.map((h) => h.ask<Array<[number, number, number, number[]]>>('arrivals', { keys: writes.map((w) => w.key) })))
    return writes.map((w, i) => {
      let receivers = 0
      let repaired = 0
      let last = Number.NaN
      const byHost: Array<[number, number]> = []
      const repairedAt: number[] = []
      for (const rows of perHost) {
        const [n, at, , where] = rows[i] ?? [0, Number.NaN, Number.NaN, []]
        const byRepair = where.length
        receivers += n
        repaired += byRepair
        repairedAt.push(...where)
        if (n > 0 && !(at <= last)) last = at
        byHost.push([n > 0 ? at - w.sentAt : Number.NaN, byRepair])
      }
      return { key: w.key, sentAt: w.sentAt, receivers, lastMs: last - w.sentAt, repaired, byHost, repairedAt }
    })
  }

  /** When a key first arrived on an instance of each host (NaN: never), per key, for the hosts from `first` on. */
  async firstArrivals (keys: string[], hosts: Host[]): Promise<number[]> {
    const perHost = await Promise.all(hosts.map((h) => h.ask<Array<[number, number, number]>>('arrivals', { keys })))
    return keys.map((_, i) => Math.min(...perHost.map((rows) => rows[i]?.[2] ?? Number.NaN).filter((t) => !Number.isNaN(t))))
  }

  async stats (): Promise<InstanceStats[]> {
    return (await Promise.all(this.hosts.map((h) => h.ask<InstanceStats[]>('stats')))).flat()
  }

  /** Partitions instances [0, split) from [split, n) with every instance's fault switch (libp2p gater). */
  async partition (split: number): Promise<void> {
    // A host straddling the split would need per-instance blocks: callers split on host boundaries.
    for (const h of this.hosts) if (h.first < split && h.first + h.count > split) throw new RangeError('partition must split on a host boundary')
    const left = this.peerIds.slice(0, split)
    const right = this.peerIds.slice(split)
    await Promise.all(this.hosts.map((h) => h.ask('block', { peers: h.first < split ? right : left })))
  }

  async heal (): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.ask('heal')))
  }

  async close (): Promise<void> {
    await Promise.all(this.hosts.map(async (h) => {
      if (h.child.exitCode !== null || h.child.signalCode !== null) return
      const exited = once(h.child, 'exit')
      try { await h.ask('close', {}, 15_000) } catch { h.child.kill('SIGKILL') }
      await exited
    }))
  }
}
