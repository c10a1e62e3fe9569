/**
 * Options of `createMeshCache`, their defaults and their validation. A bad
 * option fails at construction with E_INVALID_OPTION naming it.
 */
import { invalidOption } from './errors.ts'
import { optionNames, refuseUnknown } from './core/suggest.ts'
import type { Now } from './core/clock.ts'
import type { Transport } from './net/transport.ts'
import type { CodecName, ValueCodec } from './value-codec.ts'
import type { Tier } from './tiers/tier.ts'
import type { RedisTierOptions } from './tiers/redis-options.ts'
import { checkLogger, defaultLogger, type MeshLogger } from './observe/logger.ts'

const CODEC_NAMES: readonly string[] = ['v8', 'msgpack', 'json'] satisfies CodecName[]
import { DEFAULT_LIMITS, type DecodeLimits } from '../protocol/constants.ts'

export type CacheMode = 'invalidate' | 'replicate'

export interface MeshCacheOptions<V = unknown> {
  /** Caches coordinate only with caches of the same namespace. Required, 1–128 characters. */
  namespace: string
  /** Most values held at once; the least recently used goes first. @default 10_000 */
  max?: number | undefined
  /**
   * Milliseconds a value lives after its write. Every value expires: this is
   * the safety net when messages cannot get through. @default 60_000
   */
  ttl?: number | undefined
  /**
   * The largest `ttl` a single `set` may ask for. Tombstones are kept for
   * `maxTtl + maxClockSkew` (the horizon), so raising it costs memory.
   * @default the `ttl` option
   */
  maxTtl?: number | undefined
  /**
   * `'invalidate'`: a write elsewhere drops the local copy (the next read
   * misses and reloads). `'replicate'`: writes carry their values and every
   * instance holds the winning one. @default 'invalidate'
   */
  mode?: CacheMode | undefined
  /**
   * What carries frames between instances. @default a libp2p node built from
   * `listen`, `peers`, `psk`, `gossipsub` and `maxPeers` (and closed with the cache)
   */
  transport?: Transport | undefined
  /** Multiaddrs the default libp2p transport listens on. @default ['/ip4/127.0.0.1/tcp/0'] (loopback, random port) */
  listen?: string[] | undefined
  /** Multiaddrs (with `/p2p/<peer id>`) of nodes to bootstrap from; they are redialled after partitions. @default [] */
  peers?: string[] | undefined
  /** Pre-shared key (swarm.key v1 format, see `generatePsk()`) that makes the mesh private: nodes without it cannot connect. @default none */
  psk?: Uint8Array | string | undefined
  /** The gossipsub relay tier for large meshes (see `createLibp2pTransport`'s option of that name). @default false */
  gossipsub?: boolean | { minPeers?: number } | undefined
  /** A partial mesh past this many peers: bounded connections, writes spread over gossipsub (see `createLibp2pTransport`). @default Infinity */
  maxPeers?: number | undefined
  /** The clock, in epoch milliseconds. Injected by tests so TTL never needs sleeping. @default Date.now */
  now?: Now | undefined
  /** A stable name for this instance (shown to peers). A fresh incarnation is added at every start. @default random */
  nodeId?: string | undefined
  /**
   * Region label shown in `peers()`. With `maxPeers` (a partial mesh), the
   * default transport also shapes the mesh by it: links stay inside the
   * region and each region keeps a couple of links to the others (region
   * links, SPEC.md §11.4). @default ''
   */
  region?: string | undefined
  /**
   * How replicate mode turns values into bytes: `'msgpack'` (msgpackr with
   * records: Date, Map, Set, typed arrays, bigint, cycles), `'v8'` (the same
   * values through node:v8's structured clone), `'json'` (plain data only),
   * or a custom `ValueCodec`. A value the codec would
   * not bring back as it was (a class instance; for JSON also a Date, Map…)
   * is refused at `set` with E_VALUE_CODEC. Every instance of a namespace
   * must use the same codec. @default 'v8' (chosen by measurement, SPEC.md §12)
   */
  codec?: CodecName | ValueCodec<V> | undefined
  /**
   * This instance's libp2p private key (from `generateIdentity()`), so its
   * peer id, and the `/p2p/<id>` in its addresses, survive restarts.
   * @default a new identity at every start
   */
  identity?: Uint8Array | string | undefined
  /**
   * Where meshcache's diagnostics go: any logger with pino's shape
   * (`trace`/`debug`/`info`/`warn`/`error`, each `(obj?, msg)`). Also given
   * to the default libp2p transport. @default libp2p's `debug` logger (`DEBUG=meshcache*`)
   */
  logger?: MeshLogger | undefined
  /** The largest wall-clock difference tolerated between instances, in ms. @default 5_000 */
  maxClockSkew?: number | undefined
  /** Milliseconds between periodic anti-entropy rounds; 0 turns them off. @default 10_000 */
  syncInterval?: number | undefined
  /**
   * Milliseconds between announcements of this instance's sequence summary
   * (only when it wrote since the last one). Peers that missed the tail of
   * our updates notice within this time. @default 2_000
   */
  announceInterval?: number | undefined
  /** Milliseconds between sweeps of expired values and old tombstones. @default min(horizon / 4, 10_000) */
  gcInterval?: number | undefined
  /** Decoding limits for incoming frames. @default DEFAULT_LIMITS */
  limits?: Partial<DecodeLimits> | undefined
  /**
   * A shared second level below L1 (README "L1 + L2"): `{ redis, prefix?,
   * ttl?, … }` (`RedisTierOptions`, node-redis client, cluster or URL;
   * `redis` must be installed), or a tier object (a `RedisTier` from
   * `meshcache/redis`, or your own `Tier`). `getOrLoad` reads it on an L1
   * miss and fills it with loaded values; writes go through to it
   * asynchronously. Values are encoded with `codec` (JSON by default) in
   * either mode. @default none
   */
  l2?: RedisTierOptions | Tier<V> | undefined
}

