/**
 * One meshcache process driven over IPC: inside a netns lab namespace
 * (mesh-partition.test.ts) or on loopback (test/mesh/).
 *
 * argv: ADDRESS PORT PSK_HEX PEER...   a PEER is an IPv4 address (same port) or a full multiaddr
 * env:  NODE_ID (optional, the cache's nodeId), REGION (optional, the cache's region), MODE ('replicate', the default, or 'invalidate'),
 *       IDENTITY (optional, the transport's pinned identity, from generateIdentity())
 *       KEEPALIVE_MS / PEER_TIMEOUT_MS / PROBE_MS (optional, the transport's keepaliveInterval / peerTimeout / probeInterval),
 *       MAX_PEERS (optional, the transport's maxPeers: a partial mesh), REGION_LINKS ('1': the transport gets REGION too, region links), CROSS_LINKS (its crossRegionLinks), CROSS_COPIES ('one': its crossRegionCopies),
 *       REDIAL ('default': the transport's own redial timers instead of this script's fast ones),
 *       CLOCK_OFFSET_MS (optional: this process's Date.now runs that far ahead, or behind if negative: a skewed clock)
 * Requests: { id, op: 'set', key, value } | { id, op: 'delete', key } | { id, op: 'get', keys } |
 *   { id, op: 'inspect', keys } | { id, op: 'origin' } | { id, op: 'await-peers', count } | { id, op: 'await-members', count } |
 *   { id, op: 'await-values', expect: Record<key, value> } | { id, op: 'await-kind', key, kind } | { id, op: 'sync' } |
 *   { id, op: 'load', key, value, dependsOn?, tags? } (getOrLoad with a loader returning value) |
 *   { id, op: 'await-missing', keys } | { id, op: 'invalidate', key } | { id, op: 'invalidate-tag', tag } |
 *   { id, op: 'peers' } (cache.peers()) | { id, op: 'peer-errors' } (codes of the transport's dial errors so far) |
 *   { id, op: 'await-peer-error', code } | { id, op: 'set-replicated', key, value, timeout } (set, then
 *   whenReplicated) | { id, op: 'clear' } | { id, op: 'links' } (own peer id, connections, gossipsub mesh peers) |
 *   { id, op: 'clock-skew' } (the `clockSkew` events so far and `stats().clockAhead`) | { id, op: 'await-clock-skew', seenIn }
 * Replies: { id, value, at } where `at` is CLOCK_MONOTONIC ms.
 */
import { createMeshCache, type ChangeEvent, type ClockSkewEvent } from '../../lib/index.ts'
import { createLibp2pTransport } from '../../lib/net/libp2p/index.ts'
import { createWaiters, now } from '../helpers/waiters.ts'

type Request =
  | { id: number, op: 'set', key: string, value: string, dependsOn?: string[] }
  | { id: number, op: 'get', keys: string[] }
  | { id: number, op: 'await-peers', count: number }
  | { id: number, op: 'await-members', count: number }
  | { id: number, op: 'await-values', expect: Record<string, string> }
  | { id: number, op: 'transport-stats' }
  | { id: number, op: 'links' }
  | { id: number, op: 'sync' }
  | { id: number, op: 'delete', key: string }
  | { id: number, op: 'inspect', keys: string[] }
  | { id: number, op: 'origin' }
  | { id: number, op: 'await-kind', key: string, kind: string }
  | { id: number, op: 'load', key: string, value: string, dependsOn?: string[], tags?: string[] }
  | { id: number, op: 'invalidate', key: string }
  | { id: number, op: 'invalidate-tag', tag: string }
  | { id: number, op: 'await-missing', keys: string[] }
  | { id: number, op: 'peers' }
  | { id: number, op: 'set-replicated', key: string, value: string, timeout: number }
  | { id: number, op: 'clear' }
  | { id: number, op: 'peer-errors' }
  | { id: number, op: 'await-peer-error', code: string }
  | { id: number, op: 'clock-skew' }
  | { id: number, op: 'await-clock-skew', seenIn: string }
  | { id: number, op: 'close' }

const [address, port, psk, ...peers] = process.argv.slice(2)
if (process.env.CLOCK_OFFSET_MS) {
  // Before anything reads the clock: the whole process (meshcache, awareness, libp2p) lives on the skewed time.
  const offset = Number(process.env.CLOCK_OFFSET_MS)
  const realNow = Date.now
  Date.now = () => realNow() + offset
}
// Every 20 ms besides events: peers have no public event; 20 ms is the measurement resolution.
const { wake, until } = createWaiters()
process.on('disconnect', () => process.exit(0))

