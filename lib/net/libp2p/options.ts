/**
 * Options of `createLibp2pTransport`, their defaults and their validation.
 * Bad options fail at construction with E_INVALID_OPTION naming the option.
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { ComponentLogger, PrivateKey } from '@libp2p/interface'
import { parseIdentity } from './identity.ts'
import { invalidOption } from '../../errors.ts'
import { optionNames, refuseUnknown } from '../../core/suggest.ts'
import { CHUNK_BYTES } from './envelope.ts'
import { normalizePsk } from './psk.ts'

export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0']
export const DEFAULT_REDIAL_INTERVAL = 1_000
export const DEFAULT_MAX_REDIAL_INTERVAL = 30_000
export const DEFAULT_DIAL_TIMEOUT = 5_000
export const DEFAULT_FORGET_AFTER = 10 * 60_000
export const DEFAULT_KEEPALIVE_INTERVAL = 5_000
/** As long as membership's stale timeout: only a half-open connection needs it, and a busy peer can stall for seconds. */
export const DEFAULT_PEER_TIMEOUT = 30_000
/** A healed path is found within this (plus a round trip); one SYN per tick per unreachable peer costs little. */
export const DEFAULT_PROBE_INTERVAL = 250
/** Node arms a longer timer for 1 ms (with a warning): no timer option may exceed it. */
const MAX_TIMER_MS = 2 ** 31 - 1
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024
export const DEFAULT_MAX_BUFFERED_BYTES = 8 * 1024 * 1024
/** Peers from which a namespace's broadcasts are relayed (gossipsub's cost per message ~ 60 direct sends here, DESIGN.md). */
export const DEFAULT_RELAY_MIN_PEERS = 50

