/** A TCP proxy on 127.0.0.1 that a test can cut (every connection reset, new ones refused) and restore. */
import { createConnection, createServer, type Socket } from 'node:net'

export interface TcpProxy {
  readonly port: number
  /** Resets every connection through the proxy and drops new ones until `restore()`. */
  cut (): void
  restore (): void
  close (): Promise<void>
}

export async function startTcpProxy (targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  let open = true
  const server = createServer((client) => {
    if (!open) {
      client.resetAndDestroy()
      return
    }
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort })
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => { client.destroy(); upstream.destroy() })
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    port,
    cut () {
      open = false
      for (const s of sockets) s.resetAndDestroy()
    },
    restore () { open = true },
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy()
      server.close(() => resolve())
    }),
  }
}
