/**
 * One process hosting several meshcache instances, each with its own libp2p
 * node and port (bench:scale, test/mesh/scale.test.ts). Driven over IPC.
 *
 * argv: JSON { instances, first, bootstrap: string[], psk, maxPeers?, regions?: string[], regionLinks?, crossRegionCopies? }
 *   `first` is the global index of this host's first instance; `regions` the region of each instance
 *   here (a label in `peers()`; with `regionLinks`, the transport's too: region links, SPEC.md §11.4).
 * Requests (each { id, op, ... }, answered { id, value }):
 *   addrs                         → the multiaddrs of every instance (with /p2p/)
 *   await-peers { count }         → when every instance's membership lists `count` others
 *   write { instance, key }       → sets key on the local instance `instance` (global index) to its send time, answered
 *   arrivals { keys }             → per key: [arrivals here, latest arrival time, first (CLOCK_MONOTONIC ms),
 *                                   the instances (global index) it reached by a repair (a `change` whose source is
 *                                   'repair': not the write's own frame)]
 *   await-keys { keys }           → when every instance here holds every key
 *   stats                         → per instance: transport stats, gossipsub messages received (duplicates
 *                                   included; in all, UPDATES frames, and by message type), frames handed
 *                                   to the cache by message type, gossipsub copies by the neighbour
 *                                   that sent them, the peers connected, heap per instance
 *   block { peers } / heal        → fault switch of every instance here (a partition without root)
 *   close
 * A write's value is its CLOCK_MONOTONIC send time, so receivers need no table.
 */
import { createMeshCache, type MeshCache } from '../../lib/index.ts'
import { createLibp2pTransport, type Libp2pTransport } from '../../lib/net/libp2p/index.ts'
import { prefixLogger } from '@libp2p/logger'
import type { Transport } from '../../lib/net/transport.ts'

interface Config { instances: number, first: number, bootstrap: string[], psk: string, maxPeers?: number, mode?: 'invalidate' | 'replicate', regions?: string[], regionLinks?: boolean, crossRegionCopies?: 'each-link' | 'one' }
type Request =
  | { id: number, op: 'addrs' }
  | { id: number, op: 'await-peers', count: number }
  | { id: number, op: 'write', instance: number, key: string }
  | { id: number, op: 'arrivals', keys: string[] }
  | { id: number, op: 'await-keys', keys: string[] }
  | { id: number, op: 'stats' }
  | { id: number, op: 'block', peers: string[] }
  | { id: number, op: 'heal' }
  | { id: number, op: 'close' }

const config = JSON.parse(process.argv[2] ?? '{}') as Config
const now = (): number => Number(process.hrtime.bigint()) / 1e6
process.on('disconnect', () => process.exit(0))

/**
 * Messages received, by kind: gossipsub copies (duplicates included: the wire cost of spreading) by the
 * frame's message type (byte 1 of a frame), and frames delivered to the cache by type (direct frames
 * plus the first copy of each relayed one, which gossip already counts).
 */
interface Counts { received: number, updates: number, byType: number[], delivered: number[], from: Record<string, number>, updatesFrom: Record<string, number> }
interface Instance { transport: Libp2pTransport, cache: MeshCache<number>, gossip: Counts }
const TYPES = 8
const typeOf = (frame: Uint8Array | undefined): number => Math.min(frame?.[1] ?? TYPES - 1, TYPES - 1)
const instances: Instance[] = []
/** key → [arrivals in this process, latest arrival, first arrival, the instances it reached by a repair] */
const arrivals = new Map<string, [number, number, number, number[]]>()

