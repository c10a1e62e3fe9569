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
  /** Aborts the dial in flight (a probe found the path back while it hung on a dropped SYN). */
  abort: AbortController | undefined
  /** Settles when the dial in flight has ended. */
  dialed: Promise<void> | undefined
  /** When our stream last opened to it (ms, this clock). */
  establishedAt: number
  /** Connections in a row that ended within SHORT_LIVED_MS of our stream opening. */
  shortLived: number
}

/**
 * A connection that ends this soon after our stream opened on it was not a
 * working link (a partial mesh's peer over its bound greets us and lets us
 * go): the next dial backs off instead of coming at once.
 */
const SHORT_LIVED_MS = 5_000

/** What the redialer needs of probe.ts: watch a lost peer's addresses, stop watching it. */
export interface ProbeWatch {
  watch (peer: string, addrs: readonly string[]): boolean
  unwatch (peer: string): void
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
  /** Probes lost peers so a healed path is redialled at once (probe.ts); none: backoff only. */
  probe?: ProbeWatch
  /**
   * A partial mesh's bound (the `maxPeers` option) and how many peers are
   * connected now; none: every known peer is dialled. With a bound, known
   * peers are dialled in random order while fewer than `peers` are connected
   * (so that nodes do not all dial the same few); peers never connected are
   * not forgotten for it; and every ROTATE_INTERVAL_MS or so a node at its
   * bound dials one more known peer (up to twice the bound), so the graph
   * keeps mixing: without it, the two sides of a healed partition would stay
   * apart, each node full of links to its own side.
   */
  bound?: { peers: number, connections: () => number }
  /**
   * With a bound: whether `peer` (undefined: a bootstrap address not yet
   * dialled) may be dialled now, and the order to try peers in (regions.ts:
   * own region first). None: any, in random order.
   */
  policy?: { allowDial: (peer: string | undefined) => boolean, compare: (a: string | undefined, b: string | undefined) => number }
}

