/**
 * A tiny TCP agent for netns.test.ts, run inside a lab namespace with an IPC
 * channel. `server HOST PORT`: echoes lines, sends { listening } when bound.
 * `client`: answers requests (AgentRequest) with AgentReply. Exits when the
 * IPC channel closes.
 */
import net from 'node:net'

export type AgentRequest =
  /** Sends `token` on connection `conn` (opened on first use) and waits for it to come back. */
  | { id: number, op: 'echo', conn: string, host: string, port: number, token: string, timeoutMs: number }
  /** Waits for an earlier token to come back on `conn` (after a heal, say). */
  | { id: number, op: 'await', conn: string, token: string, timeoutMs: number }
  | { id: number, op: 'close', conn: string }

export type AgentReply =
  | { id: number, ok: true, ms: number }
  | { id: number, ok: false, error: string }

process.on('disconnect', () => process.exit(0))
const [role, host, port] = process.argv.slice(2)

if (role === 'server') {
  const server = net.createServer((socket) => socket.pipe(socket))
  server.listen(Number(port), host, () => process.send?.({ listening: true }))
} else {
  client()
}

function client(): void {
  interface Conn { socket: net.Socket, seen: Set<string>, waiters: Map<string, () => void>, failed?: string }
  const conns = new Map<string, Conn>()

  const open = (name: string, host: string, port: number): Conn => {
    let conn = conns.get(name)
    if (conn) return conn
    const socket = net.connect(port, host)
    socket.setNoDelay(true)
    const created: Conn = { socket, seen: new Set(), waiters: new Map() }
    conn = created
    let buffered = ''
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const token = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        created.seen.add(token)
        created.waiters.get(token)?.()
      }
    })
    const fail = (why: string): void => {
      created.failed ??= why
      conns.delete(name)
      for (const wake of created.waiters.values()) wake()
    }
    socket.on('error', (error) => fail(error.message))
    socket.on('close', () => fail('closed'))
    conns.set(name, conn)
    return conn
  }

  const wait = (conn: Conn, token: string, timeoutMs: number): Promise<string | undefined> => new Promise((resolve) => {
    const started = performance.now()
    let timer: NodeJS.Timeout | undefined
    const settle = (): void => {
      clearTimeout(timer)
      conn.waiters.delete(token)
      resolve(conn.seen.has(token) ? undefined : conn.failed ?? 'closed')
    }
    if (conn.seen.has(token) || conn.failed) return settle()
    timer = setTimeout(() => {
      conn.waiters.delete(token)
      resolve(`timeout after ${Math.round(performance.now() - started)} ms`)
    }, timeoutMs)
    conn.waiters.set(token, settle)
  })

  process.on('message', async (request: AgentRequest) => {
    const started = performance.now()
    let error: string | undefined
    if (request.op === 'echo') {
      const conn = open(request.conn, request.host, request.port)
      conn.socket.write(`${request.token}\n`)
      error = await wait(conn, request.token, request.timeoutMs)
    } else if (request.op === 'await') {
      const conn = conns.get(request.conn)
      error = conn ? await wait(conn, request.token, request.timeoutMs) : 'no such connection'
    } else {
      conns.get(request.conn)?.socket.destroy()
    }
    const reply: AgentReply = error === undefined
      ? { id: request.id, ok: true, ms: performance.now() - started }
      : { id: request.id, ok: false, error }
    process.send?.(reply)
  })
  process.send?.({ listening: true })
}
