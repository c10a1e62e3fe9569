/**
 * Two nodes that dial each other at once both succeed: libp2p keeps both
 * connections, one each way. It happens whenever dials cross, which is the
 * rule rather than the exception: instances started together dial every
 * bootstrap address at once (a 10-instance full mesh on loopback held 90
 * connections for 45 pairs), both ends of a link lost to a cut redial it, and
 * across a link delay the dials have tens of milliseconds to cross. Each extra
 * connection costs a Noise session, a Yamux session and a socket for nothing:
 * our streams use one connection a peer (outbound.ts).
 *
 * Both ends keep the same one without a message: the connection the smaller
 * peer id dialled. The other end closes its own a second later (so streams
 * opened on it meanwhile have their greeting through, and a connection that
 * dies by itself meanwhile is not closed twice), and only while the peer's is
 * still open. Meanwhile each end moves its own stream to the kept one
 * (outbound.ts moveTo): a stream cut with its connection loses what is sent
 * before it reopens, and the peer would see the namespace go down and up
 * (an anti-entropy round for nothing). Gossipsub, which opens its stream to
 * a peer once and no other when that connection closes, is told of the one
 * left (relay.ts connectionLeft).
 */
import type { Connection, Logger } from '@libp2p/interface'
import type { TransportStats } from './stats.ts'

/** How long a crossed pair keeps both connections. */
export const CROSSED_SETTLE_MS = 1_000

/** Of crossed dials to `peer`, the connection both ends keep (the one the smaller id dialled); undefined if none crossed. */
export function keptConnection (self: string, peer: string, conns: Iterable<Connection>): Connection | undefined {
  const keep = self < peer ? 'outbound' : 'inbound'
  let kept: Connection | undefined
  let other = false
  for (const c of conns) {
    if (c.status !== 'open') continue
    if (c.direction === keep) kept ??= c
    else other = true
  }
  return other ? kept : undefined
}

/**
 * Whether `conns`, ours to `peer`, are crossed dials whose kept connection is the peer's (ours is the one to go).
 * Open connections only, as keptConnection: a peer's connection already closing keeps nothing, so ours stays.
 */
export function oursGoes (self: string, peer: string, conns: readonly Connection[]): boolean {
  return self > peer && keptConnection(self, peer, conns) !== undefined
}

/** What crossed dials need of the mesh. */
export interface CrossedDialsHost {
  readonly stats: TransportStats
  /** Every connection to `peer` now, as a copy. */
  connectionsOf (peer: string): Connection[]
  /** Moves our stream to `peer` onto `conn`, if it runs on another (outbound.ts moveTo). */
  moveStream (peer: string, conn: Connection): void
}

export class CrossedDials {
  readonly #self: string
  readonly #host: CrossedDialsHost
  readonly #log: Logger
  /** Peers whose crossed connection is about to be closed, with the timer. */
  readonly #pending = new Map<string, ReturnType<typeof setTimeout>>()

  constructor (self: string, host: CrossedDialsHost, log: Logger) {
    this.#self = self
    this.#host = host
    this.#log = log
  }

  /** Of crossed dials to `peer`, the connection both ends keep; undefined if they did not cross. */
  kept (peer: string): Connection | undefined {
    return keptConnection(this.#self, peer, this.#host.connectionsOf(peer))
  }

  /**
   * A connection to `peer` opened beside another: if the dials crossed, our stream moves to the connection kept
   * at once, and if ours is the one to go, it goes in CROSSED_SETTLE_MS.
   */
  opened (peer: string): void {
    const conns = this.#host.connectionsOf(peer)
    const kept = keptConnection(this.#self, peer, conns)
    if (kept !== undefined) this.#host.moveStream(peer, kept)
    if (this.#pending.has(peer) || !oursGoes(this.#self, peer, conns)) return
    const timer = setTimeout(() => {
      this.#pending.delete(peer)
      const now = this.#host.connectionsOf(peer)
      if (!oursGoes(this.#self, peer, now)) return
      this.#log('%s and this node dialled each other: closing our connection, keeping its', peer)
      for (const c of now) {
        if (c.direction !== 'outbound') continue
        this.#host.stats.crossedClosed++
        c.close().catch((err: Error) => { c.abort(err) })
      }
    }, CROSSED_SETTLE_MS)
    timer.unref()
    this.#pending.set(peer, timer)
  }

  stop (): void {
    for (const timer of this.#pending.values()) clearTimeout(timer)
    this.#pending.clear()
  }
}
