/**
 * Options of `RedisTier` (and of `createMeshCache`'s `l2`), their defaults
 * and their validation: a bad option fails at construction with
 * E_INVALID_OPTION naming it.
 */
import { debuglog } from 'node:util'
import { invalidOption } from '../errors.ts'
import { optionNames, refuseUnknown } from '../core/suggest.ts'
import type { RedisConnection } from './redis-client.ts'
import { nodeRedis } from './node-redis.ts'

const log = debuglog('meshcache:redis')

export const DEFAULT_TIMEOUT_MS = 5
export const DEFAULT_TOMBSTONE_TTL_MS = 10_000
export const DEFAULT_FAILURE_THRESHOLD = 5
export const DEFAULT_PROBE_INTERVAL_MS = 1_000
export const DEFAULT_MAX_PENDING = 100_000
/** Delay before a failed write is retried while the breaker is still closed. */
const RETRY_MS = 50

export interface RedisTierOptions {
  /**
   * A node-redis client (`createClient`) or cluster (`createCluster`) you
   * own (connect it yourself, and give it an `error` listener: node-redis
   * emits one per failed reconnection), or a `redis://` URL, for which the
   * tier creates, connects and closes its own client.
   */
  redis: RedisConnection | string
  /** Prefix of every Redis key. @default `meshcache:<namespace>:` */
  prefix?: string
  /**
   * Milliseconds a value lives in Redis, at most the cache's `maxTtl` (so
   * the mesh's tombstones, kept a horizon past `maxTtl`, outlive every L2
   * copy they may need to refuse). @default the value's own ttl (as in L1)
   */
  ttl?: number
  /**
   * Milliseconds a tombstone lives in Redis. A load that began longer ago
   * than half of it fills nothing, and a write queued longer than it is sent
   * as a tombstone, so no refused old write outlives its guard. @default 10_000
   */
  tombstoneTtl?: number
  /** Milliseconds one Redis call may take, from when its command leaves, before it counts as failed. @default 5 */
  timeout?: number
  /** Failures in a row that open the circuit breaker. @default 5 */
  failureThreshold?: number
  /** Milliseconds between probes of an open breaker. @default 1_000 */
  probeInterval?: number
  /**
   * Keys whose writes may wait for Redis at once. Past it the queue is
   * dropped and, once Redis answers again, reads and fills stay off for the
   * longest lifetime an L2 value can have, so nothing written before the
   * lost writes can be read. @default 100_000
   */
  maxPending?: number
}

/** Every option name, for refusing unknown ones with a suggestion (`l2.tiemout`; a name left out fails to compile). */
export const REDIS_TIER_OPTION_NAMES = optionNames<RedisTierOptions>()([
  'redis', 'prefix', 'ttl', 'tombstoneTtl', 'timeout', 'failureThreshold', 'probeInterval', 'maxPending',
])

export interface ResolvedRedisTierOptions {
  connection: RedisConnection
  /** The tier made the client from a URL: it connects and closes it. */
  ownsConnection: boolean
  prefix: string | undefined
  ttl: number | undefined
  tombstoneTtl: number
  timeout: number
  failureThreshold: number
  probeInterval: number
  maxPending: number
}

export function resolveRedisTierOptions (options: RedisTierOptions): ResolvedRedisTierOptions {
  if (options === null || typeof options !== 'object') invalidOption('l2', 'must be an object with a `redis` client or URL')
  refuseUnknown(options, REDIS_TIER_OPTION_NAMES, 'l2.')
  if (options.prefix !== undefined && typeof options.prefix !== 'string') invalidOption('l2.prefix', `must be a string, got ${typeof options.prefix}`)
  // Every number is checked before a client is made: a refused option leaves nothing behind.
  const numbers = {
    ttl: options.ttl === undefined ? undefined : positive('l2.ttl', options.ttl, 0),
    tombstoneTtl: positive('l2.tombstoneTtl', options.tombstoneTtl, DEFAULT_TOMBSTONE_TTL_MS),
    timeout: positive('l2.timeout', options.timeout, DEFAULT_TIMEOUT_MS),
    failureThreshold: positive('l2.failureThreshold', options.failureThreshold, DEFAULT_FAILURE_THRESHOLD),
    probeInterval: positive('l2.probeInterval', options.probeInterval, DEFAULT_PROBE_INTERVAL_MS),
    maxPending: positive('l2.maxPending', options.maxPending, DEFAULT_MAX_PENDING),
  }
  const redis: unknown = options.redis
  let connection: RedisConnection
  let ownsConnection = false
  if (typeof redis === 'string') {
    if (!/^rediss?:\/\//.test(redis)) invalidOption('l2.redis', `must be a node-redis client or cluster, or a redis:// URL, got ${JSON.stringify(redis)}`)
    const client = nodeRedis.createClient({ url: redis })
    // node-redis emits an error per failed reconnection; unheard, it would crash the process.
    client.on('error', (error: unknown) => { log('redis client: %s', (error as Error)?.message) })
    connection = client as unknown as RedisConnection
    ownsConnection = true
  } else if (redis !== null && typeof redis === 'object' && typeof (redis as { sendCommand?: unknown }).sendCommand === 'function') {
    connection = redis as RedisConnection
    // Never connected, or closed: every call would fail, counted in l2Errors while the service ran on without L2.
    // (connect() opens at once, so a client still connecting, or reconnecting to a Redis that is down, is open.)
    if (connection.isOpen !== true) {
      invalidOption('l2.redis', 'is a client that is not connected: `await client.connect()` first (yours to connect and close), or give a redis:// URL for a client the tier owns')
    }
  } else {
    invalidOption('l2.redis', 'must be a node-redis client or cluster (createClient / createCluster), or a redis:// URL')
  }
  return { connection, ownsConnection, prefix: options.prefix, ...numbers }
}

function positive (name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) invalidOption(name, `must be a positive integer, got ${String(value)}`)
  return value
}
