/** A transport that hands the test the cache's frame handler: frames can be injected as if from a peer. */
import type { Channel, FrameHandler, Transport } from '../../lib/net/transport.ts'

export interface CaptureTransport {
  transport: Transport
  /** Delivers a frame to the cache as if `from` sent it. */
  deliver(from: string, frame: Uint8Array): void
  /** Frames the cache sent, in order. */
  sent: Array<{ to: string | '*', frame: Uint8Array }>
}

export function captureTransport (peers: string[] = ['peer']): CaptureTransport {
  let handler: FrameHandler | undefined
  const sent: CaptureTransport['sent'] = []
  const transport: Transport = {
    join: async (_namespace, h) => {
      handler = h
      const channel: Channel = {
        localPeer: 'self',
        broadcast: (frame) => { sent.push({ to: '*', frame }) },
        send: (to, frame) => { sent.push({ to, frame }) },
        peers: () => peers,
        close: async () => { handler = undefined },
      }
      return channel
    },
  }
  return {
    transport,
    sent,
    deliver: (from, frame) => {
      if (handler === undefined) throw new Error('not joined')
      handler.onFrame(from, frame)
    },
  }
}
