/**
 * Keeps the mesh connected. libp2p itself redials only peers tagged
 * KEEP_ALIVE, 5 times; after a longer partition nothing would reconnect. So
 * meshcache remembers every bootstrap address and every peer it has seen or
 * heard of (peer exchange) and redials the unreachable ones with exponential
 * backoff, forever for bootstrap addresses, for `forgetAfter` ms for others.
 *
 * This file is the machinery: the table of known peers, the tick that dials
 * those due, and the immediate dial when a probe finds a lost peer again
 * (dialNow). The policy (backoff, short-lived links, a partial mesh's order
 * and rotation) is in dial-policy.ts; addresses in dial-target.ts.
 */
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import type { Logger } from '@libp2p/interface'
import {
  ROTATE_INTERVAL_MS, afterEstablished, backOff, dialOrder, isLost, neededRank, newEntry,
  type Backoff, type DialBound, type DialPolicy, type Known
} from './dial-policy.ts'
import { P2P, describeTarget, dialTarget, isSelfDial, withoutPeerId } from './dial-target.ts'

export { ROTATE_INTERVAL_MS } from './dial-policy.ts'
export { withoutPeerId } from './dial-target.ts'

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
  /** A partial mesh's bound (dial-policy.ts); none: every known peer is dialled. */
  bound?: DialBound
  /** With a bound: which peers may be dialled and in what order (dial-policy.ts). */
  policy?: DialPolicy
}

export class Redialer {
  readonly #node: Libp2p
  readonly #isConnected: (peer: string) => boolean
  readonly #log: Logger
  readonly #interval: number
  readonly #backoffs: Backoff
  readonly #dialTimeout: number
  readonly #forgetAfter: number
  readonly #now: () => number
  readonly #onDial: (ok: boolean) => void
  readonly #onDialError: (address: string, error: unknown) => void
  readonly #probe: ProbeWatch | undefined
  readonly #bound: DialBound | undefined
  readonly #policy: DialPolicy | undefined
  #dialing = 0
  #nextRotation = 0
  /** The dial the policy needs past the bound (DialPolicy.needs), while in flight: one at a time. */
  #needDial: Known | undefined
  /** By peer id, or by address for bootstrap entries whose id is unknown. */
  readonly #known = new Map<string, Known>()
  #timer: ReturnType<typeof setTimeout> | undefined
  #stopped = false