/** How often (ms, ±50 %) a node of a partial mesh at its bound adds a link to a random known peer. */
export const ROTATE_INTERVAL_MS = 10_000

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
  readonly #probe: ProbeWatch | undefined
  readonly #bound: { peers: number, connections: () => number } | undefined
  readonly #policy: RedialInit['policy']
  #dialing = 0
  #nextRotation = 0
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
    this.#probe = init.probe
    this.#bound = init.bound
    this.#policy = init.policy
  }

  /** Whether another dial is wanted now (always, without a bound). */
  #wants (): boolean {
    return this.#bound === undefined || this.#bound.connections() + this.#dialing < this.#bound.peers
  }

  /** Peers known by id (bootstrap addresses not yet resolved excluded). */
  get peerCount (): number {
    let n = 0
    for (const k of this.#known.values()) if (k.peer !== undefined && k.bootstrapAddr === undefined) n++
    return n
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
        this.#known.set(key, { peer: undefined, bootstrapAddr: addr, addrs: [addr], bootstrap: true, failures: 0, nextAt: 0, lastSeen: this.#now(), dialing: false, established: false, abort: undefined, dialed: undefined, establishedAt: 0, shortLived: 0 })
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
    this.#probe?.unwatch(peer)
    for (const k of this.#entries(peer)) {
      k.failures = 0
      k.established = true
      k.lastSeen = k.establishedAt = this.#now()
    }
  }

  /**
   * The last connection to `peer` closed: if it was established, retry at
   * the next tick (after a backoff if it lasted less than SHORT_LIVED_MS).
   * `lost`: this node gave the peer up for silence (a partition, most
   * likely): it is also probed, so that the dial after a heal does not wait
   * for this one's SYN retries or the backoff.
   */
  disconnected (peer: string, lost = false): void {
    const now = this.#now()
    let was = false
    for (const k of this.#entries(peer)) {
      k.lastSeen = now
      if (k.established) {
        k.established = false
        was = true
        k.shortLived = now - k.establishedAt < SHORT_LIVED_MS ? k.shortLived + 1 : 0
        k.nextAt = k.shortLived === 0 ? now : now + Math.min(this.#maxInterval, this.#interval * 2 ** (k.shortLived - 1))
      }
    }
    if (was && lost) this.#probe?.watch(peer, this.addrsOf(peer))
  }

  /** Every address known for `peer` (from its HELLO, peer exchange or a bootstrap address). */
  addrsOf (peer: string): string[] {
    const out = new Set<string>()
    for (const k of this.#entries(peer)) for (const a of k.addrs) out.add(withoutPeerId(a))
    return [...out]
  }

  /**
   * A probe reached `peer` again: dial it now, whatever the backoff, and
   * instead of a dial that may hang on a SYN sent during the cut. Once per
   * loss: if this dial fails too, the backoff starts over from
   * `redialInterval`. Every entry of the peer is dialled, its bootstrap
   * address too: the address the probe reached may be only that one (a peer
   * behind a proxy or NAT advertises addresses nobody else can dial).
   */
  dialNow (peer: string): void {
    if (this.#stopped || this.#connected(peer)) return
    for (const k of [...this.#entries(peer)]) {
      void (async () => {
        if (k.dialing) {
          k.abort?.abort(new Error('meshcache: the peer is reachable again; dialling afresh'))
          await k.dialed
        }
        if (k.dialing || this.#stopped || this.#connected(peer) || !this.#isKnown(k)) return
        if (!this.#wants()) return
        k.failures = 0
        this.#log('%s is reachable again: dialling %s at once', peer, k.bootstrapAddr ?? 'its addresses')
        k.dialed = this.#dial(k)
        await k.dialed
      })()
    }
  }

  #isKnown (k: Known): boolean {
    for (const known of this.#known.values()) if (known === k) return true
    return false
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
      k = { peer, bootstrapAddr: undefined, addrs: [], bootstrap: false, failures: 0, nextAt: Infinity, lastSeen: this.#now(), dialing: false, established: false, abort: undefined, dialed: undefined, establishedAt: 0, shortLived: 0 }
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
    const entries = [...this.#known]
    if (this.#bound !== undefined) {
      shuffle(entries)
      const policy = this.#policy
      if (policy !== undefined) entries.sort(([, a], [, b]) => policy.compare(a.peer, b.peer))
    }
    for (const [key, k] of entries) {
      if (k.dialing || k.peer === self) continue
      if (k.bootstrapAddr !== undefined && own.has(withoutPeerId(k.bootstrapAddr))) continue
      if (this.#connected(k.peer)) { k.lastSeen = now; continue }
      // In a partial mesh most known peers are never connected: only failed dials make one unreachable.
      if (this.#bound !== undefined && k.failures === 0) k.lastSeen = now
      if (!k.bootstrap && now - k.lastSeen > this.#forgetAfter) {
        this.#log('forgetting %s, unreachable for %d ms', key, now - k.lastSeen)
        this.#known.delete(key)
        if (k.peer !== undefined && k.bootstrapAddr === undefined) this.#probe?.unwatch(k.peer)
        continue
      }
      if (k.nextAt > now) continue
      if (!this.#wants()) continue
      if (this.#bound !== undefined && this.#policy?.allowDial(k.peer) === false) continue
      k.dialed = this.#dial(k)
    }
    if (this.#bound !== undefined) this.#rotate(entries, now)
    this.#schedule(this.#interval)
  }

  #rotate (entries: Array<[string, Known]>, now: number): void {
    const bound = this.#bound
    if (bound === undefined || now < this.#nextRotation || this.#wants()) return
    this.#nextRotation = now + ROTATE_INTERVAL_MS * (0.5 + Math.random())
    if (bound.connections() + this.#dialing >= 2 * bound.peers - 1) return
    const self = this.#node.peerId.toString()
    for (const [, k] of entries) {
      if (k.dialing || k.peer === undefined || k.peer === self || k.bootstrapAddr !== undefined || this.#connected(k.peer) || k.nextAt > now) continue
      if (this.#policy?.allowDial(k.peer) === false) continue
      this.#log('at the bound: one more link, to %s', k.peer)
      k.dialed = this.#dial(k)
      return
    }
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
    this.#dialing++
    const abort = k.abort = new AbortController()
    try {
      const conn = await this.#node.dial(target, { signal: AbortSignal.any([abort.signal, AbortSignal.timeout(this.#dialTimeout)]) })
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
      this.#dialing--
      k.abort = undefined
    }
  }
}

/** The address a dial tried, as the user wrote it (the first one when a peer has several). */
function describeTarget (target: Multiaddr | Multiaddr[]): string {
  const list = Array.isArray(target) ? target : [target]
  return list.map(a => a.toString()).join(', ')
}

function shuffle<T> (items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    const t = items[i] as T
    items[i] = items[j] as T
    items[j] = t
  }
}

/** libp2p refuses to dial its own peer id, found out after the handshake when the address had none. */
function isSelfDial (err: unknown): boolean {
  return (err as Error)?.name === 'InvalidPeerIdError' && /dial self/i.test((err as Error).message)
}
