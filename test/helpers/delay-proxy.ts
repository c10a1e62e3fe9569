/**
 * A user-space TCP proxy that adds a fixed one-way latency (test and bench
 * code: the kernel here has no netem, see issue 21 §2).
 *
 * Each route listens on `listen` and forwards every connection to `target`.
 * Every chunk read from one side is written to the other `delayMs` later, in
 * order (the delay is constant, so a FIFO per direction keeps the order), and
 * so is the end of the stream. The TCP handshake itself is not delayed (the
 * proxy accepts at once and connects upstream at once); what a protocol on
 * top sends is. A reset or error on one side destroys both at once; a clean
 * end is forwarded after the data before it.
 *
 * Run in a network namespace as a script (`node delay-proxy.ts ROUTES_JSON`):
 * it reports `{ ready: true }` over IPC once every route listens.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net'

export interface DelayRoute {
  listen: { host: string, port: number }
  target: { host: string, port: number }
}

export interface DelayProxy {
  /** The bound ports, one per route, in order (a route asking port 0 gets a free one). */
  readonly ports: readonly number[]
  /**
   * How long each chunk was really held (ms from read to write; a timer fires
   * late on a loaded machine), since the last call: the link as delivered.
   */
  takeHolds (): number[]
  /** Connections through the proxy now (each is two sockets). */
  connections (): number
  close (): Promise<void>
}

/** Writes what `from` reads into `to`, each chunk `delayMs` later, in order; ends `to` `delayMs` after `from` ends. */
function delayedPipe (from: Socket, to: Socket, delayMs: number, sink: { holds: number[] }): void {
  const queue: Array<{ at: number, chunk: Buffer | null }> = []
  let timer: NodeJS.Timeout | undefined
  const flush = (): void => {
    timer = undefined
    const now = performance.now()
    while (queue.length > 0 && (queue[0] as { at: number }).at <= now + 0.5) {
      const { at, chunk } = queue.shift() as { at: number, chunk: Buffer | null }
      if (to.destroyed) return
      if (chunk === null) to.end()
      else to.write(chunk)
      if (sink.holds.length < MAX_HOLDS) sink.holds.push(performance.now() - at + delayMs)
    }
    schedule()
  }
  const schedule = (): void => {
    if (timer !== undefined || queue.length === 0) return
    timer = setTimeout(flush, Math.max(0, (queue[0] as { at: number }).at - performance.now()))
  }
  const push = (chunk: Buffer | null): void => {
    queue.push({ at: performance.now() + delayMs, chunk })
    if (delayMs === 0) flush()
    else schedule()
  }
  from.on('data', (chunk: Buffer) => { push(chunk) })
  from.on('end', () => { push(null) })
  to.on('close', () => { if (timer !== undefined) clearTimeout(timer) })
}

/** Hold times kept between two `takeHolds` calls at most. */
const MAX_HOLDS = 100_000

export async function startDelayProxy (routes: readonly DelayRoute[], delayMs: number): Promise<DelayProxy> {
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new TypeError(`delay-proxy: delayMs must be ≥ 0, got ${delayMs}`)
  const sockets = new Set<Socket>()
  const servers: Server[] = []
  const ports: number[] = []
  const sink = { holds: [] as number[] }
  for (const route of routes) {
    const server = createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
      const upstream = createConnection({ host: route.target.host, port: route.target.port, noDelay: true, allowHalfOpen: true })
      for (const s of [client, upstream]) {
        sockets.add(s)
        // A clean close is forwarded as a (delayed) end, after the data still held; only an error or reset tears both down.
        s.on('close', (hadError) => { sockets.delete(s); if (hadError) { client.destroy(); upstream.destroy() } })
        s.on('error', () => { client.destroy(); upstream.destroy() })
      }
      delayedPipe(client, upstream, delayMs, sink)
      delayedPipe(upstream, client, delayMs, sink)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(route.listen.port, route.listen.host, resolve)
    })
    servers.push(server)
    ports.push((server.address() as { port: number }).port)
  }
  return {
    ports,
    connections: () => Math.floor(sockets.size / 2),
    takeHolds () {
      const taken = sink.holds
      sink.holds = []
      return taken
    },
    close: async () => {
      for (const s of sockets) s.destroy()
      await Promise.all(servers.map(async (server) => await new Promise<void>((resolve) => server.close(() => { resolve() }))))
    }
  }
}

// As a script: routes as JSON in argv[2], delay in argv[3]; stays up until the parent goes.
if (import.meta.url === `file://${process.argv[1]}`) {
  const routes = JSON.parse(process.argv[2] ?? '[]') as DelayRoute[]
  const proxy = await startDelayProxy(routes, Number(process.argv[3] ?? '0'))
  process.on('disconnect', () => { void proxy.close().then(() => process.exit(0)) })
  process.on('message', (request: { op?: string }) => {
    if (request.op === 'holds') process.send?.({ holds: proxy.takeHolds(), connections: proxy.connections() })
  })
  process.send?.({ ready: true, ports: proxy.ports })
}