  constructor (init: RedialInit) {
    this.#node = init.node
    this.#isConnected = init.isConnected
    this.#log = init.log
    this.#interval = init.interval
    this.#backoffs = { interval: init.interval, maxInterval: init.maxInterval }
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
        this.#known.set(key, newEntry(undefined, addr, this.#now()))
      }
    }
  }

  /**
   * Records a peer and its dialable addresses. `dialSoon` schedules a dial at
   * the next tick; otherwise it waits one interval, so that of two peers
   * learning about each other only one dials unless that one fails to.
   * `age`: how many ms before now the teller last knew the peer alive (0: it
   * is linked to it).
   */
  learn (peer: string, addrs: readonly string[], dialSoon: boolean, age = 0): void {
    if (peer === this.#node.peerId.toString()) return
    const k = this.#entry(peer)
    k.aliveAt = Math.max(k.aliveAt, this.#now() - age)
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
      k.letGo = false
      k.lastSeen = k.establishedAt = k.aliveAt = this.#now()
    }
  }

  /** Looks at once whether a dial is due (a link the policy counted is being let go: it may need another now). */
  reconsider (): void {
    this.#kick()
  }

  /** `peer`'s link is being let go on purpose (by us, or by the peer's SHED): when it closes, it is not lost (dial-policy.ts isLost). */
  letGo (peer: string): void {
    for (const k of this.#entries(peer)) k.letGo = true
  }

  /**
   * The last connection to `peer` closed: if it was established, retry at
   * the next tick (after a backoff if it lasted less than dial-policy.ts's SHORT_LIVED_MS).
   * `lost`: this node gave the peer up for silence (a partition, most
   * likely): it is also probed, so that the dial after a heal does not wait
   * for this one's SYN retries or the backoff.
   */
  disconnected (peer: string, lost = false): void {
    const now = this.#now()
    let was = false
    for (const k of this.#entries(peer)) {
      k.lastSeen = k.aliveAt = now
      if (k.established) {
        k.established = false
        was = true
        afterEstablished(k, this.#backoffs, now)
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
        if (!this.#mayRestore()) return
        k.failures = 0
        this.#log('%s is reachable again: dialling %s at once', peer, k.bootstrapAddr ?? 'its addresses')
        k.dialed = this.#dial(k)
        await k.dialed
      })()
    }
  }

  /**
   * Whether a lost link found reachable again may be dialled now. Without a
   * bound, always. In a partial mesh also at the bound, up to twice it (as
   * rotation): the node may have refilled its bound from its own side during
   * the cut, and the lost link may be the only one across it (a region's far
   * link, which regions.ts lets only holders dial, and a tick never dials at
   * the bound). Not the policy's call: this puts back a link the mesh had
   * chosen before the cut; one not needed any more is shed as usual.
   */
  #mayRestore (): boolean {
    return this.#bound === undefined || this.#bound.connections() + this.#dialing < 2 * this.#bound.peers
  }

  #isKnown (k: Known): boolean {
    for (const known of this.#known.values()) if (known === k) return true
    return false
  }

  *#entries (peer: string): Generator<Known> {
    for (const k of this.#known.values()) if (k.peer === peer) yield k
  }

  /**
   * The peers known alive within the last `horizon` ms, freshest first, with
   * their addresses and how long ago (`age`, 0 while connected): what peer
   * exchange tells a neighbour (peer-exchange.ts).
   */
  alivePeers (horizon: number): Array<{ peer: string, addrs: string[], age: number }> {
    const now = this.#now()
    const self = this.#node.peerId.toString()
    // one pass: a peer's entries (by id, by a bootstrap address) each add their addresses, the freshest sets its age
    const found = new Map<string, { peer: string, addrs: Set<string>, age: number }>()
    for (const k of this.#known.values()) {
      if (k.peer === undefined || k.peer === self) continue
      let f = found.get(k.peer)
      if (f === undefined) found.set(k.peer, f = { peer: k.peer, addrs: new Set(), age: Infinity })
      for (const a of k.addrs) f.addrs.add(withoutPeerId(a))
      if (k.aliveAt > 0) f.age = Math.min(f.age, this.#connected(k.peer) ? 0 : Math.max(0, now - k.aliveAt))
    }
    const out: Array<{ peer: string, addrs: string[], age: number }> = []
    for (const f of found.values()) if (f.age <= horizon && f.addrs.size > 0) out.push({ peer: f.peer, addrs: [...f.addrs], age: f.age })
    return out.sort((a, b) => a.age - b.age)
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
      k = newEntry(peer, undefined, this.#now())
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
    if (this.#bound !== undefined) dialOrder(entries, this.#policy)
    let needed: Known | undefined
    for (const [key, k] of entries) {
      if (k.dialing || k.peer === self) continue
      if (k.bootstrapAddr !== undefined && own.has(withoutPeerId(k.bootstrapAddr))) continue
      if (this.#connected(k.peer)) { k.lastSeen = k.aliveAt = now; continue }
      // In a partial mesh most known peers are never connected: only failed dials make one unreachable.
      if (this.#bound !== undefined && k.failures === 0) k.lastSeen = now
      if (!k.bootstrap && now - k.lastSeen > this.#forgetAfter) {
        this.#log('forgetting %s, unreachable for %d ms', key, now - k.lastSeen)
        this.#known.delete(key)
        if (k.peer !== undefined && k.bootstrapAddr === undefined) this.#probe?.unwatch(k.peer)
        continue
      }
      if (k.nextAt > now) continue
      const atBound = !this.#wants()
      // At the bound: a lost link is put back (isLost), or the policy needs the dial.
      const restore = atBound && isLost(k) && this.#mayRestore() && this.#policy?.restores?.(k.peer) !== false
      if (this.#bound !== undefined && this.#policy?.allowDial(k.peer) === false) continue
      if (atBound && !restore) {
        if (this.#needed(k) && (needed === undefined || neededRank(k) < neededRank(needed))) needed = k
        continue
      }
      k.dialed = this.#dial(k)
    }
    if (needed !== undefined && this.#needed(needed)) {
      this.#needDial = needed
      needed.dialed = this.#dial(needed)
    }
    if (this.#bound !== undefined) this.#rotate(entries, now)
    this.#schedule(this.#interval)
  }

  /**
   * At the bound: whether the policy needs a dial of `k` all the same
   * (DialPolicy.needs), up to twice the bound, one at a time. Of those due
   * in a tick, the tick dials the one neededRank puts first.
   */
  #needed (k: Known): boolean {
    const bound = this.#bound
    if (bound === undefined || this.#needDial !== undefined || this.#policy?.needs?.(k.peer) !== true) return false
    return bound.connections() + this.#dialing < 2 * bound.peers
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
    return backOff(k, this.#backoffs, this.#now())
  }

  async #dial (k: Known): Promise<void> {
    let target: Multiaddr | Multiaddr[]
    try {
      const t = dialTarget(k.peer, k.bootstrapAddr, k.addrs)
      if (t === undefined) { k.nextAt = Infinity; return }
      target = t
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
      if (this.#needDial === k) this.#needDial = undefined
    }
  }
}