export const DEFAULT_MAX = 10_000
export const DEFAULT_TTL = 60_000
export const DEFAULT_MAX_CLOCK_SKEW = 5_000
export const DEFAULT_SYNC_INTERVAL = 10_000
export const DEFAULT_ANNOUNCE_INTERVAL = 2_000
export const MAX_NODE_ID_LENGTH = 64
/** The largest `max`: lru-cache's slot indexes are 32-bit. */
export const MAX_ENTRIES = 2 ** 32 - 1

export interface ResolvedOptions<V> {
  namespace: string
  max: number
  ttl: number
  maxTtl: number
  mode: CacheMode
  now: Now
  nodeId: string
  region: string
  codec: CodecName | ValueCodec<V> | undefined
  logger: MeshLogger
  /** The `peers` option as given (for messages that say what was tried). */
  bootstrap: string[]
  maxClockSkew: number
  syncInterval: number
  announceInterval: number
  gcInterval: number
  /** maxTtl + maxClockSkew: how long a tombstone must outlive its write. */
  horizon: number
  limits: DecodeLimits
  /** True when `now` was injected: lru-cache must then read the clock on every access. */
  injectedClock: boolean
  /** The lower tier, built by createMeshCache from `l2`. */
  tier?: Tier<V> | undefined
}

function positiveInteger (name: string, value: unknown, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || (!allowZero && value === 0)) {
    invalidOption(name, `must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${String(value)}`)
  }
  return value
}

/** setTimeout's and setInterval's longest delay: Node turns a longer one into 1 ms, with a warning. */
const MAX_TIMER_MS = 2 ** 31 - 1

function interval (name: string, value: unknown, fallback: number, allowZero = false): number {
  const ms = positiveInteger(name, value, fallback, allowZero)
  if (ms > MAX_TIMER_MS) invalidOption(name, `must be at most ${MAX_TIMER_MS} ms (the longest timer Node can arm), got ${ms}`)
  return ms
}

function resolveLimits (value: unknown): DecodeLimits {
  if (value === undefined) return { ...DEFAULT_LIMITS }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) invalidOption('limits', `must be an object of limits, got ${String(value)}`)
  refuseUnknown(value as object, Object.keys(DEFAULT_LIMITS), 'limits.')
  const limits = { ...DEFAULT_LIMITS, ...(value as Partial<DecodeLimits>) }
  for (const [name, n] of Object.entries(limits)) positiveInteger(`limits.${name}`, n, 1)
  return limits
}

/** Every option name, for refusing unknown ones with a suggestion (a name left out fails to compile). */
export const OPTION_NAMES = optionNames<MeshCacheOptions>()([
  'namespace', 'max', 'ttl', 'maxTtl', 'mode', 'transport', 'listen', 'peers', 'psk', 'identity', 'gossipsub', 'maxPeers',
  'now', 'nodeId', 'region', 'codec', 'maxClockSkew', 'syncInterval', 'announceInterval', 'gcInterval', 'limits', 'logger', 'l2',
])

