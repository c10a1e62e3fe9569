/**
 * Region links in a partial mesh (SPEC.md §11.4): which peers a node may
 * dial, and which links it lets go, so that links stay inside a region and
 * each region keeps about `crossLinks` links to the others.
 *
 * The rule needs no coordination. A node is one of its region's **link
 * holders** if its peer id is among the `crossLinks` smallest of itself and
 * the same-region peers it is connected to. A holder may dial one far peer
 * (a far holder first: of two holders that meet, one link serves both),
 * even at its bound (needsDial), or else a bootstrap address it has not
 * met; other nodes dial only their own region, and let go of a far link they
 * dialled (a bootstrap address, say) once they have a link in their region.
 * Inbound far links are kept: the dialer decided. Nodes that see fewer
 * same-region peers count themselves holders more readily, so views that
 * differ add links, never remove the last one.
 *
 * In a large region that alone keeps too many: each node sees a dozen of its
 * region, so about a fifth of the region counts itself a holder (two regions
 * of 50 kept 12-15 links). So neighbours also tell each other (VIEW,
 * region-view.ts) whether they hold a far link and which of their own
 * neighbours said they do, and a holder that hears of `crossLinks` smaller
 * same-region ids holding one **stands down**: it dials no far peer and lets
 * go of the far link it dialled. The `crossLinks` smallest claimants never
 * stand down (none smaller can count against them), so that too never
 * removes the last links; and a claim lasts only while it is reported
 * afresh by a connected neighbour, two hops at most, so a holder that lost
 * its far link, or died, stops counting within a report or two (or liveness).
 *
 * With crossRegionCopies 'one' the same claims choose who carries a write
 * across (`carries`): of the holders a node knows of, the one that ranks
 * first for the writer's origin, once the far links have been still for
 * CARRY_SETTLE_MS; before that, with more than one far region, and by
 * default, every holder (fast-lane.ts).
 *
 * Peers of unknown region (no HELLO or PEERS told it yet) are dialled as
 * before; with no region set on this node, nothing changes.
 */
import { hashKey } from '../../core/key-index.ts'

/**
 * With crossRegionCopies 'one', how long after a node started, or its own or
 * a neighbour's far link came or went, it carries every write across
 * (`carries`) as a region's every holder does by default: a claim may be a
 * moment stale, and gossipsub's heartbeat is 1 s, its meshes take a few to settle.
 */
export const CARRY_SETTLE_MS = 5_000

/** A node's VIEW (region-view.ts): whether it holds a far link, and the same-region neighbours that said they do. */
export interface RegionReport {
  holds: boolean
  holders: readonly string[]
}

export class RegionLinks {
  readonly #self: string
  readonly #region: string
  readonly #crossLinks: number
  readonly #regions = new Map<string, string>()
  /** What each neighbour last reported (VIEW): whether it holds a far link, and which of its neighbours said they do. */
  readonly #heard = new Map<string, RegionReport>()
  /** The regions other than ours that peers are known to be in. */
  readonly #farRegions = new Set<string>()

  /** When far links here last moved (`now`'s ms: ours, or a neighbour's), or we started; `carries` waits CARRY_SETTLE_MS after. */
  #movedAt: number
  /** Our own claim as last reported. */
  #holds = false
  readonly #now: () => number

  /** crossRegionCopies 'one': a single holder carries each origin's writes (`carries`); else every holder does. */
  readonly oneCopy: boolean

  constructor (self: string, region: string, crossLinks: number, options: { oneCopy?: boolean, now?: () => number } = {}) {
    this.#self = self
    this.#region = region
    this.#crossLinks = crossLinks
    this.oneCopy = options.oneCopy ?? false
    this.#now = options.now ?? (() => performance.now())
    this.#movedAt = this.#now()
  }

