/**
 * meshcache: coherent in-process caches across service instances.
 */
import { MeshCache } from './cache.ts'
import { createLibp2pTransport } from './net/libp2p/index.ts'
import { resolveOptions, type MeshCacheOptions } from './options.ts'
import type { Transport } from './net/transport.ts'
import { assertSupportedRuntime } from './core/runtime.ts'
import { toComponentLogger } from './observe/logger.ts'
import { asTier, type Tier } from './tiers/tier.ts'
import type { RedisTierOptions } from './tiers/redis-options.ts'

export { MeshCache, type SetOptions, type EntryView, type ChangeEvent, type FrameErrorEvent, type MeshCacheEvents, type MeshCacheEventPayloads, type PeerEvent } from './cache.ts'
export type { MeshCacheOptions, CacheMode } from './options.ts'
export type { CacheStats } from './observe/stats.ts'
export type { PropagationStats } from './observe/lag-histogram.ts'
export type { EvictEvent, EvictReason } from './core/store.ts'
export type { Transport, Channel, FrameHandler, TransportCounters } from './net/transport.ts'
export type { ValueCodec } from './value-codec.ts'
export type { PeerInfo, MemberState } from './sync/membership.ts'
export { createLibp2pTransport, generatePsk, generateIdentity, peerIdOf, type Libp2pTransport, type Libp2pTransportOptions } from './net/libp2p/index.ts'
export { jsonCodec, v8Codec, msgpackCodec, DEFAULT_CODEC, MSGPACK_OPTIONS, type CodecName, type Packr } from './value-codec.ts'
export type { MeshLogger } from './observe/logger.ts'
export type { PeerErrorEvent } from './net/transport.ts'
export { MeshCacheError, ErrorCode, type ErrorCodeValue } from './errors.ts'
export type { LoadFunction, LoadContext, LoadOptions } from './loading/loader.ts'
export type { ReadyOptions, TimeoutOptions } from './arguments.ts'
export { TAG_PREFIX, RESERVED_PREFIX } from './loading/tags.ts'
export type { Tier, TierHost, TierHit, TierFailure } from './tiers/tier.ts'
export type { RedisTierOptions } from './tiers/redis-options.ts'
export type { Source, ChangeSink } from './sources/source.ts'
export type { Exporter, ObservedCache, ObservedEvents } from './observe/exporter.ts'
export type { Audit, AuditOptions, AuditStats, StaleEvent } from './observe/audit.ts'
export type { ClockSkewEvent } from './observe/clock-skew.ts'

/** A tier object as it is (checked against the contract), or Redis options made into a RedisTier (loaded only then: the core never imports redis). */
async function resolveTier<V extends {}> (l2: RedisTierOptions | Tier<V>): Promise<Tier<V>> {
  const tier = asTier<V>(l2)
  if (tier !== undefined) return tier
  const { RedisTier } = await import('./tiers/redis.ts')
  return new RedisTier<V>(l2 as RedisTierOptions)
}

/**
 * Creates a cache and joins its namespace. Resolves once the transport is
 * joined; peers are then found and synced in the background.
 */
export async function createMeshCache<V extends {} = {}> (options: MeshCacheOptions<V>): Promise<MeshCache<V>> {
  assertSupportedRuntime()
  const resolved = resolveOptions(options)
  // Before any socket opens: a bad `l2` option fails here with nothing to close.
  if (options.l2 !== undefined) resolved.tier = await resolveTier(options.l2)
  let transport: Transport | undefined = options.transport
  const ownsTransport = transport === undefined
  if (transport === undefined) {
    transport = await createLibp2pTransport({
      listen: options.listen,
      peers: options.peers,
      psk: options.psk,
      identity: options.identity,
      gossipsub: options.gossipsub,
      maxPeers: options.maxPeers,
      // Region links (SPEC §11.4): they act only in a partial mesh (maxPeers) with a region.
      region: resolved.region,
      ...(options.logger !== undefined ? { logger: toComponentLogger(resolved.logger) } : {}),
    })
  }
  let cache: MeshCache<V>
  try {
    cache = new MeshCache<V>(resolved, transport, ownsTransport) // attaching the tier can refuse it (l2.ttl above maxTtl)
  } catch (error) {
    if (ownsTransport) await transport.close?.().catch(() => {})
    throw error
  }
  try {
    return await cache.start()
  } catch (error) {
    await cache.close().catch(() => {})
    throw error
  }
}