export interface Libp2pTransportOptions {
  /**
   * Multiaddrs to listen on. Use a public or private interface address (e.g.
   * `/ip4/0.0.0.0/tcp/4001`) to mesh across machines.
   * @default ['/ip4/127.0.0.1/tcp/0'] (loopback, random port)
   */
  listen?: string[] | undefined
  /**
   * Bootstrap multiaddrs to dial, with or without `/p2p/<id>`. They are
   * redialled forever while unreachable; every other peer is learnt from
   * them (peer exchange) and redialled too.
   * @default []
   */
  peers?: string[] | undefined
  /**
   * Pre-shared key that makes the mesh private (libp2p pnet, v1 swarm.key
   * format, see `generatePsk()`). Nodes with another key, or none, cannot
   * complete a connection. Strongly advised on anything but loopback.
   * @default undefined (open mesh: anyone who reaches the port can join)
   */
  psk?: Uint8Array | string | undefined
  /**
   * This node's private key (as made by `generateIdentity()`: base64 text, or
   * the key's protobuf bytes), so its peer id stays the same across restarts
   * and addresses with `/p2p/<id>` stay valid. Keep it secret, one per
   * instance.
   * @default a new key (and peer id) at every start
   */
  identity?: Uint8Array | string | undefined
  /**
   * First delay in ms before redialling a known peer that is unreachable;
   * doubles after each failed try up to `maxRedialInterval`. Also the
   * period of the check itself.
   * @default 1000
   */
  redialInterval?: number | undefined
  /** @default 30000 */
  maxRedialInterval?: number | undefined
  /**
   * How long (ms) one dial of a known peer may take before it counts as
   * failed. A node with the wrong psk can leave a dial hanging until then.
   * @default 5000
   */
  dialTimeout?: number | undefined
  /**
   * A peer learnt through peer exchange (not a bootstrap peer) that stayed
   * unreachable this long (ms) is forgotten. Bootstrap peers are never forgotten.
   * @default 600000 (10 min)
   */
  forgetAfter?: number | undefined
  /**
   * How often (ms) our stream to each peer carries a PING, busy or idle, so
   * the peer keeps hearing from us and knows we judge liveness the same way.
   * @default 5000
   */
  keepaliveInterval?: number | undefined
  /**
   * A connected peer from which nothing arrived for this long (ms) while
   * this process was running normally is given up: its connections are
   * closed and the redialer takes over (a partition, a peer frozen or gone
   * without closing TCP). Any bytes count, so a peer saturating the link
   * with frames is never mistaken for a dead one; at least three times
   * `keepaliveInterval`. Peers that never send a PING (an older meshcache)
   * are never given up this way.
   * @default 30000
   */
  peerTimeout?: number | undefined
  /**
   * How often (ms) a peer we cannot hear is probed with a bare TCP connect
   * to its address: one connected but silent past a due PING (1.25
   * keepalives), or one whose connections were lost. When a probe connects,
   * the path is back: a lost peer is dialled at once (whatever the redial
   * backoff), and a silent one gets a new connection that replaces the
   * stalled ones. So a healed partition is found within about this long,
   * instead of when TCP's retransmission backoff or the redial backoff next
   * tries (seconds after a cut of seconds). A cut shorter than 1.25
   * keepalives is left to TCP. 0 turns probing off.
   * @default 250
   */
  probeInterval?: number
  /**
   * Largest frame `broadcast`/`send` accepts; larger frames are refused and
   * counted (`stats().droppedOversize`). Frames over 1 MiB are split into
   * pieces on the wire and joined again by the receiver.
   * @default 16 MiB
   */
  maxFrameBytes?: number | undefined
  /**
   * Per peer: when a peer's stream is saturated and this many bytes already
   * wait to be sent, further frames to it are dropped (and counted in
   * `stats().droppedBackpressure`) instead of queued; the core's
   * anti-entropy repairs them.
   * @default 8 MiB
   */
  maxBufferedBytes?: number | undefined
  /**
   * The relay tier for large meshes: broadcasts in a namespace with at least
   * `minPeers` connected peers go over gossipsub (the sender reaches 6 mesh
   * peers, which forward) instead of one direct send per peer; anti-entropy
   * stays direct. Below that, direct streams are faster (SPEC.md §11).
   * `true` means `{ minPeers: 50 }`.
   * @default false
   */
  gossipsub?: boolean | { minPeers?: number } | undefined
  /**
   * Bounded connections for large meshes (a partial mesh). While this node
   * knows at most `maxPeers` peers nothing changes (a full mesh, direct
   * streams). Past that it dials only until it holds `maxPeers` connections,
   * keeps at most twice that (a newcomer past it is greeted with the peers
   * we know, then let go),
   * and every broadcast spreads over gossipsub, hop by hop (the relay tier
   * is turned on for it); anti-entropy runs with the neighbours, and repair
   * is transitive (SPEC.md §11). Infinity: always a full mesh.
   * @default Infinity
   */
  maxPeers?: number
  /**
   * This node's region, for region links (`createMeshCache` passes its own
   * `region`). In a partial mesh (`maxPeers`), links prefer peers of the
   * same region and a region keeps about `crossRegionLinks` links to each
   * other region (SPEC.md §11.4). Advertised in HELLO and PEERS. '': none.
   * @default ''
   */
  region?: string
  /** Links each region keeps to the other regions in a partial mesh (its `crossRegionLinks` smallest peer ids hold one each); at least 2, for redundancy. @default 2 */
  crossRegionLinks?: number
  /**
   * How many copies of a write cross to a far region in a partial mesh with
   * region links (SPEC.md §11.4). 'each-link': every far link carries one,
   * and the first to arrive wins: lowest latency, and a second link covers a
   * lost one. 'one': of a region's link holders, one carries each writer's
   * writes once the far links have been still for 5 s (every link while they
   * move): one copy a region pair, for less cross-region traffic, paid in
   * latency in the far region (one far end spreads it: at 8+8 instances
   * p50 5.2-7.2 ms after the link delay against 3.2-4.5) and in a repair when the one
   * copy is lost.
   * @default 'each-link'
   */
  crossRegionCopies?: 'each-link' | 'one'
  /**
   * libp2p logger; meshcache logs under `meshcache:libp2p:*`
   * (`DEBUG=meshcache:*` to see it).
   * @default libp2p's default logger
   */
  logger?: ComponentLogger | undefined
}

