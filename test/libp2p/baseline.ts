/**
 * Same-run baselines for measure.ts (not part of `npm test`; bench/mesh is
 * the real comparative benchmark): one writer fans timed 64-byte messages out
 * to n-1 receiver processes over (a) plain TCP, one socket per receiver, and
 * (b) Redis pub/sub through a local redis-server on 127.0.0.1:6379.
 *
 *   ./node_modules/.bin/node test/libp2p/baseline.ts tcp|redis [nodes=5] [rate=1000] [seconds=5]
 */
import { fork } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { percentile } from './procs.ts'

const now = (): number => performance.timeOrigin + performance.now()
const MSG = 64

function resp (...args: string[]): string {
  return `*${args.length}\r\n` + args.map(a => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')
}

if (process.argv[2] === 'receiver') {
  const mode = process.argv[3]
  const latencies: number[] = []
  const onMessage = (buf: Buffer): void => { latencies.push(now() - buf.readDoubleLE(0)) }
  if (mode === 'tcp') {
    const server = net.createServer(sock => {
      sock.setNoDelay(true)
      let pending = Buffer.alloc(0)
      sock.on('data', d => {
        pending = pending.length === 0 ? d : Buffer.concat([pending, d])
        while (pending.length >= MSG) { onMessage(pending.subarray(0, MSG)); pending = pending.subarray(MSG) }
      })
    })
    server.listen(0, '127.0.0.1', () => { process.send?.({ ready: (server.address() as net.AddressInfo).port }) })
  } else {
    const sock = net.connect(6379, '127.0.0.1', () => { sock.write(resp('SUBSCRIBE', 'bench')) })
    sock.setNoDelay(true)
    let pending = Buffer.alloc(0)
    let subscribed = false
    sock.on('data', d => {
      pending = pending.length === 0 ? d : Buffer.concat([pending, d])
      // messages are *3 $7 message $5 bench $64 <payload>; payload is hex (binary-safe enough)
      for (;;) {
        const text = pending.toString('latin1')
        const m = /^\*3\r\n\$(\d+)\r\n(\w+)\r\n\$\d+\r\nbench\r\n(?::(\d+)|\$(\d+)\r\n)/.exec(text)
        if (m === null) break
        const head = m[0].length
        if (m[2] === 'subscribe') {
          pending = pending.subarray(head + 2)
          if (!subscribed) { subscribed = true; process.send?.({ ready: 0 }) }
          continue
        }
        const len = Number(m[4])
        if (pending.length < head + len + 2) break
        onMessage(Buffer.from(pending.subarray(head, head + len).toString('latin1'), 'hex'))
        pending = pending.subarray(head + len + 2)
      }
    })
  }
  process.on('message', () => { process.send?.({ latencies: latencies.splice(0) }) })
  process.on('disconnect', () => process.exit(0))
} else {
  const mode = process.argv[2] ?? 'tcp'
  const [nodes = 5, rate = 1000, seconds = 5] = process.argv.slice(3).map(Number)
  const self = fileURLToPath(import.meta.url)
  const children = await Promise.all(Array.from({ length: nodes - 1 }, async () => {
    const child = fork(self, ['receiver', mode], { execPath: process.execPath })
    const port = await new Promise<number>(resolve => child.once('message', (m: any) => { resolve(m.ready) }))
    return { child, port }
  }))
  const sockets: net.Socket[] = []
  if (mode === 'tcp') {
    for (const c of children) {
      const s = net.connect(c.port, '127.0.0.1')
      s.setNoDelay(true)
      await new Promise(resolve => s.once('connect', resolve))
      sockets.push(s)
    }
  } else {
    const s = net.connect(6379, '127.0.0.1')
    s.setNoDelay(true)
    s.on('data', () => {})
    await new Promise(resolve => s.once('connect', resolve))
    sockets.push(s)
  }
  const buf = Buffer.alloc(MSG)
  const run = async (secs: number): Promise<number> => await new Promise(resolve => {
    const total = Math.round(rate * secs)
    const interval = 1000 / rate
    const t0 = performance.now()
    let sent = 0
    const step = (): void => {
      const due = Math.min(total, Math.floor((performance.now() - t0) / interval) + 1)
      while (sent < due) {
        buf.writeDoubleLE(now(), 0)
        if (mode === 'tcp') for (const s of sockets) s.write(Buffer.from(buf))
        else sockets[0]?.write(resp('PUBLISH', 'bench', buf.toString('hex')))
        sent++
      }
      if (sent < total) setTimeout(step, Math.max(0, t0 + sent * interval - performance.now()))
      else resolve(sent)
    }
    step()
  })
  const collect = async (): Promise<number[]> => (await Promise.all(children.map(async c => await new Promise<number[]>(resolve => {
    c.child.once('message', (m: any) => { resolve(m.latencies) })
    c.child.send({})
  })))).flat()
  await run(1)
  await new Promise(resolve => setTimeout(resolve, 200)) // let warm-up stragglers land before the reset
  await collect()
  const sent = await run(seconds)
  await new Promise(resolve => setTimeout(resolve, 200)) // and the measured run's last messages
  const all = (await collect()).sort((a, b) => a - b)
  console.log(JSON.stringify({ mode, nodes, rate, seconds, sent, received: all.length, p50: +percentile(all, 0.5).toFixed(3), p99: +percentile(all, 0.99).toFixed(3), max: +(all.at(-1) ?? NaN).toFixed(3) }))
  for (const s of sockets) s.destroy()
  for (const c of children) c.child.disconnect()
}
