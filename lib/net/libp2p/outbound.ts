/**
 * The lifecycle of our one outbound stream per peer (DESIGN.md "Our
 * outbound stream"): opened on every new connection, reopened whenever it
 * closes while the peer is connected, with a backoff of 20 ms doubling per
 * failure in a row; after MAX_OPEN_RETRIES failures the connection evidently
 * will not carry it, so it is closed and the redialer (with its own backoff)
 * makes a new one. Kept open, the peer would count as connected and never be
 * redialled. What is sent once the stream opens is the mesh's business
 * (its greeting), not this file's.
 */
import type { Connection, Logger, Stream } from '@libp2p/interface'
import { PROTOCOLS } from './envelope.ts'
import { CROSSED_SETTLE_MS } from './crossed-dials.ts'
import type { TransportStats } from './stats.ts'
import type { PeerLink } from './stream-link.ts'

const STREAM_OPEN_TIMEOUT = 10_000
const MAX_OPEN_RETRIES = 6

/** What the stream lifecycle needs of the mesh. */
export interface OutboundHost {
  readonly stats: TransportStats
  readonly stopped: boolean
  isConnected (peer: string): boolean
  /** Every connection to `peer` now, as a copy. */
  connectionsOf (peer: string): Connection[]
  /** Our stream to `link`'s peer is open (link.out set): greet the peer. */
  streamOpened (link: PeerLink): void
  /** Our stream to `link`'s peer closed: recompute which namespaces it is up in. */
  reconcile (link: PeerLink): void
  /** Forgets `link` if nothing of it is left. */
  dropLinkIfIdle (link: PeerLink): void
}

export class OutboundStreams {
  readonly #host: OutboundHost
  /** The longest retry delay (`redialInterval`): past it the redialer's backoff takes over. */
  readonly #maxDelay: number
  readonly #log: Logger
  /** The connection each link's outbound stream runs on. */
  readonly #outConn = new WeakMap<PeerLink, Connection>()

  /** Of crossed dials to a peer, the connection both ends keep (crossed-dials.ts). */
  readonly #kept: (peer: string) => Connection | undefined

  constructor (host: OutboundHost, kept: (peer: string) => Connection | undefined, maxDelay: number, log: Logger) {
    this.#host = host
    this.#kept = kept
    this.#maxDelay = maxDelay
    this.#log = log
  }

  /** The connection to open our stream to `peer` on: of crossed dials the one kept, else the newest open one. */
  #connectionFor (peer: string): Connection | undefined {
    let best = this.#kept(peer)
    if (best === undefined) for (const c of this.#host.connectionsOf(peer)) if (c.status === 'open') best = c
    return best
  }

