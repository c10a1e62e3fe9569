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
 *
 * In a partial mesh most candidates are not neighbours: a member's state
 * reaches us through one, which stays connected when the member dies, and
 * membership keeps the state until it is stale (30 s). So every candidate
 * beats: its advert carries a counter it moves every `heartbeatMs`, and a
 * candidate whose counter has not moved here for three beats (on our clock)
 * is not counted. A candidate of an older version, without the counter, is
 * judged by its connection alone.
 */

/** What the election needs from a cache: membership with advertised metadata. */
export interface ElectionHost {
  readonly origin: string
  advertise(name: string, value: unknown): void
  /** `connected`, where given (cache.peers()), counts as well as a connection to `peer` (a partial mesh's rule, SPEC §8). */
  peers(): Array<{ origin: string, peer: string, meta?: Record<string, unknown>, connected?: boolean }>
  connectedPeers(): string[]
}

export interface ElectionOptions {
  /** How often the rule is re-applied (membership has no change event the election could wait on). @default 100 */
  intervalMs?: number
  /** Called when this instance becomes (true) or stops being (false) the elected reader. */
  onChange(elected: boolean): void
  /** How often a candidate moves its advert's counter; one silent for three of them is not counted. @default 1000 */
  heartbeatMs?: number
  /** The clock, in ms (tests): durations only, so monotonic. @default performance.now */
  now?: () => number
}

interface Advert { holds?: unknown, beat?: unknown }

/** Beats a candidate may miss before it is not counted. */
const MISSED_BEATS = 3

export class ReaderElection {
  readonly #host: ElectionHost
  readonly #name: string
  readonly #onChange: (elected: boolean) => void
  readonly #timer: NodeJS.Timeout
  #holds = false
  #elected = false
  #withdrawnUntil = 0
  #stopped = false
  readonly #heartbeatMs: number
  readonly #now: () => number
  #beat = 0
  #beatAt = 0
  /** Each candidate's last counter, and when it moved here. */
  readonly #heard = new Map<string, { beat: unknown, at: number }>()

  constructor (host: ElectionHost, name: string, options: ElectionOptions) {
    this.#host = host
    this.#name = name
    this.#onChange = options.onChange
    this.#heartbeatMs = options.heartbeatMs ?? 1_000
    this.#now = options.now ?? (() => performance.now()) // a wall clock's step must not silence every candidate
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
    this.#withdrawnUntil = this.#now() + ms
    this.#holds = false
    this.#host.advertise(this.#name, undefined)
    this.evaluate()
  }

  /** Applies the rule now; calls onChange when the outcome changed. */
  evaluate (): void {
    if (this.#stopped) return
    const now = this.#now()
    const withdrawn = this.#withdrawnUntil > now
    if (!withdrawn && this.#withdrawnUntil !== 0) {
      this.#withdrawnUntil = 0
      this.#advertise()
    } else if (!withdrawn && now - this.#beatAt >= this.#heartbeatMs) this.#advertise()
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
    const now = this.#now()
    const peers = this.#host.peers()
    for (const p of peers) {
      const advert = p.meta?.[this.#name] as Advert | undefined
      // In a partial mesh `peer` is only the neighbour a state came through last: one let go (links rotate) made a live
      // candidate read as gone here and not at its other peers, so two instances each saw themselves lowest.
      // `connected` there counts its renewals arriving; the beat still counts a dead one out.
      if (advert === undefined || advert === null || typeof advert !== 'object' || !(connected.has(p.peer) || p.connected === true) || this.#silent(p.origin, advert.beat, now)) continue
      if (p.origin < lowest) lowest = p.origin
      if (advert.holds === true && (lowestHolder === undefined || p.origin < lowestHolder)) lowestHolder = p.origin
    }
    // Members gone from membership are forgotten here too (a restart is a new origin).
    if (this.#heard.size > 0) {
      const listed = new Set(peers.map((p) => p.origin))
      for (const origin of this.#heard.keys()) if (!listed.has(origin)) this.#heard.delete(origin)
    }
    return lowestHolder ?? lowest
  }

  /** Whether a candidate's counter has stood still here for MISSED_BEATS beats (never, for one without a counter). */
  #silent (origin: string, beat: unknown, now: number): boolean {
    if (beat === undefined) return false
    const heard = this.#heard.get(origin)
    if (heard === undefined || heard.beat !== beat) {
      this.#heard.set(origin, { beat, at: now })
      return false
    }
    return now - heard.at > MISSED_BEATS * this.#heartbeatMs
  }

  #advertise (): void {
    this.#beatAt = this.#now()
    this.#host.advertise(this.#name, { holds: this.#holds, beat: ++this.#beat })
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