for (let i = 0; i < config.instances; i++) {
  // The first host's first instance is the seed; the rest of that host bootstrap to it.
  const bootstrap = config.bootstrap.length > 0 || i === 0 ? config.bootstrap : [instances[0]?.transport.multiaddrs()[0] as string]
  const region = config.regions?.[i] ?? ''
  const transport = await createLibp2pTransport({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    peers: bootstrap,
    psk: `/key/swarm/psk/1.0.0/\n/base16/\n${config.psk}\n`,
    ...(config.maxPeers !== undefined ? { maxPeers: config.maxPeers } : {}),
    ...(config.regionLinks === true && region !== '' ? { region, ...(config.crossRegionCopies !== undefined ? { crossRegionCopies: config.crossRegionCopies } : {}) } : {}),
    // DEBUG='i*:meshcache:*' shows which instance logged what
    logger: prefixLogger(`i${config.first + i}`),
  })
  const gossip: Counts = { received: 0, updates: 0, byType: new Array(TYPES).fill(0), delivered: new Array(TYPES).fill(0), from: {}, updatesFrom: {} }
  // Counts every gossipsub message received, duplicates included: the wire cost of spreading;
  // and, of those, the UPDATES frames (byte 1 of a frame is its type, 0 for UPDATES).
  const pubsub = (transport.libp2p.services as { pubsub?: { handleReceivedMessage: (...args: unknown[]) => Promise<void> } }).pubsub
  if (pubsub !== undefined) {
    const original = pubsub.handleReceivedMessage.bind(pubsub)
    pubsub.handleReceivedMessage = (...args: unknown[]) => {
      gossip.received++
      const from = String(args[0]) // the neighbour that sent this copy (gossipsub's propagation source)
      gossip.from[from] = (gossip.from[from] ?? 0) + 1
      const type = typeOf((args[1] as { data?: Uint8Array } | undefined)?.data)
      gossip.byType[type] = (gossip.byType[type] ?? 0) + 1
      if (type === 0) { gossip.updates++; gossip.updatesFrom[from] = (gossip.updatesFrom[from] ?? 0) + 1 }
      return original(...args)
    }
  }
  // Frames the cache is handed, by type (the transport is wrapped, not changed).
  const counted: Transport = {
    join: (namespace, handler) => transport.join(namespace, { ...handler, onFrame: (from, frame) => { const t = typeOf(frame); gossip.delivered[t] = (gossip.delivered[t] ?? 0) + 1; handler.onFrame(from, frame) } }),
    multiaddrs: () => transport.multiaddrs(),
    onPeerError: (listener) => transport.onPeerError(listener),
  }
  const cache = await createMeshCache<number>({ namespace: 'scale', transport: counted, mode: config.mode ?? 'replicate', ttl: 10 * 60_000, ...(region !== '' ? { region } : {}) })
  cache.on('change', (event: { key: string, source: string }) => {
    const at = now()
    let seen = arrivals.get(event.key)
    if (seen === undefined) { seen = [0, at, at, []]; arrivals.set(event.key, seen) }
    seen[0]++
    seen[1] = at
    if (event.source === 'repair') seen[3].push(config.first + i)
  })
  instances.push({ transport, cache, gossip })
}

const waiters = new Set<() => void>()
setInterval(() => { for (const w of [...waiters]) w() }, 20).unref() // membership has no event here; 20 ms resolution

function until (done: () => boolean): Promise<number> {
  return new Promise((resolve) => {
    const check = (): void => { if (done()) { waiters.delete(check); resolve(now()) } }
    waiters.add(check)
    check()
  })
}

const local = (instance: number): Instance => {
  const found = instances[instance - config.first]
  if (found === undefined) throw new RangeError(`instance ${instance} is not hosted here`)
  return found
}

process.on('message', async (request: Request) => {
  let value: unknown
  switch (request.op) {
    case 'addrs': value = instances.map((i) => i.transport.multiaddrs()[0]); break
    case 'await-peers': value = await until(() => instances.every((i) => i.cache.peers().length >= request.count)); break
    case 'write': value = now(); local(request.instance).cache.set(request.key, value as number); break
    case 'arrivals': value = request.keys.map((k) => arrivals.get(k) ?? [0, Number.NaN, Number.NaN, []]); break
    case 'await-keys': value = await until(() => instances.every((i) => request.keys.every((k) => i.cache.inspect(k) !== undefined))); break
    case 'stats': {
      const heap = process.memoryUsage().heapUsed
      value = instances.map((i) => ({ transport: i.transport.stats(), gossip: i.gossip.received, gossipUpdates: i.gossip.updates, gossipByType: i.gossip.byType, deliveredByType: i.gossip.delivered, heapPerInstance: heap / instances.length, peers: i.cache.peers().length, gossipFrom: i.gossip.from, gossipUpdatesFrom: i.gossip.updatesFrom, connected: [...new Set(i.transport.libp2p.getConnections().map((c) => c.remotePeer.toString()))] }))
      break
    }
    case 'block': for (const i of instances) i.transport.faults.block(request.peers); break
    case 'heal': for (const i of instances) i.transport.faults.heal(); break
    case 'close': for (const i of instances) await i.cache.close(); for (const i of instances) await i.transport.close(); break
  }
  process.send?.({ id: request.id, value })
  if (request.op === 'close') process.exit(0)
})
process.send?.({ ready: true, peerIds: instances.map((i) => i.transport.peerId) })