/** Every option name, for refusing unknown ones with a suggestion (a name left out fails to compile). */
const TRANSPORT_OPTION_NAMES = optionNames<Libp2pTransportOptions>()([
  'listen', 'peers', 'psk', 'identity', 'redialInterval', 'maxRedialInterval', 'dialTimeout', 'forgetAfter',
  'keepaliveInterval', 'peerTimeout', 'probeInterval', 'maxPeers', 'region', 'crossRegionLinks', 'crossRegionCopies', 'maxFrameBytes', 'maxBufferedBytes', 'gossipsub', 'logger',
])

export interface ResolvedOptions {
  listen: string[]
  peers: string[]
  psk: Uint8Array | undefined
  identity: PrivateKey | undefined
  redialInterval: number
  maxRedialInterval: number
  dialTimeout: number
  forgetAfter: number
  keepaliveInterval: number
  peerTimeout: number
  probeInterval: number
  /** Infinity: a full mesh. */
  maxPeers: number
  region: string
  crossRegionLinks: number
  crossRegionCopies: 'each-link' | 'one'
  maxFrameBytes: number
  maxBufferedBytes: number
  logger: ComponentLogger | undefined
  /** Peers from which broadcasts are relayed over gossipsub; undefined: no relay tier. */
  relayMinPeers: number | undefined
}

function checkAddrs (name: string, value: unknown): string[] {
  if (!Array.isArray(value) || !value.every(v => typeof v === 'string')) {
    invalidOption(name, 'must be an array of multiaddr strings')
  }
  for (const a of value as string[]) {
    try {
      multiaddr(a)
    } catch {
      invalidOption(name, `has an invalid multiaddr: ${JSON.stringify(a)}`)
    }
  }
  return [...value as string[]]
}

function checkMs (name: string, value: unknown, fallback: number, min: number, max = Number.MAX_VALUE): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    invalidOption(name, max === Number.MAX_VALUE ? `must be a finite number ≥ ${min}` : `must be a number from ${min} to ${max}`)
  }
  return value
}

/** A delay that arms a timer. */
function checkTimer (name: string, value: unknown, fallback: number, min: number): number {
  return checkMs(name, value, fallback, min, MAX_TIMER_MS)
}