  /** Opens our stream to `link`'s peer unless it is open or opening, or the peer is not connected. */
  async open (link: PeerLink): Promise<void> {
    if (this.#host.stopped || link.out !== null || link.opening) return
    const conn = this.#connectionFor(link.peer)
    if (conn === undefined) return
    link.opening = true
    let stream: Stream
    try {
      stream = await conn.newStream(PROTOCOLS, { signal: AbortSignal.timeout(STREAM_OPEN_TIMEOUT) })
    } catch (err) {
      link.opening = false
      link.openFailures++
      this.#host.stats.streamOpenFailures++
      this.#log('opening a stream to %s failed (%d): %s', link.peer, link.openFailures, (err as Error).message)
      this.#retry(link)
      this.#host.dropLinkIfIdle(link) // the connection may have closed while we waited
      return
    }
    link.opening = false
    if (this.#host.stopped || conn.status !== 'open' || stream.writeStatus !== 'writable') {
      stream.abort(new Error('meshcache: stream no longer needed'))
      if (!this.#host.stopped) this.#retry(link)
      this.#host.dropLinkIfIdle(link)
      return
    }
    link.openFailures = 0
    this.#adopt(link, conn, stream)
    // Dials crossed while it opened: it belongs on the connection both ends keep (moveTo).
    const kept = this.#kept(link.peer)
    if (kept !== undefined && kept !== conn) void this.moveTo(link, kept)
  }

  /**
   * Moves our open stream to `conn` (crossed dials, crossed-dials.ts: the connection it runs on is about to be
   * closed): a stream on `conn` is opened and greets the peer, and frames go there from then on. The old one
   * closes a second later, with its connection or on its own if that stays: closed now, its end could reach
   * the peer before the new stream's JOIN (another TCP connection) and the peer's namespaces would go down and
   * up. Frames on the two may arrive out of order; the core's sequence numbers repair that as any gap. A
   * failed open leaves the old stream, which reopens on its own when its connection closes.
   */
  async moveTo (link: PeerLink, conn: Connection): Promise<void> {
    const old = link.out
    if (this.#host.stopped || old === null || link.opening || this.#outConn.get(link) === conn) return
    link.opening = true
    let stream: Stream
    try {
      stream = await conn.newStream(PROTOCOLS, { signal: AbortSignal.timeout(STREAM_OPEN_TIMEOUT) })
    } catch (err) {
      link.opening = false
      this.#log('moving our stream to %s to the connection kept failed: %s', link.peer, (err as Error).message)
      this.#reopenIfGone(link)
      return
    }
    link.opening = false
    // The old stream may have closed meanwhile (the peer closed the connection it ran on): its reopening was
    // skipped while this one opened, so this one takes its place. Another adopted meanwhile: this one goes.
    if (this.#host.stopped || conn.status !== 'open' || stream.writeStatus !== 'writable' || (link.out !== old && link.out !== null)) {
      stream.abort(new Error('meshcache: stream no longer needed'))
      this.#reopenIfGone(link)
      return
    }
    this.#adopt(link, conn, stream)
    setTimeout(() => { old.close().catch((err: Error) => { old.abort(err) }) }, CROSSED_SETTLE_MS).unref()
  }

  /**
   * After a move that did not take: if our stream closed while it was opening, reopen it. Its close asked for a
   * retry then, which found the move in flight and did nothing; without this the peer would stay connected with
   * no stream of ours until liveness judged it silent (seconds; a 16-process mesh formed 6 s late so).
   */
  #reopenIfGone (link: PeerLink): void {
    if (link.out === null) this.#retry(link)
  }

  /** `stream`, open on `conn`, is our stream to `link`'s peer from now on: the peer is greeted on it. */
  #adopt (link: PeerLink, conn: Connection, stream: Stream): void {
    link.out = stream
    link.writersSent.clear() // a new stream (a reconnection, or ours moved to the connection kept) has named no origin
    this.#outConn.set(link, conn)
    stream.addEventListener('close', () => { this.#closed(link, stream) })
    this.#host.streamOpened(link)
  }

  /** `conn` closed: if our stream ran on it, it is gone too (streams normally report their own close; do not wait for them). */
  connectionClosed (link: PeerLink, conn: Connection): void {
    if (this.#outConn.get(link) === conn) this.#closed(link, link.out)
  }

  #closed (link: PeerLink, stream: Stream | null): void {
    if (stream === null || link.out !== stream) return
    link.out = null
    this.#outConn.delete(link)
    this.#host.reconcile(link)
    if (this.#host.isConnected(link.peer)) this.#retry(link)
    else this.#host.dropLinkIfIdle(link)
  }

  #retry (link: PeerLink): void {
    if (this.#host.stopped || !this.#host.isConnected(link.peer)) return
    if (link.openFailures >= MAX_OPEN_RETRIES) {
      // The connection is up but will not carry our stream: close it, so the
      // redialer (with its own backoff) makes a new one. Kept open, the peer
      // would count as connected and never be redialled.
      this.#log('no stream to %s after %d tries: closing its connections to start over', link.peer, link.openFailures)
      link.openFailures = 0
      for (const c of this.#host.connectionsOf(link.peer)) {
        c.close().catch((err: Error) => { c.abort(err) })
      }
      return
    }
    clearTimeout(link.retryTimer)
    const delay = Math.min(this.#maxDelay, 20 * 2 ** link.openFailures)
    link.retryTimer = setTimeout(() => { void this.open(link) }, delay)
  }
}
