/**
 * Free TCP ports on 127.0.0.1 for the servers and processes tests start
 * (the machine is shared: never a fixed port). One place for every helper
 * and bench that needs one.
 */
import { createServer } from 'node:net'

/** A TCP port free on 127.0.0.1 now (a fixed port lets a restarted process keep its address). */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Whether `port` on 127.0.0.1 can be listened on now. */
export function portFree (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}
