/**
 * The libp2p transport: meshcache's frames between processes over TCP,
 * private with a pre-shared key, encrypted and authenticated with Noise,
 * multiplexed with Yamux, on one direct stream per peer and direction.
 * See DESIGN.md for why (and why not gossipsub).
 */
import type { Channel, FrameHandler, Transport } from '../transport.ts'
import { ErrorCode, MeshCacheError } from '../../errors.ts'
import { buildNode } from './node.ts'
import { FaultSwitch } from './fault.ts'
import { Mesh } from './mesh.ts'
import { GossipRelay } from './relay.ts'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Libp2p } from 'libp2p'
import type { LocalNamespace, TransportStats } from './mesh.ts'
import { Redialer } from './redial.ts'
import { resolveOptions } from './options.ts'
import type { Libp2pTransportOptions } from './options.ts'

export { generatePsk } from './psk.ts'
export { PROTOCOL } from './envelope.ts'
export type { Libp2pTransportOptions } from './options.ts'
export type { TransportStats } from './mesh.ts'

/** Fault injection for tests and demos: partitions without root. */
export interface Faults {
  /** Cuts this node off from every peer until `heal()`. */
  isolate (): void
  /** Cuts this node off from the given peers until `heal()`. */
  block (peers: Iterable<string>): void
  /** Lifts every block; the redialer reconnects at its next try. */
  heal (): void
  /** Aborts the open connections to `peer` once (no block: the redialer reconnects). */
  cut (peer: string): void
}

export interface Libp2pTransport extends Transport {
  /** This node's libp2p peer id (the `from` and `peer` its peers see). */
  readonly peerId: string
  /** Addresses other nodes can put in their `peers` option (with `/p2p/<id>`). */
  multiaddrs (): string[]
  join (namespace: string, handler: FrameHandler): Promise<Channel>
  /** Adds a bootstrap address after start; it is dialled at once and redialled like the others. */
  addPeer (addr: string): void
  /** Counters of what was sent, received and dropped. */
  stats (): TransportStats
  /** The libp2p node underneath (for metrics and inspection; meshcache owns its lifecycle). */
  readonly libp2p: Libp2p
  readonly faults: Faults
  close (): Promise<void>
}

class Libp2pChannel implements Channel {
  readonly localPeer: string
  readonly #mesh: Mesh
  readonly #ns: LocalNamespace

  constructor (mesh: Mesh, ns: LocalNamespace) {
    this.localPeer = mesh.self
    this.#mesh = mesh
    this.#ns = ns
  }

  broadcast (frame: Uint8Array): void { this.#mesh.broadcast(this.#ns, frame) }
  send (peer: string, frame: Uint8Array): void { this.#mesh.send(this.#ns, peer, frame) }
  peers (): string[] { return this.#mesh.peersOf(this.#ns) }
  async close (): Promise<void> { this.#mesh.leave(this.#ns) }
}

/**
 * Starts a libp2p node and returns a transport on it. Rejects with
 * E_INVALID_OPTION for bad options and E_TRANSPORT if the node cannot start
 * (for example, the listen address is taken).
 */
export async function createLibp2pTransport (options: Libp2pTransportOptions = {}): Promise<Libp2pTransport> {
  const opts = resolveOptions(options)
  const faults = new FaultSwitch()
  let mesh: Mesh
  try {
    const node = await buildNode({ listen: opts.listen, psk: opts.psk, gater: faults.gater(), logger: opts.logger, gossipsub: opts.relayMinPeers !== undefined })
    mesh = new Mesh(node, opts, node.logger.forComponent('meshcache:libp2p:mesh'))
    if (opts.relayMinPeers !== undefined) {
      mesh.relay = new GossipRelay(node.services.pubsub as GossipSub, opts.relayMinPeers, mesh, node.logger.forComponent('meshcache:libp2p:relay'))
    }
    await mesh.attach()
    await node.start()
    mesh.start()
  } catch (err) {
    throw new MeshCacheError(ErrorCode.TRANSPORT, `libp2p node failed to start: ${(err as Error).message}`, { cause: err })
  }
  const node = mesh.node
  const redialer = new Redialer({
    node,
    log: node.logger.forComponent('meshcache:libp2p:redial'),
    isConnected: peer => mesh.isConnected(peer),
    interval: opts.redialInterval,
    maxInterval: opts.maxRedialInterval,
    dialTimeout: opts.dialTimeout,
    forgetAfter: opts.forgetAfter,
    onDial: ok => { mesh.stats.redials++; if (!ok) mesh.stats.redialFailures++ },
    ...(mesh.prober !== undefined ? { probe: mesh.prober } : {}),
    // A partial mesh dials only while it holds fewer than maxPeers connections.
    ...(opts.maxPeers !== Infinity ? { bound: { peers: opts.maxPeers, connections: () => mesh.connectedPeerCount() } } : {}),
    // ...and, with a region, prefers its own region (regions.ts)
    ...(mesh.regions !== undefined ? { policy: { allowDial: (peer: string | undefined) => mesh.allowDial(peer), compare: (a: string | undefined, b: string | undefined) => mesh.regions?.compare(a, b) ?? 0 } } : {})
  })
  mesh.redialer = redialer
  for (const addr of opts.peers) redialer.addBootstrap(addr)
  redialer.start()
  if (opts.psk === undefined) {
    node.logger.forComponent('meshcache:libp2p').error('no psk: any node that reaches %s can join this mesh', mesh.ownAddrs().join(', '))
  }

  let closing: Promise<void> | undefined
  return {
    peerId: mesh.self,
    libp2p: node,
    multiaddrs: () => node.getMultiaddrs().map(a => a.toString()),
    async join (namespace: string, handler: FrameHandler): Promise<Channel> {
      if (closing !== undefined) throw new MeshCacheError(ErrorCode.CLOSED, 'transport is closed')
      return new Libp2pChannel(mesh, mesh.join(namespace, handler))
    },
    addPeer (addr: string): void {
      resolveOptions({ peers: [addr] })
      redialer.addBootstrap(addr)
      redialer.start()
    },
    stats: () => ({ ...mesh.stats, probes: mesh.prober?.probes ?? 0, connections: mesh.connectedPeerCount() }),
    faults: {
      isolate () {
        faults.isolate()
        for (const c of node.getConnections()) mesh.cut(c.remotePeer.toString())
      },
      block (peers: Iterable<string>) {
        const list = [...peers]
        faults.block(list)
        for (const p of list) mesh.cut(p)
      },
      heal () { faults.heal() },
      cut (peer: string) { mesh.cut(peer) }
    },
    close (): Promise<void> {
      // Every caller waits for the one shutdown, not just the first.
      closing ??= (async () => {
        redialer.stop()
        await mesh.stop()
      })()
      return closing
    }
  }
}
