/**
 * Yamux window updates, batched on the inbound streams of our node's muxers.
 *
 * `@chainsafe/libp2p-yamux` (8.0.1, `stream.js#sendWindowUpdate`) answers
 * every DATA frame it receives with a WINDOW_UPDATE frame, so each frame the
 * writer sends costs a second, backwards message: the receiver encrypts it
 * (Noise, then pnet) and makes a socket write, and the writer wakes up, reads
 * it, decrypts it twice and decodes it, four times per broadcast to 4 peers.
 * Measured (5 processes, bench:mesh, 1,000 writes/s, A/B interleaved on
 * 2026-11-22): the five processes' CPU time fell from 3.4-3.9 s to 2.3-2.6 s
 * per 5 s and the p99 from 2.7-3.5 ms to 1.9-2.7 ms.
 *
 * Go's yamux (and the spec's reference implementation) sends an update only
 * once half of the receive window is consumed. This does the same for the
 * streams peers open to us (ours carry frames, the relay tier's gossip): an
 * update still goes out whenever it carries a flag (the ACK of a new
 * stream), while the stream is paused (the original then only restarts the
 * epoch), and as soon as the unacknowledged bytes reach half the window.
 * Flow control is unchanged: yamux frees the window when a frame arrives,
 * as before, and the sender still stops at a full window; the window is
 * only announced in larger steps. Nothing changes on the wire format or for
 * peers running the unpatched stream.
 *
 * (Withdrawn twice for a "saturation stall" that turned out to be the
 * bench's own: its receivers scanned the whole phase on every arrival while
 * collecting, which blocked a lagging receiver's loop for a minute. A faster
 * writer leaves receivers further behind, so this change made it frequent.)
 */
import type { Stream, StreamMuxer } from '@libp2p/interface'
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'

/** The private fields of YamuxStream this reads (see its stream.d.ts). */
interface YamuxWindow {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
  sendWindowUpdate (): void
}

const patched = new WeakSet<object>()

/**
 * Makes `stream` announce its receive window in half-window steps instead
 * of after every frame. A stream of another muxer is left alone; returns
 * whether the stream was changed.
 */
export function batchWindowUpdates (stream: Stream): boolean {
  if (!(stream instanceof YamuxStream) || patched.has(stream)) return false
  const s = stream as unknown as YamuxWindow
  if (typeof s.recvWindow !== 'number' || typeof s.recvWindowCapacity !== 'number' || typeof s.sendWindowUpdate !== 'function') {
    return false
  }
  const original = s.sendWindowUpdate
  s.sendWindowUpdate = function (this: YamuxWindow): void {
    if (this.state === StreamState.Established && this.recvWindowCapacity > this.recvWindow / 2) return
    original.call(this)
  }
  patched.add(stream)
  return true
}

/**
 * Batches the window updates of every stream the peer opens on `muxer`, from
 * its first frame on (the muxer reports a new remote stream before handing
 * it any data). Returns the muxer.
 */
export function batchInboundWindowUpdates<M extends StreamMuxer> (muxer: M): M {
  const m = muxer as M & { onRemoteStream?: (stream: Stream) => void }
  const report = m.onRemoteStream
  if (typeof report !== 'function') return muxer
  m.onRemoteStream = function (this: unknown, stream: Stream): void {
    batchWindowUpdates(stream)
    report.call(this, stream)
  }
  return muxer
}
