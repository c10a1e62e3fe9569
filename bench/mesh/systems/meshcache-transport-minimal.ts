/**
 * meshcache's own transport carrying meshcache's frames, with the bound's
 * short path at each end in place of the cache: every node runs
 * `createLibp2pTransport` as the `meshcache` system does (a full mesh over
 * TCP, pnet with a PSK, Noise and Yamux; meshcache's streams, envelopes,
 * namespaces, membership and liveness) and joins one namespace. The writer
 * writes its key into meshcache's Store and sends a lone write's frame
 * (`libp2p-stream-minimal-lone`'s, batched per synchronous run as the
 * outbox batches), and a receiver's frame handler decodes it and merges it
 * into its Store, reporting the write from the Store's change event.
 *
 * Between `libp2p-stream-minimal-lone` (the same frames and work on the
 * floor's streams) and `meshcache` (the cache's layers above the same
 * transport) in one run: what the transport costs a write, and what the
 * cache's layers cost above it (bench/README.md, "the first seconds, layer
 * by layer").
 */
import { createLibp2pTransport } from '../../../lib/net/libp2p/index.ts'
import type { WireRecord } from '../../../protocol/record.ts'
import { StoreReplica } from './libp2p-stream-minimal-store.ts'
import { boundOrigin, encodeWith, mergeFrame, writeRecord } from './libp2p-stream-minimal-codec.ts'
import type { OriginState } from './libp2p-stream-minimal.ts'
import { system as floor } from './libp2p-stream.ts'
import { seqOf, type System } from './types.ts'

/** How long the writer waits for every receiver's link to carry the namespace before it starts. */
const LINKS_UP_MS = 10_000

export const system: System = {
  name: 'meshcache-transport-minimal',
  // the floor's: one fresh PSK that every node of the run shares
  setup: floor.setup,
  async node (ctx) {
    const { psk } = ctx.config as { psk: string }
    const transport = await createLibp2pTransport({ listen: ['/ip4/127.0.0.1/tcp/0'], peers: ctx.peers.flatMap((a) => a as string[]), psk })
    const replica = new StoreReplica()
    const origins = new Map<string, OriginState>()
    const channel = await transport.join('bench', {
      onFrame (_from, frame) { mergeFrame('lone', replica, origins, frame) },
      onPeerUp () {},
      onPeerDown () {},
    })
    const close = async (): Promise<void> => {
      await channel.close()
      await transport.close?.()
    }
    if (ctx.role === 'receiver') {
      replica.events.on('change', (event: { key: string, source: string }) => {
        if (event.source !== 'local') ctx.received(seqOf(event.key))
      })
      return { address: transport.multiaddrs?.() ?? [], close }
    }
    // No anti-entropy here to deliver a write made before a link is up: wait for every link, as the cache's ready() would.
    const deadline = Date.now() + LINKS_UP_MS
    while (channel.peers().length < ctx.n - 1) {
      if (Date.now() > deadline) throw new Error(`meshcache-transport-minimal: ${channel.peers().length} of ${ctx.n - 1} receivers joined in ${LINKS_UP_MS} ms`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    const self = boundOrigin()
    let counter = 0
    let run: WireRecord[] = []
    let firstSeq = 0
    // One frame per synchronous run, as lib/sync/outbox.ts sends them.
    const flush = (): void => {
      const records = run
      run = []
      channel.broadcast(encodeWith('lone', self, firstSeq, records))
    }
    return {
      address: transport.multiaddrs?.() ?? [],
      publish (seq) {
        counter++
        if (run.length === 0) {
          firstSeq = counter
          queueMicrotask(flush)
        }
        run.push(writeRecord(replica, self, counter, seq))
        return undefined
      },
      close,
    }
  },
}
