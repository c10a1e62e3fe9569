/**
 * Finds a healed path fast: bare TCP connects to peers we cannot hear.
 *
 * After a partition, nothing in TCP or libp2p notices the heal promptly.
 * A connection that survived the cut retransmits with exponential backoff
 * (0.2 s doubling: after a 20 s cut the next try can be 6-12 s away), and a
 * dial that started during the cut waits on SYN retries (1 s, 3 s, 7 s...)
 * or the redialer's own backoff (up to `maxRedialInterval`). Measured in
 * test/netns/heal.test.ts before this: 1.8-2.0 s after a 5 s cut, up to
 * 5.6 s after an 8 s one.
 *
 * So every `interval` a fresh connect (a fresh SYN) goes to each watched
 * peer's TCP addresses, and is closed as soon as it connects: that only
 * shows the path works again. Then the owner dials afresh (silent-peers.ts). A
 * connect that gets no answer is abandoned after a few intervals; several may
 * be in flight for one peer, each a tick apart, so a long round trip (a far
 * region) still gets through while a new SYN still leaves every tick.
 *
 * Cost while a peer is unreachable: one SYN per tick per watched peer, at
 * most PROBES_PER_TICK peers a tick (taken in turn), which bounds the load of
 * a large partition.
 */
import { connect, type Socket } from 'node:net'

/** Peers probed per tick at most; the others wait their turn. */
export const PROBES_PER_TICK = 8
/** An unanswered connect is abandoned after this many intervals. */
const PROBE_LIFETIME_TICKS = 4

export interface TcpTarget { host: string, port: number }

/** The TCP endpoints of multiaddrs like /ip4/…/tcp/…, /ip6/…, /dns4/… (others are skipped). */
export function tcpTargets (addrs: Iterable<string>): TcpTarget[] {
  const out: TcpTarget[] = []
  for (const addr of addrs) {
    const m = /^\/(ip4|ip6|dns4|dns6|dns)\/([^/]+)\/tcp\/(\d+)(?:\/|$)/.exec(addr)
    if (m === null) continue
    const port = Number(m[3])
    if (port > 0 && port < 65536) out.push({ host: m[2] as string, port })
  }
  return out
}

/** Opens a TCP connection and reports whether it connected within `timeoutMs`; closes it either way. */
export type Connector = (target: TcpTarget, timeoutMs: number) => Promise<boolean>

export const tcpConnect: Connector = (target, timeoutMs) => new Promise(resolve => {
  let socket: Socket | undefined
  const done = (ok: boolean): void => {
    clearTimeout(timer)
    socket?.destroy()
    resolve(ok)
  }
  const timer = setTimeout(() => { done(false) }, timeoutMs)
  try {
    socket = connect({ host: target.host, port: target.port })
  } catch {
    done(false)
    return
  }
  socket.once('connect', () => { done(true) })
  socket.once('error', () => { done(false) })
})

interface Watched {
  targets: TcpTarget[]
  inFlight: number
}

export class Prober {
  readonly #interval: number
  readonly #connect: Connector
  readonly #onReachable: (peer: string) => void
  readonly #watched = new Map<string, Watched>()
  #timer: ReturnType<typeof setInterval> | undefined
  /** Round-robin position: the next tick starts after this peer. */
  #cursor = 0
  #stopped = false
  /** Connects started (for stats). */
  probes = 0

  constructor (interval: number, onReachable: (peer: string) => void, connector: Connector = tcpConnect) {
    this.#interval = interval
    this.#onReachable = onReachable
    this.#connect = connector
  }

  get size (): number { return this.#watched.size }

  isWatching (peer: string): boolean { return this.#watched.has(peer) }

  /** Probes `peer` at its TCP addresses until it is found reachable or unwatched; false if it has none. */
  watch (peer: string, addrs: Iterable<string>): boolean {
    if (this.#stopped) return false
    const targets = tcpTargets(addrs)
    if (targets.length === 0) return false
    const w = this.#watched.get(peer)
    if (w !== undefined) { w.targets = targets; return true }
    this.#watched.set(peer, { targets, inFlight: 0 })
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => { this.#tick() }, this.#interval)
      this.#timer.unref?.()
    }
    return true
  }

  unwatch (peer: string): void {
    this.#watched.delete(peer)
    if (this.#watched.size === 0) this.#idle()
  }

  stop (): void {
    this.#stopped = true
    this.#watched.clear()
    this.#idle()
  }

  #idle (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  #tick (): void {
    const peers = [...this.#watched.keys()]
    if (peers.length === 0) return
    let started = 0
    for (let i = 0; i < peers.length && started < PROBES_PER_TICK; i++) {
      const peer = peers[(this.#cursor + i) % peers.length] as string
      const w = this.#watched.get(peer) as Watched
      if (w.inFlight >= PROBE_LIFETIME_TICKS * w.targets.length) continue
      started++
      this.#cursor = (this.#cursor + i + 1) % peers.length
      for (const target of w.targets) void this.#probe(peer, w, target)
    }
  }

  async #probe (peer: string, w: Watched, target: TcpTarget): Promise<void> {
    w.inFlight++
    this.probes++
    let ok = false
    try {
      ok = await this.#connect(target, this.#interval * PROBE_LIFETIME_TICKS)
    } finally {
      w.inFlight--
    }
    // Only the first success of this watch counts: the owner takes it from here.
    if (!ok || this.#stopped || this.#watched.get(peer) !== w) return
    this.unwatch(peer)
    this.#onReachable(peer)
  }
}
