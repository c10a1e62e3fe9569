/**
 * Two nodes that dial each other at once both succeed: libp2p keeps both
 * connections, one each way. It happens whenever dials cross, which is the
 * rule rather than the exception: instances started together dial every
 * bootstrap address at once (a 10-instance full mesh on loopback held 90
 * connections for 45 pairs), both ends of a link lost to a cut redial it, and
 * across a link delay the dials have tens of milliseconds to cross. Each extra
 * connection costs a Noise session, a Yamux session and a socket for nothing:
 * our streams use one connection a peer (mesh.ts openConnection).
 *
 * Both ends keep the same one without a message: the connection the smaller
 * peer id dialled. The other end closes its own a second later (so streams
 * opened on it meanwhile have their greeting through, and a connection that
 * dies by itself meanwhile is not closed twice), and only while the peer's is
 * still open. Our streams on the closed one reopen on the kept one
 * (mesh.ts #onConnClose); the network-namespace region tests check that the
 * kept connection of a far pair carries gossipsub's streams both ways.
 */
import type { Connection, Logger } from '@libp2p/interface'
import type { TransportStats } from './stats.ts'

/** How long a crossed pair keeps both connections. */
export const CROSSED_SETTLE_MS = 1_000

/** Whether `conns`, ours to `peer`, are crossed dials whose kept connection is the peer's (ours is the one to go). */
export function oursGoes (self: string, peer: string, conns: readonly Connection[]): boolean {
  return self > peer && conns.some(c => c.direction === 'inbound') && conns.some(c => c.direction === 'outbound')
}

export class CrossedDials {
  readonly #self: string
  readonly #connectionsOf: (peer: string) => Connection[]
  readonly #stats: TransportStats
  readonly #log: Logger
  /** Peers whose crossed connection is about to be closed, with the timer. */
  readonly #pending = new Map<string, ReturnType<typeof setTimeout>>()

  constructor (self: string, connectionsOf: (peer: string) => Connection[], stats: TransportStats, log: Logger) {
    this.#self = self
    this.#connectionsOf = connectionsOf
    this.#stats = stats
    this.#log = log
  }

  /** A connection to `peer` opened beside another: if ours is the one to go, it goes in CROSSED_SETTLE_MS. */
  opened (peer: string): void {
    if (this.#pending.has(peer) || !oursGoes(this.#self, peer, this.#connectionsOf(peer))) return
    const timer = setTimeout(() => {
      this.#pending.delete(peer)
      const now = this.#connectionsOf(peer)
      if (!oursGoes(this.#self, peer, now)) return
      this.#log('%s and this node dialled each other: closing our connection, keeping its', peer)
      for (const c of now) {
        if (c.direction !== 'outbound') continue
        this.#stats.crossedClosed++
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