  /** Records `peer`'s region ('' is unknown and changes nothing). */
  learn (peer: string, region: string | undefined): void {
    if (region === undefined || region === '') return
    this.#regions.set(peer, region)
    if (region !== this.#region) this.#farRegions.add(region)
  }

  regionOf (peer: string): string | undefined {
    return this.#regions.get(peer)
  }

  /** Whether `peer` is known to be in another region than ours. */
  isFar (peer: string): boolean {
    const r = this.#regions.get(peer)
    return this.#region !== '' && r !== undefined && r !== this.#region
  }

  /** Whether `peer` is known to be in our region (unknown: no). */
  isNear (peer: string): boolean {
    return this.#regions.get(peer) === this.#region
  }

  /** Whether this node holds one of its region's far links, given the peers it is connected to. */
  isHolder (connected: Iterable<string>): boolean {
    return this.#holdsByView(connected) && !this.standsDown(connected)
  }

  /** Whether this node would hold a far link by what it sees alone, and stands down: a holder fewer thanks to VIEW. */
  stoodDown (connected: Iterable<string>): boolean {
    return this.#holdsByView(connected) && this.standsDown(connected)
  }

  /** Whether its id is among the `crossLinks` smallest of itself and the same-region peers it is connected to. */
  #holdsByView (connected: Iterable<string>): boolean {
    let smaller = 0
    for (const peer of connected) {
      if (this.isNear(peer) && peer < this.#self) smaller++
    }
    return smaller < this.#crossLinks
  }

  /** Whether `peer`, of our region, last reported that it holds a far link (VIEW). */
  holdsFar (peer: string): boolean {
    return this.isNear(peer) && this.#heard.get(peer)?.holds === true
  }

  /** Records what neighbour `peer` reported (VIEW). */
  heard (peer: string, report: RegionReport): void {
    // a neighbour's own far link came or went: links are moving (what it relays changes as links rotate: not counted)
    if ((this.#heard.get(peer)?.holds ?? false) !== report.holds) this.#moved()
    this.#heard.set(peer, report)
  }

  #moved (): void {
    this.#movedAt = this.#now()
  }

  /**
   * Whether `crossLinks` same-region peers with smaller ids are known to hold
   * far links: each said so itself, or was said to by a connected neighbour
   * of our region (only connected neighbours' reports count).
   */
  standsDown (connected: Iterable<string>): boolean {
    const smaller = new Set<string>()
    for (const peer of connected) {
      const report = this.isNear(peer) ? this.#heard.get(peer) : undefined
      if (report === undefined) continue
      if (report.holds && peer < this.#self) smaller.add(peer)
      for (const h of report.holders) if (h < this.#self) smaller.add(h)
    }
    return smaller.size >= this.#crossLinks
  }

  /**
   * Whether this node sends writes of `origin` across: with `oneCopy`
   * (crossRegionCopies 'one'; else always), whether it is the one of its
   * region's link holders that does (SPEC.md §11.4, one copy a region pair): of the
   * holders it knows of (itself, and the claims its connected neighbours of
   * its region report, as `standsDown` counts them), the one whose id ranks
   * first for `origin` (rendezvous hashing: each origin has its carrier, and
   * a holder gone moves only its own origins). Views that differ err towards
   * more copies: the first-ranked holder of all always counts itself the
   * carrier, and one that knows of fewer holders counts itself one more
   * readily. With more than one far region known, far links go to different
   * regions and a claim does not say which: every holder carries (true).
   * So does every holder for CARRY_SETTLE_MS after it started, or its own
   * far link or a neighbour's came or went (not what neighbours relay: that
   * changes as links rotate): a claim can be a moment stale (a carrier that just let its far
   * link go), and while links move, gossipsub's meshes on both sides are
   * being rebuilt, and one copy entering the far region at one far end left
   * an instance there to a repair now and then (15+15 instances, writes
   * right after the far links settled: 1-16 receivers of 600 by repair in
   * some runs); several far ends cover it, as before.
   */
  carries (origin: string, connected: Iterable<string>): boolean {
    if (!this.oneCopy || this.#farRegions.size !== 1 || this.#now() - this.#movedAt < CARRY_SETTLE_MS) return true
    const mine = rank(origin, this.#self)
    for (const peer of connected) {
      const report = this.isNear(peer) ? this.#heard.get(peer) : undefined
      if (report === undefined) continue
      if (report.holds && ranksBefore(rank(origin, peer), peer, mine, this.#self)) return false
      for (const h of report.holders) if (h !== this.#self && ranksBefore(rank(origin, h), h, mine, this.#self)) return false
    }
    return true
  }

  /**
   * What this node reports to its neighbours: whether it holds a far link,
   * and which same-region neighbours said they hold one themselves (their own
   * claims only, not what they relayed: a claim travels two hops and dies
   * with its holder's next report). Forgets reports of peers gone.
   */
  report (connected: readonly string[], up: (peer: string) => boolean = () => true): RegionReport {
    const live = new Set(connected)
    for (const [peer, heard] of this.#heard) {
      if (live.has(peer)) continue
      this.#heard.delete(peer)
      if (heard.holds) this.#moved() // a neighbour holding a far link gone
    }
    const holders: string[] = []
    for (const peer of connected) {
      if (this.holdsFar(peer)) holders.push(peer)
    }
    // a far link counts once up in a namespace (`up`): the lane's carriers are chosen by these claims (`carries`)
    const holds = connected.some(peer => this.isFar(peer) && up(peer))
    if (holds !== this.#holds) { this.#holds = holds; this.#moved() }
    return { holds, holders: holders.sort() }
  }

  /** Far peers among `connected`. */
  farCount (connected: Iterable<string>): number {
    let n = 0
    for (const peer of connected) if (this.isFar(peer)) n++
    return n
  }

  /** Whether this node may dial `peer` now. */
  allowDial (peer: string | undefined, connected: readonly string[]): boolean {
    if (peer === undefined || !this.isFar(peer)) return true
    return this.isHolder(connected) && this.farCount(connected) === 0
  }

  /**
   * Whether this node needs a link to far `peer` now, whatever its bound: a
   * holder without a far link. `undefined` is a bootstrap address whose peer
   * this node has not met (its dial failed or was never made, the bound being
   * full): such a holder needs it too, as the far peers it knows by id may
   * advertise only addresses it cannot reach (behind NAT or a proxy), and
   * the bootstrap address may be the one way across. The redialer tries those
   * after the far peers it knows that have not failed it (dial-policy.ts
   * neededRank).
   *
   * And a node with no link in its own region needs one of its region: its
   * bound can fill with far links other regions' holders dialled (they dial
   * a region's smallest ids first, and inbound far links are kept), and its
   * region's writes, on a topic of the region, and the lane's copies, which
   * never go back to the region they were written in, would then reach it
   * only by repair (3 × 5 instances, `maxPeers: 3`: one such node, 5 s).
   */
  needsDial (peer: string | undefined, connected: readonly string[]): boolean {
    if (peer !== undefined && this.isNear(peer)) return !connected.some(p => this.isNear(p))
    return (peer === undefined || this.isFar(peer)) && this.isHolder(connected) && this.farCount(connected) === 0
  }

  /**
   * Whether to let go of our outbound link to far `peer`: we are not a
   * holder (or hold a far link already) and have a link in our region.
   */
  shouldShed (peer: string, connected: readonly string[]): boolean {
    if (!this.isFar(peer)) return false
    const others = connected.filter(p => p !== peer)
    if (!others.some(p => this.#regions.get(p) === this.#region)) return false
    return !this.isHolder(others) || this.farCount(others) > 0
  }

  /**
   * Dial order: own region and unknown first, then far peers by id, so a
   * holder dials a far region's smallest ids: its holders, whose one far
   * link then serves both sides.
   */
  compare (a: string | undefined, b: string | undefined): number {
    const farA = a !== undefined && this.isFar(a)
    const farB = b !== undefined && this.isFar(b)
    if (farA !== farB) return farA ? 1 : -1
    if (!farA) return 0
    return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0
  }
}

/** `origin`'s rank of holder `peer` (the key index's hash of both, '/' apart: an origin holds none): the smallest carries its writes. */
function rank (origin: string, peer: string): number {
  return hashKey(`${origin}/${peer}`)
}

function ranksBefore (r: number, peer: string, mine: number, self: string): boolean {
  return r < mine || (r === mine && peer < self)
}