export function resolveOptions (options: Libp2pTransportOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) invalidOption('options', 'must be an object')
  refuseUnknown(options, TRANSPORT_OPTION_NAMES)
  const listen = options.listen === undefined ? [...DEFAULT_LISTEN] : checkAddrs('listen', options.listen)
  if (listen.length === 0) invalidOption('listen', 'must name at least one address')
  const peers = options.peers === undefined ? [] : checkAddrs('peers', options.peers)
  let psk: Uint8Array | undefined
  if (options.psk !== undefined) {
    if (typeof options.psk !== 'string' && !(options.psk instanceof Uint8Array)) {
      invalidOption('psk', 'must be a string or a Uint8Array')
    }
    psk = normalizePsk(options.psk)
  }
  const identity = options.identity === undefined ? undefined : parseIdentity(options.identity)
  const redialInterval = checkTimer('redialInterval', options.redialInterval, DEFAULT_REDIAL_INTERVAL, 10)
  const maxRedialInterval = checkTimer('maxRedialInterval', options.maxRedialInterval,
    Math.max(DEFAULT_MAX_REDIAL_INTERVAL, redialInterval), redialInterval)
  const dialTimeout = checkTimer('dialTimeout', options.dialTimeout, DEFAULT_DIAL_TIMEOUT, 10)
  const forgetAfter = checkMs('forgetAfter', options.forgetAfter, DEFAULT_FORGET_AFTER, 0)
  const keepaliveInterval = checkTimer('keepaliveInterval', options.keepaliveInterval, DEFAULT_KEEPALIVE_INTERVAL, 10)
  if (typeof options.peerTimeout === 'number' && options.peerTimeout < 3 * keepaliveInterval) {
    invalidOption('peerTimeout', `must be at least three times keepaliveInterval (${3 * keepaliveInterval} ms): a peer pings only that often, and one lost or late PING must not cost the connection`)
  }
  const peerTimeout = checkTimer('peerTimeout', options.peerTimeout,
    Math.max(DEFAULT_PEER_TIMEOUT, 3 * keepaliveInterval), 3 * keepaliveInterval)
  const probeInterval = options.probeInterval === 0 ? 0 : checkTimer('probeInterval', options.probeInterval, DEFAULT_PROBE_INTERVAL, 10)
  const maxFrameBytes = checkMs('maxFrameBytes', options.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES, 1)
  const maxBufferedBytes = checkMs('maxBufferedBytes', options.maxBufferedBytes, DEFAULT_MAX_BUFFERED_BYTES, CHUNK_BYTES)
  if (options.logger !== undefined && typeof options.logger?.forComponent !== 'function') {
    invalidOption('logger', 'must be a libp2p ComponentLogger (with forComponent)')
  }
  const maxPeers = options.maxPeers === undefined || options.maxPeers === Infinity ? Infinity : options.maxPeers
  if (maxPeers !== Infinity && (typeof maxPeers !== 'number' || !Number.isInteger(maxPeers) || maxPeers < 2)) {
    invalidOption('maxPeers', 'must be an integer ≥ 2, or Infinity')
  }
  // A partial mesh spreads its broadcasts over gossipsub: the relay tier comes with it.
  const relayMinPeers = resolveRelay(options.gossipsub) ?? (maxPeers !== Infinity ? DEFAULT_RELAY_MIN_PEERS : undefined)
  const region = options.region ?? ''
  if (typeof region !== 'string' || region.length > 64) invalidOption('region', 'must be a string of at most 64 characters')
  const crossRegionLinks = options.crossRegionLinks ?? 2
  if (typeof crossRegionLinks !== 'number' || !Number.isInteger(crossRegionLinks) || crossRegionLinks < 2) invalidOption('crossRegionLinks', 'must be an integer ≥ 2 (one far link per region would leave no redundancy)')
  const crossRegionCopies = options.crossRegionCopies ?? 'each-link'
  if (crossRegionCopies !== 'each-link' && crossRegionCopies !== 'one') invalidOption('crossRegionCopies', `must be 'each-link' or 'one', got ${JSON.stringify(crossRegionCopies)}`)
  return { listen, peers, psk, identity, redialInterval, maxRedialInterval, dialTimeout, forgetAfter, keepaliveInterval, peerTimeout, probeInterval, maxPeers, region, crossRegionLinks, crossRegionCopies, maxFrameBytes, maxBufferedBytes, logger: options.logger, relayMinPeers }
}

function resolveRelay (value: unknown): number | undefined {
  if (value === undefined || value === false) return undefined
  if (value === true) return DEFAULT_RELAY_MIN_PEERS
  if (typeof value !== 'object' || value === null) invalidOption('gossipsub', 'must be a boolean or { minPeers }')
  refuseUnknown(value, ['minPeers'], 'gossipsub.')
  const minPeers = (value as { minPeers?: unknown }).minPeers
  if (minPeers === undefined) return DEFAULT_RELAY_MIN_PEERS
  if (typeof minPeers !== 'number' || !Number.isInteger(minPeers) || minPeers < 0) {
    invalidOption('gossipsub', 'minPeers must be an integer ≥ 0')
  }
  return minPeers
}
