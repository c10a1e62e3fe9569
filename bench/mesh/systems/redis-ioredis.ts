/**
 * Redis pub/sub through ioredis, the client Bentocache's Redis bus uses
 * (@boringnode/bus): the same redis-server setup as `redis`, with a client
 * library's own cost on both ends instead of the minimal RESP client. Context
 * for the `redis` row, which stays the stricter baseline of issue 3's target.
 * Not in the default run: `npm run bench:mesh -- --systems redis,redis-ioredis,meshcache`.
 */
import { Redis } from 'ioredis'
import { system as redis } from './redis.ts'
import { keyOf, seqOf, type System } from './types.ts'

const CHANNEL = 'meshcache-bench'

interface RedisConfig { port: number }

export const system: System = {
  ...redis,
  name: 'redis-ioredis',
  async node(ctx) {
    const { port } = ctx.config as RedisConfig
    const client = new Redis({ port, host: '127.0.0.1', noDelay: true, lazyConnect: true })
    await client.connect()
    if (ctx.role === 'writer') {
      return {
        publish(seq) {
          void client.publish(CHANNEL, keyOf(seq))
          return undefined
        },
        async close() { client.disconnect() },
      }
    }
    client.on('message', (_channel: string, key: string) => ctx.received(seqOf(key)))
    await client.subscribe(CHANNEL)
    return {
      async close() { client.disconnect() },
    }
  },
}
