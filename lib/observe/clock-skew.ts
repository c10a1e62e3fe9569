/**
 * Clocks further apart than `maxClockSkew`, made loud.
 *
 * The guarantees lean on instances' clocks agreeing within `maxClockSkew`
 * (SPEC §7, §9): a tombstone outlives its write by `maxTtl + maxClockSkew`,
 * a record is dated by its writer's clock, and a membership state by its
 * member's. Past that skew the hybrid clock refuses to follow the far
 * timestamp (lib/core/clock.ts) and the merge goes on, so nothing would show
 * it. Yet a clock that far off can let a tombstone go before a copy it must
 * stop has arrived, or keep a killed member listed past its timeout.
 *
 * What is seen is a timestamp *ahead* of this instance's clock: delays only
 * make a timestamp look older, so "ahead" is never a network artefact,
 * while "behind" is indistinguishable from a slow or relayed message. Every
 * pair of clocks too far apart is thus seen by the one behind: it reports
 * the other. A record's time may be a clock its writer followed rather than
 * its own (the hybrid clock moves past every timestamp it sees): the event
 * names the origin whose message carried it.
 */

/** The `clockSkew` event: a timestamp from `origin` ahead of this instance's clock by more than `maxClockSkew`. */
export interface ClockSkewEvent {
  /** The origin (node id and incarnation) whose record or membership state carried the timestamp. */
  origin: string
  /** How far ahead of this instance's clock it was, in ms. */
  aheadMs: number
  /** The skew this instance allows (the `maxClockSkew` option), in ms. */
  maxClockSkew: number
  /** Where it was seen: a record's HLC time, or a membership renewal stamp (SPEC §8). */
  seenIn: 'record' | 'membership'
}

/** An origin is reported at most this often (ms) per kind of sighting; every sighting is counted (`stats().clockAhead`). */
export const CLOCK_SKEW_REPORT_EVERY_MS = 60_000

/** How many origins' last report times are kept: past it, those older than the report period go. */
const MAX_TRACKED = 1024

export class ClockSkew {
  readonly #maxClockSkew: number
  readonly #report: (event: ClockSkewEvent) => void
  readonly #now: () => number
  readonly #reportedAt = new Map<string, number>()
  #seen = 0

  /** `report` gets the event; `now` (epoch ms) paces the reports. */
  constructor (maxClockSkew: number, report: (event: ClockSkewEvent) => void, now: () => number = Date.now) {
    this.#maxClockSkew = maxClockSkew
    this.#report = report
    this.#now = now
  }

  /** Sightings since start: every record or state whose timestamp was too far ahead. */
  get seen (): number {
    return this.#seen
  }

  /** A timestamp from `origin` was `aheadMs` ahead of this instance's clock, past `maxClockSkew`. */
  ahead (origin: string, aheadMs: number, seenIn: ClockSkewEvent['seenIn']): void {
    this.#seen++
    const now = this.#now()
    const at = `${seenIn} ${origin}` // a record's time and a membership stamp are separate evidence: each is reported
    const last = this.#reportedAt.get(at)
    if (last !== undefined && now - last < CLOCK_SKEW_REPORT_EVERY_MS) return
    if (last === undefined && this.#reportedAt.size >= MAX_TRACKED) this.#prune(now)
    this.#reportedAt.set(at, now)
    this.#report({ origin, aheadMs: Math.round(aheadMs), maxClockSkew: this.#maxClockSkew, seenIn })
  }

  #prune (now: number): void {
    for (const [key, at] of this.#reportedAt) if (now - at >= CLOCK_SKEW_REPORT_EVERY_MS) this.#reportedAt.delete(key)
    // Still full (over a thousand skewed origins within a minute): the oldest go, and may be reported again.
    for (const key of this.#reportedAt.keys()) {
      if (this.#reportedAt.size < MAX_TRACKED) break
      this.#reportedAt.delete(key)
    }
  }
}
