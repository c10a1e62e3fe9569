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
 * frames or PINGs, prove it alive; a stream idle for `keepaliveInterval`
 * carries a PING so an idle peer keeps proving it; and a peer silent for
 * `peerTimeout` is given up (a partition or a frozen process that left TCP
 * open), so the redialer makes a new connection once it can.
 *
 * A tick that comes late (this process's event loop was blocked: a long GC,
 * a debugger) forgives everyone: the bytes peers sent meanwhile are waiting
 * unread in our sockets, and silence we did not observe is not silence.
 */
import type { PeerLink } from './stream-link.ts'
import { encodePing } from './envelope.ts'

export interface LivenessHost {
  /** Every peer link with a live connection. */
  connectedLinks (): Iterable<PeerLink>
  /** Closes every connection to the peer of `link`: it was silent for `silentMs`. */
  giveUp (link: PeerLink, silentMs: number): void
}

export class Liveness {
  readonly #host: LivenessHost
  readonly #keepaliveMs: number
  readonly #timeoutMs: number
  readonly #ping = [encodePing()]
  #timer: ReturnType<typeof setInterval> | undefined
  #lastTick = 0

  constructor (host: LivenessHost, keepaliveMs: number, timeoutMs: number) {
    this.#host = host
    this.#keepaliveMs = keepaliveMs
    this.#timeoutMs = timeoutMs
  }

  start (): void {
    this.#lastTick = performance.now()
    // Ticks at half the keepalive interval, so no stream stays idle much past it.
    this.#timer = setInterval(() => { this.tick(performance.now()) }, Math.max(1, this.#keepaliveMs / 2))
    this.#timer.unref()
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** One round at time `now` (performance.now() ms); public for tests. */
  tick (now: number): void {
    const late = now - this.#lastTick > this.#keepaliveMs
    this.#lastTick = now
    for (const link of this.#host.connectedLinks()) {
      if (late) link.lastHeard = Math.max(link.lastHeard, now)
      const silent = now - link.lastHeard
      if (silent > this.#timeoutMs) {
        link.lastHeard = now // one give-up per silence, not one per tick while the connections close
        this.#host.giveUp(link, silent)
        continue
      }
      if (now - link.lastSent >= this.#keepaliveMs && link.write(this.#ping, Infinity)) link.lastSent = now
    }
  }
}
