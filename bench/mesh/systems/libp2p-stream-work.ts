/**
 * The floor (`libp2p-stream`: its stack, its streams, its 15-byte frames), with
 * meshcache's own work for each write done beside it, in the same processes
 * and the same synchronous runs, but nothing of meshcache on the wire:
 * - the writer, before each frame, invalidates the key in a cache whose
 *   transport only captures: the cache's state, its outbox, its frame and
 *   the envelope are made in the turn as meshcache's writer makes them, then
 *   dropped (the mesh's per-peer writes are not made);
 * - a receiver, as each floor frame is read, hands the cache frame of that
 *   write (made up front by a cache of its own, one frame per write, as
 *   meshcache's writer would have sent it) to a cache, as its mesh would, and
 *   reports the write when the cache's `change` event has fired.
 *
 * So, in one run: `libp2p-stream-work` against `libp2p-stream` is what
 * meshcache's own code costs a write (directly, and by the caches it leaves
 * colder for the stack), and `meshcache`
 * against `libp2p-stream-work` what its bytes and streams cost the stack.
 * `MESHCACHE_BENCH_LAYERS` (layers.ts) splits both by layer. Meant for 1,000
 * writes/s: a receiver makes FRAMES frames up front and refuses a write past them.
 */
import { createMeshCache, type ChangeEvent } from '../../../lib/index.ts'
import * as envelope from '../../../lib/net/libp2p/envelope.ts'
import { captureTransport, envelopeInto } from '../../core/util.ts'
import { floorNode, system as floor } from './libp2p-stream.ts'
import { keyOf, type System } from './types.ts'

/** Frames a receiver makes up front: 35 s of writes at 1,000/s with the bench's warm-up and probes. */
const FRAMES = 40_000
/** The UPDATES message type (protocol/constants.ts), the second byte of a frame. */
const UPDATES = 0
const OPTIONS = { namespace: 'bench', mode: 'invalidate', max: 100_000, ttl: 10 * 60_000 } as const

export const system: System = {
  name: 'libp2p-stream-work',
  setup: floor.setup,
  async node(ctx) {
    if (ctx.role === 'writer') {
      const transport = captureTransport(undefined, { localPeer: 'writer', peers: ['receiver'], onBroadcast (frame) { envelope.encodeFrame(1, frame) } })
      const cache = await createMeshCache<string>({ ...OPTIONS, transport })
      const handle = await floorNode(ctx)
      return {
        address: handle.address,
        publish (seq) {
          cache.invalidate(keyOf(seq))
          return handle.publish?.(seq)
        },
        async close () {
          await cache.close()
          await handle.close()
        },
      }
    }
    const apply = await receiverWork()
    const handle = await floorNode({ ...ctx, received (seq) { apply(seq); ctx.received(seq) } })
    return handle
  },
}

/** Makes the frames, and returns what applies the frame of write `seq` to a cache (throws if it did not take effect). */
async function receiverWork (): Promise<(seq: number) => void> {
  const frames: Uint8Array[] = []
  let made: Uint8Array | undefined
  const generator = captureTransport(undefined, {
    localPeer: 'writer',
    peers: ['receiver'],
    onBroadcast (frame) { if (frame[1] === UPDATES) made = envelope.encodeFrame(1, frame)[0] },
  })
  const writer = await createMeshCache<string>({ ...OPTIONS, transport: generator })
  for (let seq = 0; seq < FRAMES; seq++) {
    made = undefined
    writer.invalidate(keyOf(seq))
    await new Promise((resolve) => setImmediate(resolve))
    if (made === undefined) throw new Error(`libp2p-stream-work: write ${seq} made no UPDATES frame`)
    frames.push(made)
  }
  await writer.close()

  const transport = captureTransport(undefined, { localPeer: 'receiver', peers: ['writer'] })
  const cache = await createMeshCache<string>({ ...OPTIONS, transport })
  let applied = false
  cache.on('change', (event: ChangeEvent) => { if (event.source !== 'local') applied = true })
  const deliver = envelopeInto(envelope, transport, 'writer', 'libp2p-stream-work')
  return (seq) => {
    const frame = frames[seq]
    if (frame === undefined) throw new Error(`libp2p-stream-work: write ${seq} is past the ${FRAMES} frames made up front (run it at 1,000/s, for less than ~35 s)`)
    applied = false
    deliver(frame)
    if (!applied) throw new Error(`libp2p-stream-work: write ${seq} did not take effect`)
  }
}
