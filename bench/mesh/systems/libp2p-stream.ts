/**
 * The floor of the decided stack: what any design on it pays, with nothing of meshcache's
 * own above the transport. The writer opens one libp2p stream to each receiver on the
 * libp2p node meshcache builds (TCP → pnet with a PSK → Noise → Yamux, with meshcache's
 * fixes to Noise and Yamux in: lib/net/libp2p/node.ts) and writes the TCP floor's frames on it;
 * writes of one event-loop turn leave in one `send` per stream, as tcp.ts corks them. No
 * mesh, envelope, membership, version vector or cache: a receiver reports each frame as it
 * is read, exactly as tcp.ts's does.
 *
 * So `libp2p-stream` against `tcp` is the stack's own cost per hop, and `meshcache` against
 * `libp2p-stream` is meshcache's. In the default run, between redis and meshcache.
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import type { Stream } from '@libp2p/interface'
import { buildNode } from '../../../lib/net/libp2p/node.ts'
import { generatePsk, normalizePsk } from '../../../lib/net/libp2p/psk.ts'
import { encodeFrame, frameReader } from './tcp.ts'
import type { NodeContext, NodeHandle, System } from './types.ts'

const PROTOCOL = '/meshcache-bench/floor/1.0.0'

interface StreamConfig { psk: string }

export const system: System = {
  name: 'libp2p-stream',
  async setup() {
    const config: StreamConfig = { psk: generatePsk() }
    return { config, async close() {} }
  },
  node: floorNode,
}

/**
 * What a node of the floor's stack writes and reads: the writer's frame for write `seq`,
 * and a receiver's reader of its stream's bytes (which reports each write to `ctx`).
 */
export interface FloorCodec {
  encode(seq: number): Buffer
  reader(ctx: NodeContext): (chunk: Buffer) => void
}

const FLOOR: FloorCodec = { encode: encodeFrame, reader: frameReader }

/**
 * One node of the floor (libp2p-stream-work.ts wraps it); libp2p-stream-minimal.ts
 * sends its own frames over the same stack and streams.
 */
export async function floorNode(ctx: NodeContext, codec: FloorCodec = FLOOR): Promise<NodeHandle> {
  const { psk } = ctx.config as StreamConfig
  const node = await buildNode({ listen: ['/ip4/127.0.0.1/tcp/0'], psk: normalizePsk(psk), gater: {}, logger: undefined })
  await node.start()
  return ctx.role === 'writer' ? await writer(ctx, node, codec.encode) : await receiver(ctx, node, codec.reader)
}

/** A libp2p message is a Uint8Array or a list of them; frameReader reads Buffers. */
function asBuffer(data: Uint8Array | { subarray(): Uint8Array }): Buffer {
  const bytes = data instanceof Uint8Array ? data : data.subarray()
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

async function receiver(ctx: NodeContext, node: Libp2p, reader: FloorCodec['reader']): Promise<NodeHandle> {
  await node.handle(PROTOCOL, (stream) => {
    const read = reader(ctx)
    stream.addEventListener('message', (evt) => { read(asBuffer(evt.data)) })
  })
  return {
    address: node.getMultiaddrs().map(String),
    async close() { await node.stop() },
  }
}

async function writer(ctx: NodeContext, node: Libp2p, encode: FloorCodec['encode']): Promise<NodeHandle> {
  const streams: Stream[] = await Promise.all(ctx.peers.map(async (addresses) => {
    const connection = await node.dial(multiaddr((addresses as string[])[0]))
    return await connection.newStream(PROTOCOL)
  }))
  let turn: Buffer[] = []
  let blocked: Promise<void>[] | undefined
  const flush = (): void => {
    const bytes = turn.length === 1 ? turn[0] as Buffer : Buffer.concat(turn)
    turn = []
    for (const stream of streams) {
      if (!stream.send(bytes)) (blocked ??= []).push(new Promise((resolve) => stream.addEventListener('drain', () => resolve(), { once: true })))
    }
  }
  return {
    publish(seq) {
      if (turn.length === 0) process.nextTick(flush)
      turn.push(encode(seq))
      // Backpressure from the previous turn's sends: wait for every stream to drain, as tcp.ts does.
      const waiting = blocked
      blocked = undefined
      return waiting && Promise.all(waiting).then(() => undefined)
    },
    async close() {
      await Promise.all(streams.map(async (stream) => { await stream.close() }))
      await node.stop()
    },
  }
}
