/**
 * One redis-server and one connected client for a whole uvu suite: started
 * before its first test, flushed (and the suite's caches closed) after each,
 * stopped after its last. For the suites that run MeshCache over a real L2.
 */
import { createClient } from 'redis'
import type { Test } from 'uvu'
import { startRedis, type RedisServer, type StartRedisOptions } from './redis.ts'

export interface RedisSuite {
  readonly server: RedisServer
  readonly client: ReturnType<typeof createClient>
  /** Closed after each test. */
  readonly caches: Array<{ close (): Promise<void> }>
}

export function redisSuite (test: Test, options: StartRedisOptions = {}): RedisSuite {
  const lab = { caches: [] } as unknown as { server: RedisServer, client: ReturnType<typeof createClient>, caches: Array<{ close (): Promise<void> }> }
  test.before(async () => {
    lab.server = await startRedis(options)
    lab.client = createClient({ url: lab.server.url })
    lab.client.on('error', () => {}) // reconnection errors while a test has the server down
    await lab.client.connect()
  })
  test.after.each(async () => {
    for (const c of lab.caches.splice(0)) await c.close()
    await lab.client.sendCommand(['FLUSHALL'])
  })
  test.after(async () => {
    lab.client?.destroy()
    await lab.server?.stop()
  })
  return lab
}
