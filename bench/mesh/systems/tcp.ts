/**
 * The floor: the writer holds one TCP connection (Nagle off) to each receiver
 * and writes every invalidation to each of them. No broker, no encryption, no
 * multiplexing: nothing a peer-to-peer design can beat on loopback.
 * Writes issued in one event-loop turn are corked and leave together (one
 * writev per socket), as a cache batching per turn would do; a lone write
 * still leaves at the end of its turn.
 *
 * Frame: u16 length (of the rest) • u32 seq • key bytes (utf-8).
 */
import net from 'node:net'
import { keyOf, type NodeContext, type NodeHandle, type System } from './types.ts'

export const system: System = {
  name: 'tcp',
  async node(ctx) {
    return ctx.role === 'writer' ? writer(ctx) : receiver(ctx)
  },
}

/** One invalidation as the floor's frame (libp2p-stream.ts sends the same bytes). */
export function encodeFrame(seq: number): Buffer {
  const key = Buffer.from(keyOf(seq))
  const frame = Buffer.allocUnsafe(6 + key.length)
  frame.writeUInt16BE(4 + key.length, 0)
  frame.writeUInt32BE(seq, 2)
  key.copy(frame, 6)
  return frame
}

/** Splits a byte stream into frames and reports each invalidation to the harness as it is read. */
export function frameReader(ctx: NodeContext): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0)
  return (chunk) => {
    const buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    let at = 0
    while (buf.length - at >= 2) {
      const len = buf.readUInt16BE(at)
      if (buf.length - at < 2 + len) break
      // A cache would look the key up and evict it here; the key is decoded to pay that cost.
      buf.toString('utf8', at + 6, at + 2 + len)
      ctx.received(buf.readUInt32BE(at + 2))
      at += 2 + len
    }
    pending = at === buf.length ? Buffer.alloc(0) : buf.subarray(at)
  }
}

async function receiver(ctx: NodeContext): Promise<NodeHandle> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.setNoDelay(true)
    socket.once('close', () => sockets.delete(socket))
    socket.on('data', frameReader(ctx))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as net.AddressInfo
  return {
    address: port,
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

async function writer(ctx: NodeContext): Promise<NodeHandle> {
  const sockets = await Promise.all(ctx.peers.map((port) => new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => resolve(socket))
    socket.setNoDelay(true)
    socket.once('error', reject)
  })))
  let corked = false
  const uncork = (): void => {
    corked = false
    for (const socket of sockets) socket.uncork()
  }
  return {
    publish(seq) {
      if (!corked) {
        corked = true
        for (const socket of sockets) socket.cork()
        process.nextTick(uncork)
      }
      const frame = encodeFrame(seq)
      let blocked: Promise<void>[] | undefined
      for (const socket of sockets) {
        if (!socket.write(frame)) (blocked ??= []).push(new Promise((resolve) => socket.once('drain', resolve)))
      }
      return blocked && Promise.all(blocked).then(() => undefined)
    },
    async close() {
      await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.end(resolve))))
    },
  }
}