export function resolveOptions<V> (options: MeshCacheOptions<V>): ResolvedOptions<V> {
  if (options === null || typeof options !== 'object') invalidOption('options', 'must be an object')
  refuseUnknown(options, OPTION_NAMES)
  const { namespace } = options
  if (typeof namespace !== 'string' || namespace.length === 0 || namespace.length > 128) {
    invalidOption('namespace', 'must be a string of 1 to 128 characters')
  }
  const max = positiveInteger('max', options.max, DEFAULT_MAX)
  // lru-cache indexes its slots with at most 32 bits (it throws a RangeError past that).
  if (max > MAX_ENTRIES) invalidOption('max', `must be at most ${MAX_ENTRIES} (2^32 - 1), got ${max}`)
  const ttl = positiveInteger('ttl', options.ttl, DEFAULT_TTL)
  const maxTtl = positiveInteger('maxTtl', options.maxTtl, ttl)
  if (maxTtl < ttl) invalidOption('maxTtl', `(${maxTtl}) must be at least \`ttl\` (${ttl})`)
  const mode = options.mode ?? 'invalidate'
  if (mode !== 'invalidate' && mode !== 'replicate') invalidOption('mode', `must be 'invalidate' or 'replicate', got ${String(mode)}`)
  if (options.now !== undefined && typeof options.now !== 'function') invalidOption('now', 'must be a function returning epoch milliseconds')
  const nodeId = options.nodeId ?? Math.random().toString(36).slice(2, 10)
  if (typeof nodeId !== 'string' || !/^[\w.:-]{1,64}$/.test(nodeId)) {
    invalidOption('nodeId', `must be 1 to ${MAX_NODE_ID_LENGTH} characters of [A-Za-z0-9_.:-]`)
  }
  const region = options.region ?? ''
  if (typeof region !== 'string' || region.length > 64) invalidOption('region', 'must be a string of at most 64 characters')
  const codec = options.codec
  if (typeof codec === 'string') {
    if (!CODEC_NAMES.includes(codec)) invalidOption('codec', `must be ${CODEC_NAMES.map((n) => `'${n}'`).join(', ')} or a codec object, got ${JSON.stringify(codec)}`)
  } else if (codec !== undefined && (typeof codec?.encode !== 'function' || typeof codec?.decode !== 'function')) {
    invalidOption('codec', 'must have encode(value) and decode(bytes) functions')
  }
  if (typeof codec === 'object' && codec?.copyInput !== undefined && typeof codec.copyInput !== 'boolean') invalidOption('codec', 'copyInput must be a boolean')
  if (codec !== undefined && mode !== 'replicate' && options.l2 === undefined) invalidOption('codec', "only applies to mode 'replicate' or with `l2`")
  if (options.l2 !== undefined && (options.l2 === null || typeof options.l2 !== 'object')) invalidOption('l2', 'must be an object: { redis, prefix?, ttl? } or a tier (RedisTier)')
  const maxClockSkew = positiveInteger('maxClockSkew', options.maxClockSkew, DEFAULT_MAX_CLOCK_SKEW, true)
  const syncInterval = interval('syncInterval', options.syncInterval, DEFAULT_SYNC_INTERVAL, true)
  const announceInterval = interval('announceInterval', options.announceInterval, DEFAULT_ANNOUNCE_INTERVAL)
  const horizon = maxTtl + maxClockSkew
  const gcInterval = interval('gcInterval', options.gcInterval, Math.max(1, Math.min(Math.floor(horizon / 4), 10_000)))
  const limits = resolveLimits(options.limits)
  if (options.transport !== undefined && typeof options.transport?.join !== 'function') {
    invalidOption('transport', 'must implement join(namespace, handler)')
  }
  const logger = checkLogger(options.logger) ?? defaultLogger('meshcache')
  if (options.transport !== undefined) {
    for (const name of ['listen', 'peers', 'psk', 'identity', 'gossipsub', 'maxPeers'] as const) {
      if (options[name] !== undefined) invalidOption(name, 'configures the default libp2p transport and cannot be combined with `transport`')
    }
  }
  return {
    namespace,
    max,
    ttl,
    maxTtl,
    mode,
    now: options.now ?? Date.now,
    nodeId,
    region,
    codec,
    logger,
    bootstrap: Array.isArray(options.peers) ? [...options.peers] : [],
    maxClockSkew,
    syncInterval,
    announceInterval,
    gcInterval,
    horizon,
    limits,
    injectedClock: options.now !== undefined,
  }
}
