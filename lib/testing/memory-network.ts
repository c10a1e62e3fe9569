/**
 * A seeded in-memory network for tests (exported as `meshcache/testing`).
 *
 * In the spirit of yjs' test helper: frames wait in a queue and are
 * delivered in a random (seeded) order, so reordering is the default; they
 * can also be dropped or duplicated at random, and groups of nodes can be
 * partitioned and healed. Delivery is either driven by the test (`step`,
 * `flush`: fully deterministic) or automatic after a random latency
 * (`auto: true`: for examples and for timing-independent integration).
 *
 * By default every node reaches every other (a full mesh). A `links`
 * topology makes it a graph: a node reaches only its neighbours, as in a
 * partial libp2p mesh, and `spread: true` then forwards each broadcast hop by
 * hop to the whole graph the way gossipsub does (each node passes a message
 * on once, to its other neighbours; the receiver's `from` is the neighbour
 * that forwarded it; a loss on a hop loses it for whoever had no other path).
 */
import * as prng from 'lib0/prng'
import { ErrorCode, MeshCacheError, invalidOption } from '../errors.ts'
import { optionNames, refuseUnknown } from '../core/suggest.ts'
import type { Channel, FrameHandler, Transport } from '../net/transport.ts'

/** Every option name, for refusing unknown ones with a suggestion (a name left out fails to compile). */
const OPTION_NAMES = optionNames<MemoryNetworkOptions>()(['seed', 'dropRate', 'duplicateRate', 'auto', 'latency', 'links', 'spread'])

/** A probability option: absent (0), or a number from 0 to 1. */
function rate (name: string, v: unknown): number {
  if (v === undefined) return 0
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) invalidOption(name, `must be a probability from 0 to 1, got ${String(v)}`)
  return v
}

export interface MemoryNetworkOptions {
  /** Seed of every random choice. @default 1 */
  seed?: number
  /** Probability that a frame is lost. @default 0 */
  dropRate?: number
  /** Probability that a delivered frame is delivered again later. @default 0 */
  duplicateRate?: number
  /** Deliver frames by themselves after a random latency (real timers) instead of on `step()`/`flush()`. @default false */
  auto?: boolean
  /** Latency range in ms for `auto` delivery. @default [0, 2] */
  latency?: [number, number]
  /**
   * The edges of the network graph, as pairs of node names: nodes reach only
   * their neighbours. Change it later with `setLinks`.
   * @default undefined (every node reaches every other)
   */
  links?: Array<[string, string]>
  /** Forward each broadcast over the graph, hop by hop, as gossipsub does (see above). @default false */
  spread?: boolean
}

export interface MemoryNetworkStats {
  sent: number
  delivered: number
  dropped: number
  duplicated: number
}

interface Pending {
  from: string
  to: string
  namespace: string
  frame: Uint8Array
  /** The broadcast this copy belongs to, when `spread` forwards it (0: a direct send). */
  message: number
}

interface Member {
  handler: FrameHandler
  channel: Channel
}

