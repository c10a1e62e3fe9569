/**
 * The few Redis calls the tier makes, over a node-redis client
 * (`createClient`) or cluster (`createCluster`), whichever the user has. Only
 * `sendCommand` is used, whose shape differs between the two; everything
 * else (routing by slot in Cluster, reconnection) is node-redis's.
 */
import type { RedisClientType, RedisClusterType } from 'redis'
import { nodeRedis } from './node-redis.ts'
import { WRITE_SCRIPT, WRITE_SCRIPT_SHA } from './redis-record.ts'

/**
 * A node-redis client (`createClient`) or cluster (`createCluster`), of any
 * modules, scripts or RESP version: typed by the one method the tier calls,
 * since node-redis' generic types of the two do not unify.
 */
export interface RedisConnection {
  sendCommand (...args: any[]): Promise<unknown>
  readonly isOpen: boolean
  connect (): Promise<unknown>
  close (): Promise<void>
  destroy (): void
}

/**
 * Bulk strings as Buffers: records are bytes, and a value's codec may not be
 * UTF-8. `timeout: 0` turns off node-redis's own per-command timeout (5 s by
 * default, an AbortSignal.timeout per command): the tier times its calls
 * itself (breaker.ts Deadlines), with one timer for all of them.
 */
const AS_BUFFERS = { typeMapping: { [nodeRedis.RESP_TYPES.BLOB_STRING]: Buffer }, timeout: 0 } as const

export class RedisCalls {
  readonly #send: (key: string | undefined, args: Array<string | Buffer>, readonly: boolean) => Promise<unknown>
  readonly cluster: boolean
  /** Whether the server has the script cached (EVALSHA works); reset by a NOSCRIPT answer. */
  #scriptLoaded = false

  constructor (connection: RedisConnection) {
    this.cluster = isCluster(connection)
    if (this.cluster) {
      const c = connection as RedisClusterType<any, any, any, any, any>
      this.#send = (key, args, readonly) => c.sendCommand(key, readonly, args, AS_BUFFERS)
    } else {
      const c = connection as RedisClientType<any, any, any, any, any>
      this.#send = (_key, args) => c.sendCommand(args, AS_BUFFERS)
    }
  }

  async get (key: string): Promise<Buffer | null> {
    return await this.#send(key, ['GET', key], true) as Buffer | null
  }

  /** The conditional write (redis-record.ts WRITE_SCRIPT): 1 stored, 0 refused. */
  async write (key: string, record: Buffer, ttlMs: number): Promise<number> {
    const args = [key, record, String(ttlMs)]
    if (this.#scriptLoaded) {
      try {
        return Number(await this.#send(key, ['EVALSHA', WRITE_SCRIPT_SHA, '1', ...args], false))
      } catch (error) {
        // A restarted server, a failover, or a Cluster node never sent EVAL: load it again.
        if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw error
        this.#scriptLoaded = false
      }
    }
    const stored = Number(await this.#send(key, ['EVAL', WRITE_SCRIPT, '1', ...args], false))
    // In Cluster each node caches scripts for itself; NOSCRIPT from a node that has not seen it falls back here.
    this.#scriptLoaded = true
    return stored
  }

  /** A fill: stored only where the key holds nothing (SET NX). */
  async fill (key: string, record: Buffer, ttlMs: number): Promise<boolean> {
    const reply = await this.#send(key, ['SET', key, record, 'PX', String(ttlMs), 'NX'], false)
    return reply !== null
  }

  async ping (): Promise<void> {
    await this.#send(undefined, ['PING'], true)
  }

  /**
   * Deletes every key starting with `prefix` (SCAN + UNLINK on each master,
   * in batches): clear()'s best effort; readers do not depend on it.
   */
  async deletePrefix (connection: RedisConnection, prefix: string): Promise<number> {
    const masters: Array<RedisClientType<any, any, any, any, any>> = []
    if (this.cluster) {
      const c = connection as RedisClusterType<any, any, any, any, any>
      for (const m of c.masters) masters.push(await c.nodeClient(m) as RedisClientType<any, any, any, any, any>)
    } else {
      masters.push(connection as RedisClientType<any, any, any, any, any>)
    }
    let deleted = 0
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`
    for (const m of masters) {
      let cursor = '0'
      do {
        const [next, keys] = await m.sendCommand(['SCAN', cursor, 'MATCH', pattern, 'COUNT', '1000']) as [string, string[]]
        cursor = String(next)
        // One UNLINK per key: keys of one batch may lie in different slots of this master.
        for (const k of keys) deleted += Number(await m.sendCommand(['UNLINK', k]))
      } while (cursor !== '0')
    }
    return deleted
  }
}

export function isCluster (connection: unknown): boolean {
  return typeof connection === 'object' && connection !== null && 'masters' in connection && 'nodeClient' in connection
}
