/**
 * Keeps the mesh connected. libp2p itself redials only peers tagged
 * KEEP_ALIVE, 5 times; after a longer partition nothing would reconnect. So
 * meshcache remembers every bootstrap address and every peer it has seen or
 * heard of (peer exchange) and redials the unreachable ones with exponential
 * backoff, forever for bootstrap addresses, for `forgetAfter` ms for others.
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import type { Logger } from '@libp2p/interface'

interface Known {
  /** The peer id, once known (from the address or from the peer's HELLO). */
  peer: string | undefined
  /** A bootstrap address without peer id: always dialled as such. */
  bootstrapAddr: string | undefined
  addrs: string[]
  bootstrap: boolean
  failures: number
  nextAt: number
  lastSeen: number
  dialing: boolean
  /** Our stream to it opened on the current connection (not just a TCP + handshake). */
  established: boolean
}

export interface RedialInit {
  node: Libp2p
  log: Logger
  /** Whether any connection to `peer` is open now. */
  isConnected: (peer: string) => boolean
  interval: number
  maxInterval: number
  dialTimeout: number
  forgetAfter: number
  /** Clock, injectable for tests. */
  now?: () => number
  onDial?: (ok: boolean) => void
  /** A dial failed: the address tried and the error, classified (peer-errors.ts). */
  onDialError?: (address: string, error: unknown) => void
}

const P2P = '/p2p/'

/** `addr` without its `/p2p/<id>` suffix: how bootstrap addresses and our own are compared. */
export function withoutPeerId (addr: string): string {
  const at = addr.indexOf(P2P)
  return at < 0 ? addr : addr.slice(0, at)
}

export class Redialer {
  readonly #node: Libp2p
  readonly #isConnected: (peer: string) => boolean
  readonly #log: Logger
  readonly #interval: number
  readonly #maxInterval: number
  readonly #dialTimeout: number
  readonly #forgetAfter: number
  readonly #now: () => number
  readonly #onDial: (ok: boolean) => void
  readonly #onDialError: (address: string, error: unknown) => void
  /** By peer id, or by address for bootstrap entries whose id is unknown. */
  readonly #known = new Map<string, Known>()
  #timer: ReturnType<typeof setTimeout> | undefined
  #stopped = false

  constructor (init: RedialInit) {
    this.#node = init.node
    this.#isConnected = init.isConnected
    this.#log = init.log
    this.#interval = init.interval
    this.#maxInterval = init.maxInterval
    this.#dialTimeout = init.dialTimeout
    this.#forgetAfter = init.forgetAfter
    this.#now = init.now ?? Date.now
    this.#onDial = init.onDial ?? (() => {})
    this.#onDialError = init.onDialError ?? (() => {})
  }

  /** Adds a bootstrap address, with or without `/p2p/<id>`; dialled at the next tick. */
  addBootstrap (addr: string): void {
    const at = addr.lastIndexOf(P2P)
    if (at >= 0) {
      const peer = addr.slice(at + P2P.length)
      const k = this.#entry(peer)
      k.bootstrap = true
      const base = addr.slice(0, at)
      if (!k.addrs.includes(base)) k.addrs.unshift(base)
      k.nextAt = 0
    } else {
      const key = `addr:${addr}`
      if (!this.#known.has(key)) {
        this.#known.set(key, { peer: undefined, bootstrapAddr: addr, addrs: [addr], bootstrap: true, failures: 0, nextAt: 0, lastSeen: this.#now(), dialing: false, established: false })
      }
    }
  }