export class MemoryNetwork {
  readonly stats: MemoryNetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0 }
  readonly #gen: prng.PRNG
  readonly #auto: boolean
  readonly #latency: [number, number]
  #dropRate: number
  #duplicateRate: number
  readonly #queue: Pending[] = []
  /** node → namespace → member */
  readonly #nodes = new Map<string, Map<string, Member>>()
  /** node → group; nodes talk only within a group. */
  readonly #group = new Map<string, number>()
  /** node → its neighbours, when a topology is set. */
  #links: Map<string, Set<string>> | undefined
  readonly #spread: boolean
  /** node → broadcasts it has already received (and forwarded), when spreading. */
  readonly #seen = new Map<string, Set<number>>()
  #nextMessage = 1
  #dropRule: ((from: string, to: string, frame: Uint8Array) => boolean) | undefined

  constructor (options: MemoryNetworkOptions = {}) {
    // A test that misspells `seed` or `dropRate` would run unseeded or without faults and still pass: refused.
    if (options === null || typeof options !== 'object') invalidOption('options', 'must be an object')
    refuseUnknown(options, OPTION_NAMES)
    const seed = options.seed ?? 1
    if (!Number.isSafeInteger(seed)) invalidOption('seed', `must be an integer, got ${String(seed)}`)
    const latency = options.latency ?? [0, 2]
    if (!Array.isArray(latency) || latency.length !== 2 || !latency.every((ms) => Number.isFinite(ms) && ms >= 0) || latency[0] > latency[1]) {
      invalidOption('latency', `must be [min, max] in ms with 0 <= min <= max, got ${JSON.stringify(latency)}`)
    }
    if (options.auto !== undefined && typeof options.auto !== 'boolean') invalidOption('auto', `must be a boolean, got ${String(options.auto)}`)
    if (options.spread !== undefined && typeof options.spread !== 'boolean') invalidOption('spread', `must be a boolean, got ${String(options.spread)}`)
    this.#gen = prng.create(seed)
    this.#dropRate = rate('dropRate', options.dropRate)
    this.#duplicateRate = rate('duplicateRate', options.duplicateRate)
    this.#auto = options.auto ?? false
    this.#latency = latency
    this.#spread = options.spread ?? false
    if (options.links !== undefined) this.#links = linkMap(options.links)
  }

  /**
   * Replaces the topology (undefined: a full mesh again); members are told
   * which peers appeared or vanished, as with `partition`.
   */
  setLinks (links: Array<[string, string]> | undefined): void {
    const before = this.#reachablePairs()
    this.#links = links === undefined ? undefined : linkMap(links)
    this.#announce(before)
  }

  /** The transport of node `name` (one per node; every namespace it joins shares it). */
  transport (name: string): Transport {
    if (!this.#nodes.has(name)) {
      this.#nodes.set(name, new Map())
      this.#group.set(name, 0)
    }
    return {
      join: async (namespace, handler) => this.#join(name, namespace, handler),
      multiaddrs: () => [`/memory/${name}`],
      close: async () => {
        for (const member of [...(this.#nodes.get(name)?.values() ?? [])]) await member.channel.close()
      },
    }
  }

  /** Changes the loss and duplication rates (e.g. to 0 before the final convergence check). */
  setFaults (faults: { dropRate?: number, duplicateRate?: number }): void {
    refuseUnknown(faults, ['dropRate', 'duplicateRate'])
    // Both checked before either changes.
    const dropRate = faults.dropRate === undefined ? this.#dropRate : rate('dropRate', faults.dropRate)
    const duplicateRate = faults.duplicateRate === undefined ? this.#duplicateRate : rate('duplicateRate', faults.duplicateRate)
    this.#dropRate = dropRate
    this.#duplicateRate = duplicateRate
  }

  /**
   * Drops every frame for which `rule(from, to, frame)` holds (a hop of a
   * relayed broadcast counts as a frame from the neighbour that forwards
   * it), until replaced; undefined drops none. For tests that lose one
   * chosen copy: `net.dropWhere((from, to, f) => from === 'n1' && to === 'n2' && f[1] === 0)`.
   */
  dropWhere (rule: ((from: string, to: string, frame: Uint8Array) => boolean) | undefined): void {
    if (rule !== undefined && typeof rule !== 'function') throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `dropWhere: the rule must be a function (from, to, frame) => boolean, or undefined, got ${typeof rule}`)
    this.#dropRule = rule
  }

  /** Splits the nodes: each array is a group; nodes named in none form one more group. */
  partition (...groups: string[][]): void {
    // partition(['a'], 'b') would split 'b' into its letters: refused before anything moves.
    if (!groups.every((g) => Array.isArray(g) && g.every((node) => typeof node === 'string'))) {
      throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `partition: each group must be an array of node names, got ${JSON.stringify(groups)}`)
    }
    const before = this.#reachablePairs()
    for (const node of this.#group.keys()) this.#group.set(node, groups.length)
    groups.forEach((g, i) => { for (const node of g) this.#group.set(node, i) })
    this.#announce(before)
  }

  /** Reconnects every node with every other. */
  heal (): void {
    const before = this.#reachablePairs()
    for (const node of this.#group.keys()) this.#group.set(node, 0)
    this.#announce(before)
  }

  reachable (a: string, b: string): boolean {
    return a !== b && this.#group.get(a) === this.#group.get(b) && (this.#links === undefined || this.#links.get(a)?.has(b) === true)
  }

  /** Frames waiting for delivery. */
  get pending (): number {
    return this.#queue.length
  }

  /** Delivers one waiting frame, chosen at random. Returns false when none waits. */
  step (): boolean {
    if (this.#queue.length === 0) return false
    const i = prng.int32(this.#gen, 0, this.#queue.length - 1)
    const item = this.#queue[i] as Pending
    this.#queue[i] = this.#queue[this.#queue.length - 1] as Pending
    this.#queue.pop()
    this.#deliver(item)
    return true
  }

  /**
   * Delivers until nothing waits, letting each cache's per-turn batches go
   * out between steps. Returns the frames delivered.
   */
  async flush (maxSteps = 1_000_000): Promise<number> {
    let steps = 0
    for (;;) {
      await turn()
      if (this.#queue.length === 0) return steps
      while (this.step()) {
        if (++steps >= maxSteps) throw new Error(`memory network still busy after ${maxSteps} deliveries`)
      }
    }
  }

  #join (name: string, namespace: string, handler: FrameHandler): Channel {
    const node = this.#nodes.get(name) as Map<string, Member>
    if (node.has(namespace)) invalidOption('namespace', `${namespace} is already joined by node ${name}`)
    let open = true
    const channel: Channel = {
      localPeer: name,
      broadcast: (frame) => {
        if (!open) return
        const message = this.#spread ? this.#nextMessage++ : 0
        if (message !== 0) this.#seenBy(name).add(message)
        for (const peer of this.#peersOf(name, namespace)) this.#enqueue({ from: name, to: peer, namespace, frame, message })
      },
      send: (peer, frame) => {
        if (open) this.#enqueue({ from: name, to: peer, namespace, frame, message: 0 })
      },
      peers: () => this.#peersOf(name, namespace),
      relays: () => this.#spread && this.#links !== undefined,
      close: async () => {
        if (!open) return
        open = false
        node.delete(namespace)
        for (const peer of this.#peersOf(name, namespace)) this.#member(peer, namespace)?.handler.onPeerDown(name)
      },
    }
    const peers = this.#peersOf(name, namespace)
    node.set(namespace, { handler, channel })
    for (const peer of peers) this.#member(peer, namespace)?.handler.onPeerUp(name)
    return channel
  }

  #member (node: string, namespace: string): Member | undefined {
    return this.#nodes.get(node)?.get(namespace)
  }

  #peersOf (name: string, namespace: string): string[] {
    const out: string[] = []
    for (const [node, namespaces] of this.#nodes) {
      if (namespaces.has(namespace) && this.reachable(name, node)) out.push(node)
    }
    return out
  }

  #enqueue (item: Pending): void {
    this.stats.sent++
    if (!this.#auto) {
      this.#queue.push(item)
      return
    }
    const [min, max] = this.#latency
    setTimeout(() => this.#deliver(item), min + prng.real53(this.#gen) * (max - min))
  }

  #deliver (item: Pending): void {
    const target = this.#member(item.to, item.namespace)
    if (target === undefined || !this.reachable(item.from, item.to) || prng.real53(this.#gen) < this.#dropRate || this.#dropRule?.(item.from, item.to, item.frame) === true) {
      this.stats.dropped++
      return
    }
    if (prng.real53(this.#gen) < this.#duplicateRate) {
      this.stats.duplicated++
      this.#enqueue({ ...item })
    }
    if (item.message !== 0) {
      const seen = this.#seenBy(item.to)
      if (seen.has(item.message)) return // gossipsub's seen cache: a copy by another path
      seen.add(item.message)
      for (const peer of this.#peersOf(item.to, item.namespace)) {
        if (peer !== item.from) this.#enqueue({ ...item, from: item.to, to: peer })
      }
    }
    this.stats.delivered++
    target.handler.onFrame(item.from, item.frame)
  }

  #seenBy (node: string): Set<number> {
    let seen = this.#seen.get(node)
    if (seen === undefined) { seen = new Set(); this.#seen.set(node, seen) }
    return seen
  }

  #reachablePairs (): Set<string> {
    const pairs = new Set<string>()
    for (const a of this.#nodes.keys()) {
      for (const b of this.#nodes.keys()) if (this.reachable(a, b)) pairs.add(`${a}\u0000${b}`)
    }
    return pairs
  }

  /** Tells each namespace member which peers appeared or vanished. */
  #announce (before: Set<string>): void {
    const after = this.#reachablePairs()
    for (const [a, namespaces] of this.#nodes) {
      for (const [namespace, member] of namespaces) {
        for (const b of this.#nodes.keys()) {
          if (this.#member(b, namespace) === undefined) continue
          const pair = `${a}\u0000${b}`
          if (before.has(pair) && !after.has(pair)) member.handler.onPeerDown(b)
          if (!before.has(pair) && after.has(pair)) member.handler.onPeerUp(b)
        }
      }
    }
  }
}

function linkMap (links: Array<[string, string]>): Map<string, Set<string>> {
  if (!Array.isArray(links) || !links.every((l) => Array.isArray(l) && l.length === 2 && typeof l[0] === 'string' && typeof l[1] === 'string')) {
    invalidOption('links', 'must be an array of [nodeA, nodeB] name pairs')
  }
  const map = new Map<string, Set<string>>()
  const add = (a: string, b: string): void => {
    let set = map.get(a)
    if (set === undefined) { set = new Set(); map.set(a, set) }
    set.add(b)
  }
  for (const [a, b] of links) { add(a, b); add(b, a) }
  return map
}

/** Lets pending microtasks (per-turn batches) and immediates run. */
function turn (): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

export function createMemoryNetwork (options?: MemoryNetworkOptions): MemoryNetwork {
  return new MemoryNetwork(options)
}