const transport = await createLibp2pTransport({
  listen: [`/ip4/${address}/tcp/${port}`],
  peers: peers.map((peer) => peer.startsWith('/') ? peer : `/ip4/${peer}/tcp/${port}`),
  psk: `/key/swarm/psk/1.0.0/\n/base16/\n${psk}\n`,
  ...(process.env.IDENTITY ? { identity: process.env.IDENTITY } : {}),
  ...(process.env.REDIAL === 'default' ? {} : { redialInterval: 100, maxRedialInterval: 500 }),
  ...(process.env.KEEPALIVE_MS ? { keepaliveInterval: Number(process.env.KEEPALIVE_MS) } : {}),
  ...(process.env.PEER_TIMEOUT_MS ? { peerTimeout: Number(process.env.PEER_TIMEOUT_MS) } : {}),
  ...(process.env.PROBE_MS ? { probeInterval: Number(process.env.PROBE_MS) } : {}),
  ...(process.env.MAX_PEERS ? { maxPeers: Number(process.env.MAX_PEERS) } : {}),
  ...(process.env.REGION && process.env.REGION_LINKS === '1' ? { region: process.env.REGION } : {}),
  ...(process.env.CROSS_LINKS ? { crossRegionLinks: Number(process.env.CROSS_LINKS) } : {}),
  ...(process.env.CROSS_COPIES === 'one' ? { crossRegionCopies: 'one' as const } : {}),
  // RELAY_MIN_PEERS turns on the gossipsub relay tier from that many peers
  ...(process.env.RELAY_MIN_PEERS ? { gossipsub: { minPeers: Number(process.env.RELAY_MIN_PEERS) } } : {}),
})
const cache = await createMeshCache<string>({ namespace: 'partition', transport, mode: process.env.MODE === 'invalidate' ? 'invalidate' : 'replicate', ttl: 10 * 60_000, ...(process.env.NODE_ID ? { nodeId: process.env.NODE_ID } : {}), ...(process.env.REGION ? { region: process.env.REGION } : {}) })

const peerErrors: string[] = []
const skews: ClockSkewEvent[] = []
cache.on('clockSkew', (event) => { skews.push(event); queueMicrotask(wake) })
transport.onPeerError((e) => { peerErrors.push(e.error.code); queueMicrotask(wake) })

/** Wakes every waiter after each applied change (once the value is stored). */
cache.on('change', (_: ChangeEvent) => queueMicrotask(wake))
cache.on('evict', () => queueMicrotask(wake))

/** This node's connections (peer, direction, remote address, its streams as protocol:i|o) and its gossipsub mesh peers in the namespace's topic. */
function links (): { self: string, connections: Array<{ peer: string, direction: string, addr: string, streams: string[] }>, mesh: string[] } {
  const connections = transport.libp2p.getConnections().map((c) => ({ peer: c.remotePeer.toString(), direction: c.direction, addr: c.remoteAddr.toString(), streams: c.streams.map((s) => `${s.protocol}:${s.direction[0]}`) }))
  const pubsub = (transport.libp2p.services as { pubsub?: { getMeshPeers (topic: string): unknown[] } }).pubsub
  return { self: transport.libp2p.peerId.toString(), connections, mesh: (pubsub?.getMeshPeers('/meshcache/1/partition') ?? []).map(String) }
}

process.on('message', async (request: Request) => {
  let value: unknown
  let at = now()
  switch (request.op) {
    case 'set': cache.set(request.key, request.value, request.dependsOn === undefined ? undefined : { dependsOn: request.dependsOn }); break
    case 'get': value = request.keys.map((key) => cache.get(key) ?? null); break
    case 'sync': cache.sync(); break
    case 'delete': cache.delete(request.key); break
    case 'inspect': value = request.keys.map((key) => cache.inspect(key) ?? null); break
    case 'origin': value = cache.origin; break
    case 'await-kind': at = await until(() => cache.inspect(request.key)?.kind === request.kind); break
    case 'load': value = await cache.getOrLoad(request.key, () => request.value, { dependsOn: request.dependsOn ?? [], tags: request.tags ?? [] }); break
    case 'invalidate': cache.invalidate(request.key); break
    case 'invalidate-tag': cache.invalidateTag(request.tag); break
    case 'await-missing': at = await until(() => request.keys.every((key) => cache.get(key) === undefined)); break
    case 'await-peers': at = await until(() => cache.connectedPeers().length >= request.count); break
    case 'await-members': at = await until(() => cache.peers().length >= request.count); break
    case 'transport-stats': value = transport.stats(); break
    case 'links': value = links(); break
    case 'peers': value = cache.peers(); break
    case 'set-replicated': cache.set(request.key, request.value); await cache.whenReplicated({ timeout: request.timeout }); at = now(); break
    case 'clear': cache.clear(); break
    case 'peer-errors': value = [...peerErrors]; break
    case 'clock-skew': value = { events: [...skews], clockAhead: cache.stats().clockAhead }; break
    case 'await-clock-skew': at = await until(() => skews.some((e) => e.seenIn === request.seenIn)); break
    case 'await-peer-error': at = await until(() => peerErrors.includes(request.code)); break
    case 'await-values': at = await until(() => Object.entries(request.expect).every(([k, v]) => cache.get(k) === v)); break
    case 'close': await cache.close(); await transport.close(); break
  }
  process.send?.({ id: request.id, value, at })
})
process.send?.({ ready: true, peerId: transport.peerId })