  /**
   * Records a peer and its dialable addresses. `dialSoon` schedules a dial at
   * the next tick; otherwise it waits one interval, so that of two peers
   * learning about each other only one dials unless that one fails to.
   */
  learn (peer: string, addrs: readonly string[], dialSoon: boolean): void {
    if (peer === this.#node.peerId.toString()) return
    const k = this.#entry(peer)
    if (addrs.length > 0) k.addrs = [...new Set([...addrs, ...k.addrs])].slice(0, 16)
    for (const a of addrs) {
      const b = this.#known.get(`addr:${a}`)
      if (b !== undefined) b.peer = peer
    }
    if (!this.#connected(peer) && k.failures === 0) {
      k.nextAt = Math.min(k.nextAt, this.#now() + (dialSoon ? 0 : this.#interval))
      if (dialSoon) this.#kick()
    }
  }

  /**
   * Our stream to `peer` opened: the connection really works. Only this
   * resets the backoff; a peer that accepts connections and drops them at
   * once (it blocks us, or is full) keeps backing off instead of being
   * redialled in a tight loop.
   */
  established (peer: string): void {
    if (peer === this.#node.peerId.toString()) return
    this.#entry(peer) // every peer ever seen is remembered, even before its HELLO gives its addresses
    for (const k of this.#entries(peer)) {
      k.failures = 0
      k.established = true
      k.lastSeen = this.#now()
    }
  }

  /** The last connection to `peer` closed: if it was established, retry at the next tick. */
  disconnected (peer: string): void {
    for (const k of this.#entries(peer)) {
      k.lastSeen = this.#now()
      if (k.established) {
        k.established = false
        k.nextAt = this.#now()
      }
    }
  }

  *#entries (peer: string): Generator<Known> {
    for (const k of this.#known.values()) if (k.peer === peer) yield k
  }

  knownPeers (): string[] {
    const out: string[] = []
    for (const k of this.#known.values()) if (k.peer !== undefined && k.bootstrapAddr === undefined) out.push(k.peer)
    return out
  }

  start (): void {
    this.#schedule(0)
  }

  stop (): void {
    this.#stopped = true
    clearTimeout(this.#timer)
  }

  #entry (peer: string): Known {
    let k = this.#known.get(peer)
    if (k === undefined) {
      k = { peer, bootstrapAddr: undefined, addrs: [], bootstrap: false, failures: 0, nextAt: Infinity, lastSeen: this.#now(), dialing: false, established: false }
      this.#known.set(peer, k)
    }
    return k
  }

  #connected (peer: string | undefined): boolean {
    return peer !== undefined && this.#isConnected(peer)
  }

  #kick (): void {
    this.#schedule(0)
  }

  #schedule (delay: number): void {
    if (this.#stopped) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => { this.#tick() }, delay)
    this.#timer.unref?.()
  }

  #tick (): void {
    const now = this.#now()
    const self = this.#node.peerId.toString()
    // Our addresses carry /p2p/<id>; a bootstrap address usually does not.
    const own = new Set(this.#node.getMultiaddrs().map(a => withoutPeerId(a.toString())))
    for (const [key, k] of this.#known) {
      if (k.dialing || k.peer === self) continue
      if (k.bootstrapAddr !== undefined && own.has(withoutPeerId(k.bootstrapAddr))) continue
      if (this.#connected(k.peer)) { k.lastSeen = now; continue }
      if (!k.bootstrap && now - k.lastSeen > this.#forgetAfter) {
        this.#log('forgetting %s, unreachable for %d ms', key, now - k.lastSeen)
        this.#known.delete(key)
        continue
      }
      if (k.nextAt > now) continue
      void this.#dial(k)
    }
    this.#schedule(this.#interval)
  }

  #backoff (k: Known): number {
    k.failures++
    const backoff = Math.min(this.#maxInterval, this.#interval * 2 ** (k.failures - 1))
    k.nextAt = this.#now() + backoff * (0.8 + 0.4 * Math.random())
    return backoff
  }

  async #dial (k: Known): Promise<void> {
    let target: Multiaddr | Multiaddr[]
    try {
      if (k.bootstrapAddr !== undefined) {
        target = multiaddr(k.bootstrapAddr)
      } else {
        if (k.peer === undefined || k.addrs.length === 0) { k.nextAt = Infinity; return }
        const peer = k.peer
        target = k.addrs.map(a => multiaddr(a.includes(P2P) ? a : `${a}${P2P}${peer}`))
      }
    } catch (err) {
      this.#log('cannot parse the addresses of %s: %s', k.peer ?? k.bootstrapAddr, (err as Error).message)
      k.nextAt = Infinity
      return
    }
    k.dialing = true
    try {
      const conn = await this.#node.dial(target, { signal: AbortSignal.timeout(this.#dialTimeout) })
      if (k.bootstrapAddr !== undefined) k.peer = conn.remotePeer.toString()
      // back off as if it failed until established() says the link works
      this.#backoff(k)
      this.#onDial(true)
    } catch (err) {
      if (isSelfDial(err)) {
        // One of our own addresses under another name (a shared bootstrap
        // list, a DNS name of this host): never dial it again.
        k.peer = this.#node.peerId.toString()
        this.#log('%s is this node; not dialling it again', k.bootstrapAddr ?? k.peer)
        return
      }
      const backoff = this.#backoff(k)
      this.#log('dial %s failed (%d in a row), next in ~%d ms: %s', k.peer ?? k.bootstrapAddr, k.failures, backoff, (err as Error).message)
      this.#onDial(false)
      this.#onDialError(describeTarget(target), err)
    } finally {
      k.dialing = false
    }
  }
}

/** The address a dial tried, as the user wrote it (the first one when a peer has several). */
function describeTarget (target: Multiaddr | Multiaddr[]): string {
  const list = Array.isArray(target) ? target : [target]
  return list.map(a => a.toString()).join(', ')
}

/** libp2p refuses to dial its own peer id, found out after the handshake when the address had none. */
function isSelfDial (err: unknown): boolean {
  return (err as Error)?.name === 'InvalidPeerIdError' && /dial self/i.test((err as Error).message)
}
