/**
 * The delay proxy (test/helpers/delay-proxy.ts) that puts regions apart in
 * test/netns/regions.test.ts and bench:regions: over loopback, every byte
 * arrives in order and no earlier than the delay, both ways, and the end of
 * a stream is forwarded. Real time: the delay is what is tested (40 ms).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { once } from 'node:events'
import { createConnection, createServer, type Socket } from 'node:net'
import { startDelayProxy } from '../helpers/delay-proxy.ts'

const DELAY_MS = 40
const now = (): number => performance.now()

test('bytes cross the proxy in order, each no earlier than the delay one way, and the end follows', async () => {
  // An echo server: what comes back has crossed the proxy twice.
  const echo = createServer({ allowHalfOpen: true }, (socket) => { socket.pipe(socket) })
  echo.listen(0, '127.0.0.1')
  await once(echo, 'listening')
  const proxy = await startDelayProxy([{ listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: (echo.address() as { port: number }).port } }], DELAY_MS)
  let client: Socket | undefined
  try {
    client = createConnection({ host: '127.0.0.1', port: proxy.ports[0] as number, noDelay: true })
    await once(client, 'connect')
    const sent: number[] = []
    const received: Buffer[] = []
    const firstAt: number[] = []
    client.on('data', (chunk: Buffer) => { received.push(chunk); firstAt.push(now()) })
    const ended = once(client, 'end')
    // 200 numbered bytes in 20 writes, 2 ms apart: several are in flight in the proxy at once.
    for (let w = 0; w < 20; w++) {
      const bytes = Array.from({ length: 10 }, (_, i) => w * 10 + i)
      sent.push(now())
      client.write(Buffer.from(bytes))
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    client.end()
    await ended
    const all = Buffer.concat(received)
    assert.equal([...all], Array.from({ length: 200 }, (_, i) => i), 'every byte, in order')
    const roundTrip = (firstAt[0] as number) - (sent[0] as number)
    assert.ok(roundTrip >= 2 * DELAY_MS - 1, `the first byte came back after ${roundTrip.toFixed(1)} ms, under twice the ${DELAY_MS} ms delay`)
    const holds = proxy.takeHolds()
    assert.ok(holds.length >= 2, 'the proxy reports what it held')
    for (const h of holds) assert.ok(h >= DELAY_MS - 0.5, `a chunk was held ${h.toFixed(1)} ms`)
  } finally {
    client?.destroy()
    await proxy.close()
    echo.close()
  }
})

test('a negative delay is refused', async () => {
  try {
    await startDelayProxy([], -1)
    assert.unreachable('a negative delay was accepted')
  } catch (error) {
    assert.instance(error, TypeError)
    assert.match((error as Error).message, /delayMs/)
  }
})

test.run()
