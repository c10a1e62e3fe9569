/**
 * The libp2p transport: meshcache's frames between processes over TCP,
 * private with a pre-shared key, encrypted and authenticated with Noise,
 * multiplexed with Yamux, on one direct stream per peer and direction.
 * See DESIGN.md for why (and why not gossipsub).
 */
import type { Channel, FrameHandler, PeerErrorEvent, Transport } from '../transport.ts'
import { classifyDialError, refineTimeout } from './peer-errors.ts'
import { ErrorCode, MeshCacheError } from '../../errors.ts'
import { buildNode } from './node.ts'
import { FaultSwitch } from './fault.ts'
import { Mesh } from './mesh.ts'
import { GossipRelay } from './relay.ts'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Topology } from '@libp2p/interface'
import type { Libp2p } from 'libp2p'
import type { LocalNamespace, TransportStats } from './mesh.ts'
import { Redialer } from './redial.ts'
import { resolveOptions } from './options.ts'
import type { Libp2pTransportOptions } from './options.ts'
import type { RecordKindValue } from '../../../protocol/constants.ts'

export { generatePsk } from './psk.ts'
export { generateIdentity, peerIdOf } from './identity.ts'
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
  /** Failed dials, classified (wrong key, wrong peer id, unreachable); returns the unsubscribe function. */
  onPeerError (listener: (event: PeerErrorEvent) => void): () => void
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

  broadcast (frame: Uint8Array): void { this.#mesh.out.broadcast(this.#ns, frame) }
  send (peer: string, frame: Uint8Array): void { this.#mesh.out.send(this.#ns, peer, frame) }
  broadcastLone (origin: string, seq: number, key: string, kind: RecordKindValue, hlc: number): boolean {
    return this.#mesh.out.broadcastLone(this.#ns, origin, seq, key, kind, hlc)
  }
  peers (): string[] { return this.#mesh.peersOf(this.#ns) }
  relays (): boolean { return this.#mesh.relaysBroadcasts() }
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
    const node = await buildNode({ listen: opts.listen, psk: opts.psk, privateKey: opts.identity, gater: faults.gater(), logger: opts.logger, gossipsub: opts.relayMinPeers !== undefined })
    mesh = new Mesh(node, opts, node.logger.forComponent('meshcache:libp2p:mesh'))
    if (opts.relayMinPeers !== undefined) {
      // libp2p's registrar is not on its public type; gossipsub registered its topology there (relay.ts connectionLeft)
      const { registrar } = (node as unknown as { components: { registrar: { getTopologies (protocol: string): Topology[] } } }).components
      mesh.relay = new GossipRelay(node.services.pubsub as GossipSub, opts.relayMinPeers, mesh, protocol => registrar.getTopologies(protocol), node.logger.forComponent('meshcache:libp2p:relay'), opts.region)
    }
    await mesh.attach()
    await node.start()
    mesh.start()
  } catch (err) {
    throw startError(err, opts.listen)
  }
  const node = mesh.node
  let closing: Promise<void> | undefined
  const peerErrors = new Set<(event: PeerErrorEvent) => void>()
  const redialer = new Redialer({
    node,
    log: node.logger.forComponent('meshcache:libp2p:redial'),
    isConnected: peer => mesh.isConnected(peer),
    interval: opts.redialInterval,
    maxInterval: opts.maxRedialInterval,
    dialTimeout: opts.dialTimeout,
    forgetAfter: opts.forgetAfter,
    onDial: ok => { mesh.stats.redials++; if (!ok) mesh.stats.redialFailures++ },
    onDialError: (address, err) => {
      if (peerErrors.size === 0) return
      const hasPsk = opts.psk !== undefined
      void refineTimeout(address, classifyDialError(address, err, hasPsk), hasPsk, opts.dialTimeout).then((error) => {
        if (closing !== undefined) return
        const event: PeerErrorEvent = { address, error }
        for (const listener of peerErrors) {
          try { listener(event) } catch (thrown) { queueMicrotask(() => { throw thrown }) }
        }
      })
    },
    ...(mesh.prober !== undefined ? { probe: mesh.prober } : {}),
    // A partial mesh dials only while it holds fewer than maxPeers connections (those being let go not counted).
    ...(opts.maxPeers !== Infinity ? { bound: { peers: opts.maxPeers, connections: () => mesh.linkedPeerCount() } } : {}),
    // ...and, with a region, prefers its own region (regions.ts)
    ...(mesh.regions !== undefined ? { policy: { allowDial: (peer: string | undefined) => mesh.allowDial(peer), compare: (a: string | undefined, b: string | undefined) => mesh.regions?.compare(a, b) ?? 0, needs: (peer: string | undefined) => mesh.needsDial(peer), restores: (peer: string | undefined) => peer !== undefined && mesh.regions?.isNear(peer) === true } } : {})
  })
  mesh.redialer = redialer
  for (const addr of opts.peers) redialer.addBootstrap(addr)
  redialer.start()
  if (opts.psk === undefined) {
    node.logger.forComponent('meshcache:libp2p').error('no psk: any node that reaches %s can join this mesh', mesh.ownAddrs().join(', '))
  }

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
    onPeerError (listener: (event: PeerErrorEvent) => void): () => void {
      peerErrors.add(listener)
      return () => { peerErrors.delete(listener) }
    },
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

/**
 * The node could not start. A taken listen port is the usual cause; libp2p's
 * own message for it advises a libp2p option meshcache does not expose, so
 * the error says what a user can change instead.
 */
function startError (err: unknown, listen: string[]): MeshCacheError {
  const message = (err as Error)?.message ?? String(err)
  if (/EADDRINUSE|address already in use/i.test(message) || (err as { code?: string })?.code === 'EADDRINUSE') {
    return new MeshCacheError(ErrorCode.TRANSPORT,
      `cannot listen on ${listen.join(', ')}: the address is already in use (another instance on this port?); choose another port in \`listen\`, or port 0 for a free one`, { cause: err })
  }
  return new MeshCacheError(ErrorCode.TRANSPORT, `libp2p node failed to start: ${message}`, { cause: err })
}
