/**
 * Chooses the one instance that reads a single-consumer feed (a PostgreSQL
 * replication slot, a MySQL binlog position), deterministically, from
 * membership state alone: no extra messages, no lease store.
 *
 * Every instance that runs the source advertises itself under the feed's
 * name (`cache.advertise(name, { holds })`). Candidates are this instance
 * and the live members connected to it that advertise that name. The rule,
 * applied by every candidate to the same state:
 *
 *   - if some candidates advertise `holds: true`, the lowest origin of them
 *     keeps the feed (a holder is never displaced by a newcomer, so a join
 *     costs no handover);
 *   - otherwise the lowest origin of all candidates takes it.
 *
 * Views can differ for a moment (a member not yet heard of, a connection
 * not yet up), so two instances may both believe they are elected. The feed
 * itself refuses the second consumer (PostgreSQL: "slot is active"); the
 * loser retries, hears the winner's `holds: true` and stands by. A holder
 * that sees a lower-origin holder steps down. A dead holder's connection
 * drops (kill -9 closes its sockets at once), it leaves the candidates, and
 * the next evaluation elects another: the failover time is the transport's
 * detection of the dead peer plus one evaluation interval plus the feed's
 * own takeover (SPEC.md "Change sources" gives the measured bound).
 */

/** What the election needs from a cache: membership with advertised metadata. */
export interface ElectionHost {
  readonly origin: string
  advertise(name: string, value: unknown): void
  peers(): Array<{ origin: string, peer: string, meta?: Record<string, unknown> }>
  connectedPeers(): string[]
}

export interface ElectionOptions {
  /** How often the rule is re-applied (membership has no change event the election could wait on). @default 100 */
  intervalMs?: number
  /** Called when this instance becomes (true) or stops being (false) the elected reader. */
  onChange(elected: boolean): void
}

interface Advert { holds?: unknown }

export class ReaderElection {
  readonly #host: ElectionHost
  readonly #name: string
  readonly #onChange: (elected: boolean) => void
  readonly #timer: NodeJS.Timeout
  #holds = false
  #elected = false
  #withdrawnUntil = 0
  #stopped = false

  constructor (host: ElectionHost, name: string, options: ElectionOptions) {
    this.#host = host
    this.#name = name
    this.#onChange = options.onChange
    this.#advertise()
    this.#timer = setInterval(() => { this.evaluate() }, options.intervalMs ?? 100)
    this.#timer.unref()
  }

  /** Whether this instance is the elected reader now. */
  get elected (): boolean {
    return this.#elected
  }

  /** Says whether this instance holds the feed (set once it really reads, cleared when it stops). */
  setHolds (holds: boolean): void {
    if (this.#holds === holds || this.#stopped) return
    this.#holds = holds
    this.#advertise()
    this.evaluate()
  }

  /**
   * Leaves the candidates for `ms` (a reader that cannot reach the feed lets
   * another try), then comes back.
   */
  withdraw (ms: number): void {
    this.#withdrawnUntil = Date.now() + ms
    this.#holds = false
    this.#host.advertise(this.#name, undefined)
    this.evaluate()
  }

  /** Applies the rule now; calls onChange when the outcome changed. */
  evaluate (): void {
    if (this.#stopped) return
    const withdrawn = this.#withdrawnUntil > Date.now()
    if (!withdrawn && this.#withdrawnUntil !== 0) {
      this.#withdrawnUntil = 0
      this.#advertise()
    }
    const elected = !withdrawn && this.#winner() === this.#host.origin
    if (elected === this.#elected) return
    this.#elected = elected
    this.#onChange(elected)
  }

  /** The origin the rule picks among the current candidates. */
  #winner (): string {
    const self = this.#host.origin
    const connected = new Set(this.#host.connectedPeers())
    let lowestHolder = this.#holds ? self : undefined
    let lowest = self
    for (const p of this.#host.peers()) {
      const advert = p.meta?.[this.#name] as Advert | undefined
      if (advert === undefined || advert === null || typeof advert !== 'object' || !connected.has(p.peer)) continue
      if (p.origin < lowest) lowest = p.origin
      if (advert.holds === true && (lowestHolder === undefined || p.origin < lowestHolder)) lowestHolder = p.origin
    }
    return lowestHolder ?? lowest
  }

  #advertise (): void {
    this.#host.advertise(this.#name, { holds: this.#holds })
  }

  stop (): void {
    if (this.#stopped) return
    this.#stopped = true
    clearInterval(this.#timer)
    try {
      this.#host.advertise(this.#name, undefined)
    } catch {
      // the cache is already closed: its membership is gone with it
    }
  }
}
