/**
 * Redis pub/sub, what Redis-bus caches (Bentocache and the like) use: the
 * writer PUBLISHes each invalidated key on one channel, every receiver holds a
 * SUBSCRIBE connection. redis-server runs locally for the run only, on a free
 * loopback port, without persistence, in a temporary directory.
 *
 * The pub/sub output buffer limit is lifted so that saturation measures
 * throughput rather than Redis disconnecting a slow subscriber (the default
 * limit would drop it at 8-32 MB of backlog).
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { freePort } from '../../../test/helpers/ports.ts'
import { own, stop } from '../owned.ts'
import { command, RespReader } from './resp.ts'
import { keyOf, seqOf, type NodeContext, type NodeHandle, type System } from './types.ts'

const CHANNEL = 'meshcache-bench'
const READY = /Ready to accept connections/

interface RedisConfig { port: number }

export const system: System = {
  name: 'redis',
  async unavailable() {
    const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
    return probe.error ? 'redis-server not found (apt-get install redis-server)' : undefined
  },
  async setup() {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'meshcache-bench-redis-'))
    let lastError: unknown
    // The free port can be taken between probing and binding; try a few.
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort()
      const server = own(spawn('redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--client-output-buffer-limit', 'pubsub 0 0 0', '--dir', dir,
      ], { stdio: ['ignore', 'pipe', 'pipe'] }))
      try {
        await ready(server)
        const config: RedisConfig = { port }
        return {
          config,
          async close() {
            await stop(server)
            await rm(dir, { recursive: true, force: true })
          },
        }
      } catch (error) {
        lastError = error
        await stop(server)
      }
    }
    await rm(dir, { recursive: true, force: true })
    throw new Error('redis-server did not start', { cause: lastError })
  },
  async node(ctx) {
    const { port } = ctx.config as RedisConfig
    const socket = await connect(port)
    return ctx.role === 'writer' ? writer(socket) : receiver(ctx, socket)
  },
}

function ready(server: ReturnType<typeof spawn>): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = ''
    const onData = (chunk: Buffer): void => {
      log += chunk.toString()
      if (READY.test(log)) {
        server.stdout?.off('data', onData)
        server.stdout?.resume()
        resolve()
      }
    }
    server.stdout?.on('data', onData)
    server.stderr?.on('data', (chunk: Buffer) => { log += chunk.toString() })
    server.once('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${log}`)))
    server.once('error', reject)
  })
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket))
    socket.setNoDelay(true)
    socket.once('error', reject)
  })
}

function writer(socket: net.Socket): NodeHandle {
  // PUBLISH replies (the subscriber count) are read and dropped.
  socket.resume()
  return {
    publish(seq) {
      if (socket.write(command('PUBLISH', CHANNEL, keyOf(seq)))) return undefined
      return new Promise((resolve) => socket.once('drain', () => resolve()))
    },
    async close() {
      await new Promise<void>((resolve) => socket.end(resolve))
    },
  }
}

async function receiver(ctx: NodeContext, socket: net.Socket): Promise<NodeHandle> {
  const reader = new RespReader()
  let subscribed: () => void = () => {}
  const confirmed = new Promise<void>((resolve) => { subscribed = resolve })
  socket.on('data', (chunk: Buffer) => reader.feed(chunk, (value) => {
    if (!Array.isArray(value)) return
    if (value[0] === 'message' && typeof value[2] === 'string') {
      ctx.received(seqOf(value[2]))
    } else if (value[0] === 'subscribe') {
      subscribed()
    }
  }))
  socket.write(command('SUBSCRIBE', CHANNEL))
  await confirmed
  return {
    async close() {
      socket.destroy()
    },
  }
}
