/**
 * Builds the libp2p node meshcache runs on: TCP, (pnet), Noise, Yamux,
 * identify, and gossipsub when the relay tier is on (relay.ts). Frames
 * travel on direct streams otherwise (see DESIGN.md).
 */
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { preSharedKey } from '@libp2p/pnet'
import { gossipsub } from '@libp2p/gossipsub'
import type { ComponentLogger, ConnectionGater, PrivateKey, MessageStream, StreamMuxerFactory } from '@libp2p/interface'
import { quietNoiseLengths } from './noise-lengths.ts'
import { batchInboundWindowUpdates } from './yamux-window.ts'
import { fixXSalsa20Memory } from './xsalsa20-memory.ts'
import { poolCipherOutputs } from './cipher-outputs.ts'
import { GOSSIPSUB_SETTINGS } from './relay.ts'

export interface NodeInit {
  listen: string[]
  psk: Uint8Array | undefined
  /** The node's identity; a fresh one when undefined. */
  privateKey?: PrivateKey | undefined
  gater: ConnectionGater
  logger: ComponentLogger | undefined
  /** Add the gossipsub service (the relay tier). */
  gossipsub?: boolean
}

/**
 * libp2p accepts at most 5 inbound connections per second from one host and
 * 10 pending upgrades by default. Every node of a test mesh (and every pod
 * behind one NAT) shares an address, so a 12-node mesh forming at once would
 * have connections refused; these limits are raised to what a cache mesh of
 * a few dozen nodes needs.
 */
const INBOUND_CONNECTIONS_PER_HOST_PER_SECOND = 200
const MAX_PENDING_INBOUND_UPGRADES = 64

/**
 * The muxer factory, wrapped to see the connection it is created on: that
 * is the Noise-encrypted stream, whose length decoder is swapped for one
 * that does not throw at the end of every chunk (noise-lengths.ts); and the
 * muxer it makes, whose inbound streams announce their window in half-window
 * steps instead of after every frame (yamux-window.ts).
 */
function tunedMuxer<C> (factory: (components: C) => StreamMuxerFactory): (components: C) => StreamMuxerFactory {
  return components => {
    const inner = factory(components)
    const tuned: StreamMuxerFactory = Object.create(inner)
    tuned.createStreamMuxer = (maConn: MessageStream) => {
      quietNoiseLengths(maConn)
      return batchInboundWindowUpdates(inner.createStreamMuxer(maConn))
    }
    return tuned
  }
}

export async function buildNode (init: NodeInit): Promise<Libp2p> {
  // pnet's cipher leaks wasm memory across connections until a process dies (see the module)
  if (init.psk !== undefined) fixXSalsa20Memory()
  // a message's ciphertext from Node's buffer pool, not an allocation outside V8's heap (see the module)
  poolCipherOutputs()
  return createLibp2p({
    addresses: { listen: init.listen },
    ...(init.privateKey !== undefined ? { privateKey: init.privateKey } : {}),
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [tunedMuxer(yamux())],
    ...(init.psk !== undefined ? { connectionProtector: preSharedKey({ psk: init.psk }) } : {}),
    connectionGater: init.gater,
    connectionManager: {
      inboundConnectionThreshold: INBOUND_CONNECTIONS_PER_HOST_PER_SECOND,
      maxIncomingPendingConnections: MAX_PENDING_INBOUND_UPGRADES,
      // meshcache redials peers itself (redial.ts), forever and with backoff
      reconnectRetries: 0
      // No lower maxConnections for a partial mesh: libp2p refuses inbound
      // connections at the bound before a newcomer could learn other peers
      // from us (the mesh greets them and partial-mesh.ts sheds them instead).
    },
    // Its ping aborts a connection whose answer takes over 5 s, which under
    // saturation is a healthy one with frames queued ahead of the answer;
    // liveness.ts judges peers by any bytes that arrive instead.
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      ...(init.gossipsub === true ? { pubsub: gossipsub(GOSSIPSUB_SETTINGS) } : {})
    },
    // started by the caller once meshcache's listeners are attached
    start: false,
    ...(init.logger !== undefined ? { logger: init.logger } : {})
  })
}
