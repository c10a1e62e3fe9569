/**
 * Liveness of connected peers, judged by what arrives rather than by a round
 * trip.
 *
 * libp2p's connection monitor (off in node.ts) opens a ping stream on every
 * connection every 10 s and aborts the connection when the answer takes over
 * 5 s. Under saturation the answer waits behind megabytes of queued frames,
 * so it aborted healthy connections at the busiest moment: every frame in
 * flight was lost and had to be repaired (bench:mesh saturation fell from
 * ~100,000 to ~17,000 writes/s in those runs). Here any bytes from a peer,
 * frames or PINGs, prove it alive; every stream carries a PING each
 * `keepaliveInterval`, busy or not; and a peer silent for `peerTimeout` is
 * given up (a partition or a frozen process that left TCP open), so the
 * redialer makes a new connection once it can.
 *
 * Only a peer that has sent a PING is ever given up: one that never does runs
 * a meshcache without liveness (it keeps libp2p's own ping), and judging its
 * idle silence would drop it every `peerTimeout`.
 *
 * Before that, a peer silent for SUSPECT_AFTER_KEEPALIVES keepalives (a PING
 * overdue) is reported as suspect, checked every `probeInterval`: the mesh
 * then probes its address (probe.ts), so that when the path comes back a
 * fresh connection replaces the one stalled in TCP's retransmission backoff.
 * Suspicion costs nothing else: the connection stays until `peerTimeout`.
 *
 * Time this process did not run (a tick that comes late: a long GC, a
 * synchronous stretch, a debugger) is not counted as anyone's silence: what
 * peers sent meanwhile waits unread in our sockets. And the silence check
 * runs in a setImmediate after the tick, once the poll phase has read what
 * arrived. A check (or a suspicion check) that runs more than two tick
 * periods after the last tick judges nothing: the process stalled between
 * the two (in an I/O callback of the same turn), and only the next tick
 * excuses that stall.
 */
import type { PeerLink } from './stream-link.ts'
import { encodePing } from './envelope.ts'

export interface LivenessHost {
  /** Every peer link with a live connection. */
  connectedLinks (): Iterable<PeerLink>
  /** Closes every connection to the peer of `link`: it was silent for `silentMs`. */
  giveUp (link: PeerLink, silentMs: number): void
  /** This process did not run timers for `ms` more than a tick (logged: it explains silences peers see). */
  stalled (ms: number): void
  /** `link`'s peer has been silent for `silentMs`, past a PING that is due (it may be cut off). */
  suspect (link: PeerLink, silentMs: number): void
  /** A suspect peer was heard from again. */
  recovered (link: PeerLink): void
}

/** A peer is suspect once silent this many keepalive intervals: its PING is overdue. */
export const SUSPECT_AFTER_KEEPALIVES = 1.25

/** Stalls shorter than this are timer jitter, not worth a log line. */
const STALL_WORTH_LOGGING_MS = 1_000

export class Liveness {
  readonly #host: LivenessHost
  readonly #keepaliveMs: number
  readonly #timeoutMs: number
  readonly #periodMs: number
  readonly #suspectMs: number
  readonly #suspectCheckMs: number
  readonly #ping = [encodePing()]
  #timer: ReturnType<typeof setInterval> | undefined
  #suspectTimer: ReturnType<typeof setInterval> | undefined
  #lastTick = 0

  /** `suspectCheckMs` 0: no suspicion (nothing would probe the suspects). */
  constructor (host: LivenessHost, keepaliveMs: number, timeoutMs: number, suspectCheckMs = 0) {
    this.#host = host
    this.#keepaliveMs = keepaliveMs
    this.#timeoutMs = timeoutMs
    // Ticks at half the keepalive interval, so PINGs leave about on time.
    this.#periodMs = Math.max(1, keepaliveMs / 2)
    this.#suspectMs = keepaliveMs * SUSPECT_AFTER_KEEPALIVES
    this.#suspectCheckMs = suspectCheckMs
  }

  /** Silence (ms) past which a peer is suspect. */
  get suspectMs (): number { return this.#suspectMs }

  start (): void {
    if (this.#timer !== undefined) return
    this.#lastTick = performance.now()
    this.#timer = setInterval(() => {
      this.tick(performance.now())
      setImmediate(() => { this.check(performance.now()) })
    }, this.#periodMs)
    this.#timer.unref()
    if (this.#suspectCheckMs > 0) {
      this.#suspectTimer = setInterval(() => {
        setImmediate(() => { this.suspicions(performance.now()) })
      }, this.#suspectCheckMs)
      this.#suspectTimer.unref()
    }
  }

  stop (): void {
    clearInterval(this.#timer)
    clearInterval(this.#suspectTimer)
    this.#timer = undefined
    this.#suspectTimer = undefined
  }

  /** Reports peers that fell silent past a due PING, and suspects heard from again. Public for tests. */
  suspicions (now: number): void {
    if (this.#stalledSinceTick(now)) return
    for (const link of this.#host.connectedLinks()) {
      if (!link.pings) continue
      const silent = now - link.lastHeard
      if (silent > this.#suspectMs) {
        // Reported again every check while silent: the mesh re-probes after a probe's dial failed.
        link.suspect = true
        this.#host.suspect(link, silent)
      } else if (link.suspect) {
        link.suspect = false
        this.#host.recovered(link)
      }
    }
  }

  /**
   * Sends the PINGs that are due and excuses the time this process did not
   * run; `now` is performance.now() ms. Public for tests.
   */
  tick (now: number): void {
    // (A first tick without start(), in tests, only sets the baseline.)
    const overrun = this.#lastTick === 0 ? 0 : now - this.#lastTick - this.#periodMs
    this.#lastTick = now
    if (overrun >= STALL_WORTH_LOGGING_MS) this.#host.stalled(overrun)
    // A PING is due a keepalive after the last one, give or take half a tick.
    const due = this.#keepaliveMs - this.#periodMs / 2
    for (const link of this.#host.connectedLinks()) {
      if (overrun > 0) link.lastHeard = Math.min(now, link.lastHeard + overrun)
      if (now - link.lastPing >= due && link.write(this.#ping, Infinity)) link.lastPing = now
    }
  }

  /** Whether `now` is over two tick periods past the last tick: a stall the next tick has yet to excuse. */
  #stalledSinceTick (now: number): boolean {
    return this.#lastTick !== 0 && now - this.#lastTick > this.#periodMs * 2
  }

  /** Gives up the peers that have been silent past the timeout. Public for tests. */
  check (now: number): void {
    if (this.#stalledSinceTick(now)) return
    for (const link of this.#host.connectedLinks()) {
      if (!link.pings) continue
      const silent = now - link.lastHeard
      if (silent <= this.#timeoutMs) continue
      link.lastHeard = now // one give-up per silence, not one per tick while the connections close
      this.#host.giveUp(link, silent)
    }
  }
}
