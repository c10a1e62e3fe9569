/**
 * Peer exchange (PEERS, SPEC.md §11.1): what a node tells its neighbours of
 * the other peers, so that each knows more of the mesh than its own links.
 *
 * A greeting tells the newcomer our links and every other peer known alive
 * within SHARE_HORIZON_MS, each with its age: how long ago we last knew it
 * alive (0 for a link; a peer heard of keeps the age it was told, plus the
 * time since). Why more than our links: in a partial mesh a node's links are
 * a few peers, and the peers it hears of from them are their links. A process
 * that restarted learned its first neighbours' links and little else; when
 * those neighbours died next (a crash of their own process), it knew no live
 * address of the rest and stayed apart for good (check:mesh-seeds, 2 regions,
 * seed 396: four instances alone a minute after the heal, every peer they
 * knew dead).
 *
 * Ages keep the dead from being told forever: a peer's age grows everywhere
 * once nobody is linked to it, and past the horizon nobody tells it on, where
 * peers telling each other without ages would keep a dead one fresh by
 * telling it back and forth. A partial mesh also tells one random neighbour
 * every EXCHANGE_EVERY_MS or so (±50 %), so that what nodes know of each
 * other stays fresh while links stay put (memberlist's push-pull, one way).
 */
import { MAX_PEERS_PER_MESSAGE, encodePeers, type PeerAddrs } from './envelope.ts'

/** How long after a peer was last known alive peer exchange still tells it (ms). */
export const SHARE_HORIZON_MS = 120_000

/** How often a node of a partial mesh tells one random neighbour the peers it knows alive (ms, ±50 %). */
export const EXCHANGE_EVERY_MS = 10_000

/** What peer exchange needs of the mesh. */
export interface PeerExchangeHost {
  /** Our links' peers with the addresses their HELLO gave. */
  linkAddrs (): Iterable<{ peer: string, addrs: string[] }>
  /** Peers known alive within `horizon` ms, with their age (redial.ts). */
  alivePeers (horizon: number): Iterable<{ peer: string, addrs: string[], age: number }>
  regionOf (peer: string): string | undefined
  connectedPeers (): string[]
  /** Writes `envelope` on our stream to `peer`, if it is open. */
  sendEnvelope (peer: string, envelope: Uint8Array): void
}

export class PeerExchange {
  readonly #host: PeerExchangeHost
  /** A partial mesh (`maxPeers`): tells the peers known alive too, not only links, and on a timer. */
  readonly #partial: boolean
  #timer: ReturnType<typeof setTimeout> | undefined
  #stopped = false

  constructor (host: PeerExchangeHost, partial: boolean) {
    this.#host = host
    this.#partial = partial
  }

  /**
   * What to tell `to`: our links first (age 0), then, in a partial mesh, the
   * peers known alive within the horizon, freshest first; at most
   * MAX_PEERS_PER_MESSAGE, never `to` itself. A full mesh's links are every
   * live peer already; told more, a newcomer would only dial the dead.
   */
  toTell (to: string): PeerAddrs[] {
    const out = new Map<string, PeerAddrs>()
    const add = (peer: string, addrs: string[], age: number): void => {
      if (peer === to || addrs.length === 0 || out.has(peer) || out.size >= MAX_PEERS_PER_MESSAGE) return
      out.set(peer, { peer, addrs, region: this.#host.regionOf(peer) ?? '', age })
    }
    for (const l of this.#host.linkAddrs()) add(l.peer, l.addrs, 0)
    if (this.#partial) for (const p of this.#host.alivePeers(SHARE_HORIZON_MS)) add(p.peer, p.addrs, p.age)
    return [...out.values()]
  }

  /** Starts telling one random neighbour every EXCHANGE_EVERY_MS or so (a partial mesh). */
  start (): void {
    if (!this.#partial || this.#stopped || this.#timer !== undefined) return
    this.#timer = setTimeout(() => { this.#timer = undefined; this.tick(); this.start() }, EXCHANGE_EVERY_MS * (0.5 + Math.random()))
    this.#timer.unref?.()
  }

  stop (): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  /** Tells one random connected neighbour what we know alive. */
  tick (): void {
    const peers = this.#host.connectedPeers()
    const to = peers[Math.floor(Math.random() * peers.length)]
    if (to === undefined) return
    const list = this.toTell(to)
    if (list.length > 0) this.#host.sendEnvelope(to, encodePeers(list))
  }
}
