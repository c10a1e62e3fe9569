/**
 * Real redis-server processes for tests, examples and benches: each on a
 * free loopback port, in its own temporary directory, stopped by `stop()`
 * (and killed when this process exits, also on failure).
 *
 * `startRedis()` gives one server that can be killed and restarted on the
 * same port and directory (with `persist`, its data survives the restart, as a
 * real outage with an append-only file would), or paused with SIGSTOP (a hung
 * server: connections stay open, nothing answers). `startRedisCluster()`
 * builds a Redis Cluster of masters with `redis-cli --cluster create`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { freePort, portFree } from './ports.ts'

const READY = /Ready to accept connections/
/** A failure guard for a server's start, not a wait: it resolves on the READY line. */
const START_GUARD_MS = 15_000

export interface RedisServer {
  port: number
  url: string
  /** The running server's pid (changes after `restart`). */
  readonly pid: number
  /** SIGKILL: the server dies at once, clients see their connections reset. */
  kill (): Promise<void>
  /** Starts the server again on the same port and directory (after `kill`). */
  restart (): Promise<void>
  /** SIGSTOP: the server hangs, connections stay open, nothing answers. */
  pause (): void
  /** SIGCONT after `pause`. */
  resume (): void
  stop (): Promise<void>
}

export interface StartRedisOptions {
  /** Keep data across `kill`/`restart` (append-only file, fsync always). @default false */
  persist?: boolean
  /** Extra `redis-server` arguments. */
  args?: string[]
  /** A fixed port (else a free one). */
  port?: number
}

const live = new Set<ChildProcess>()
process.once('exit', () => { for (const p of live) p.kill('SIGKILL') })

export function redisAvailable (): boolean {
  return spawnSync('redis-server', ['--version']).error === undefined
}

async function launch (port: number, dir: string, args: string[]): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  child.once('exit', () => live.delete(child))
  let log = ''
  const ready = new Promise<void>((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`redis-server on port ${port} did not start within ${START_GUARD_MS} ms:\n${log}`)), START_GUARD_MS)
    const onData = (chunk: Buffer): void => {
      log += chunk.toString()
      if (READY.test(log)) {
        clearTimeout(guard)
        child.stdout?.off('data', onData)
        child.stdout?.resume()
        resolve()
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', (chunk: Buffer) => { log += chunk.toString() })
    child.once('exit', (code) => { clearTimeout(guard); reject(new Error(`redis-server on port ${port} exited (${code}):\n${log}`)) })
    child.once('error', (error) => { clearTimeout(guard); reject(error) })
  })
  try {
    await ready
  } catch (error) {
    await killProcess(child)
    throw error
  }
  child.stderr?.resume()
  return child
}

async function killProcess (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGCONT')
  child.kill('SIGKILL')
  await exited
}

/** One redis-server on a free loopback port, no persistence unless asked. */
export async function startRedis (options: StartRedisOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'l2-redis-'))
  const args = options.persist === true
    ? ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always', ...(options.args ?? [])]
    : ['--save', '', '--appendonly', 'no', ...(options.args ?? [])]
  let child: ChildProcess | undefined
  let port = options.port ?? 0
  let lastError: unknown
  // A probed free port can be taken before redis binds it: try a few.
  for (let attempt = 0; attempt < 3 && child === undefined; attempt++) {
    if (options.port === undefined) port = await freePort()
    try {
      child = await launch(port, dir, args)
    } catch (error) {
      lastError = error
    }
  }
  if (child === undefined) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error('redis-server did not start', { cause: lastError })
  }
  let current: ChildProcess = child
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid () { return current.pid as number },
    kill: () => killProcess(current),
    async restart () {
      current = await launch(port, dir, args)
    },
    pause () { current.kill('SIGSTOP') },
    resume () { current.kill('SIGCONT') },
    async stop () {
      await killProcess(current)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export interface RedisCluster {
  /** One `{ url }` per master, for `createCluster({ rootNodes })`. */
  rootNodes: Array<{ url: string }>
  ports: number[]
  stop (): Promise<void>
}

/**
 * A Redis Cluster of `masters` masters (no replicas) on loopback. Each node
 * also listens on its cluster bus port, port + 10000, so ports are drawn
 * where both are free (and below 55536, so the bus port exists).
 */
export async function startRedisCluster (masters = 3): Promise<RedisCluster> {
  const dirs: string[] = []
  const nodes: ChildProcess[] = []
  const ports: number[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map(killProcess))
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  }
  try {
    while (ports.length < masters) {
      const port = 20_000 + Math.floor(Math.random() * 35_000)
      if (ports.includes(port) || !(await portFree(port)) || !(await portFree(port + 10_000))) continue
      const dir = mkdtempSync(path.join(os.tmpdir(), 'l2-redis-cluster-'))
      dirs.push(dir)
      try {
        nodes.push(await launch(port, dir, ['--save', '', '--appendonly', 'no', '--cluster-enabled', 'yes',
          '--cluster-config-file', path.join(dir, 'nodes.conf'), '--cluster-node-timeout', '5000']))
        ports.push(port)
      } catch {
        // Taken meanwhile: draw another.
      }
    }
    const create = spawn('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    create.stdout?.on('data', (c: Buffer) => { out += c.toString() })
    create.stderr?.on('data', (c: Buffer) => { out += c.toString() })
    const [code] = await once(create, 'exit') as [number]
    if (code !== 0 || !out.includes('All 16384 slots covered')) throw new Error(`redis-cli --cluster create failed (${code}):\n${out}`)
    await waitClusterOk(ports)
  } catch (error) {
    await stop()
    throw error
  }
  return { rootNodes: ports.map((p) => ({ url: `redis://127.0.0.1:${p}` })), ports, stop }
}

/** Every node reports cluster_state:ok (the nodes agree on the slots only after gossip). */
async function waitClusterOk (ports: number[]): Promise<void> {
  const deadline = Date.now() + START_GUARD_MS
  for (const port of ports) {
    for (;;) {
      const info = spawnSync('redis-cli', ['-p', String(port), 'cluster', 'info'], { encoding: 'utf8' }).stdout
      if (info.includes('cluster_state:ok')) break
      if (Date.now() > deadline) throw new Error(`cluster node ${port} not ok:\n${info}`)
      // Polling a server's state: there is no event to wait on from outside it.
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}
