/**
 * `ready({ peers, timeout })`: waiting for peers to connect, and, when they
 * do not, saying what was tried. The cache feeds it every peer:join and
 * every failed dial (peer:error); a timeout lists the bootstrap addresses
 * and the latest failures with their codes.
 */
import { ErrorCode, MeshCacheError } from '../errors.ts'
import type { PeerErrorEvent } from '../net/transport.ts'

/** Failures kept for the timeout's message: the latest few say enough. */
const RECENT_ERRORS = 8

export interface PeerWaitHost {
  /** Peers connected in the namespace now. */
  connected (): number
  readonly namespace: string
  /** The `peers` option as given. */
  readonly bootstrap: readonly string[]
}

export class PeerWaiters {
  readonly #host: PeerWaitHost
  readonly #waiting = new Set<{ check: () => void, fail: (error: Error) => void }>()
  readonly #recent: PeerErrorEvent[] = []

  constructor (host: PeerWaitHost) {
    this.#host = host
  }

  wait (options: { peers?: number | undefined, timeout?: number | undefined }): Promise<void> {
    const want = options.peers ?? 1
    const timeout = options.timeout ?? 10_000
    if (!Number.isSafeInteger(want) || want < 0) return Promise.reject(new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `ready: peers must be a non-negative integer, got ${String(want)}`))
    if (!Number.isSafeInteger(timeout) || timeout <= 0) return Promise.reject(new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `ready: timeout must be a positive integer of ms, got ${String(timeout)}`))
    if (this.#host.connected() >= want) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const done = (): void => { clearTimeout(timer); this.#waiting.delete(waiter) }
      const waiter = {
        check: () => { if (this.#host.connected() >= want) { done(); resolve() } },
        fail: (error: Error) => { done(); reject(error) },
      }
      const timer = setTimeout(() => waiter.fail(this.#timeout(want, timeout)), timeout)
      this.#waiting.add(waiter)
    })
  }

  /** A peer joined: waiters with enough peers resolve. */
  joined (): void {
    for (const w of [...this.#waiting]) w.check()
  }

  /** A dial failed: remembered for a timeout's message. */
  failed (event: PeerErrorEvent): void {
    this.#recent.push(event)
    if (this.#recent.length > RECENT_ERRORS) this.#recent.shift()
  }

  /** The cache closed: every waiter fails with `error`. */
  failAll (error: Error): void {
    for (const w of [...this.#waiting]) w.fail(error)
  }

  #timeout (want: number, timeout: number): MeshCacheError {
    const { bootstrap, namespace } = this.#host
    const tried = this.#recent.map((e) => `${e.address}: ${e.error.code} (${e.error.message})`)
    return new MeshCacheError(ErrorCode.READY_TIMEOUT,
      `${this.#host.connected()} of ${want} peer(s) connected in namespace ${JSON.stringify(namespace)} after ${timeout} ms; ` +
      `${bootstrap.length === 0 ? 'no `peers` given' : `bootstrap ${bootstrap.join(', ')}`}; ` +
      (tried.length === 0 ? 'no failed attempt reported' : `failed attempts: ${tried.join('; ')}`))
  }
}
