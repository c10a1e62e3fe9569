/**
 * The redialer's policy, apart from its machinery (redial.ts): what it
 * remembers about each peer, how long it waits after a failed or
 * short-lived connection, and, in a partial mesh, in what order it dials and
 * which peer it adds when at its bound. Pure functions over the entries, so
 * the numbers in DESIGN.md "Redial" can be read in one place.
 */

/** What the redialer knows of one peer, or of a bootstrap address whose peer id is not known yet. */
export interface Known {
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
  /** The current link is being let go on purpose, by us or by the peer (its SHED): its close is no loss. */
  letGo: boolean
  /**
   * When the peer was last known alive (ms, this clock): linked to us, or a
   * neighbour's PEERS said so, less the age it gave; 0: never. What peer
   * exchange tells others (peer-exchange.ts), not what decides our dials.
   */
  aliveAt: number
}

/**
 * Whether `k`'s link worked (our stream opened on it) and then closed
 * without being let go on purpose (neither we nor the peer, by its SHED, shed
 * it: partial-mesh.ts), and has not worked again since. In a partial mesh
 * such a link is redialled even at the bound (up to twice it, with the
 * backoff, as the policy allows) until it connects again. Why: it closed in
 * a partition that refused or reset connections (a silent one is probed
 * instead, §11.2), and the node may have refilled its bound from its own
 * side meanwhile; left to rotation, the heal waited seconds. Its age does not
 * matter: a link cut a second after a heal re-formed it is as lost (before
 * the SHED, a link younger than SHORT_LIVED_MS was taken for one let go).
 */
export function isLost (k: Known): boolean {
  return !k.established && k.establishedAt > 0 && !k.letGo
}

/** A fresh entry: a known peer waits for a reason to be dialled (nextAt Infinity), a bootstrap address is dialled at once. */
export function newEntry (peer: string | undefined, bootstrapAddr: string | undefined, now: number): Known {
  return {
    peer, bootstrapAddr, addrs: bootstrapAddr === undefined ? [] : [bootstrapAddr], bootstrap: bootstrapAddr !== undefined,
    failures: 0, nextAt: bootstrapAddr === undefined ? Infinity : 0, lastSeen: now, dialing: false, established: false,
    abort: undefined, dialed: undefined, establishedAt: 0, shortLived: 0, letGo: false, aliveAt: 0
  }
}

/**
 * A connection that ends this soon after our stream opened on it was not a
 * working link (a partial mesh's peer over its bound greets us and lets us
 * go, or a peer accepts and drops us): the next dial backs off instead of
 * coming at once.
 */
export const SHORT_LIVED_MS = 5_000

/** How often (ms, ±50 %) a node of a partial mesh at its bound adds a link to a random known peer. */
export const ROTATE_INTERVAL_MS = 10_000

/** Delays of the redial backoff (ms): the first retry, and the most it doubles to. */
export interface Backoff { interval: number, maxInterval: number }

/**
 * A dial of `k` failed, or succeeded without our stream opening yet: one
 * more failure, and the next try after `interval` doubling per failure up to
 * `maxInterval`, ±20 % jitter so that peers cut off together do not all
 * redial in step. Returns the delay before jitter.
 */
export function backOff (k: Known, b: Backoff, now: number): number {
  k.failures++
  const backoff = Math.min(b.maxInterval, b.interval * 2 ** (k.failures - 1))
  k.nextAt = now + backoff * (0.8 + 0.4 * Math.random())
  return backoff
}

/**
 * `k`'s established connection ended: redial at once, unless it lasted less
 * than SHORT_LIVED_MS, then after `interval` doubling per such end in a row
 * (a peer that greets us and lets us go is not redialled in a loop).
 */
export function afterEstablished (k: Known, b: Backoff, now: number): void {
  k.shortLived = now - k.establishedAt < SHORT_LIVED_MS ? k.shortLived + 1 : 0
  k.nextAt = k.shortLived === 0 ? now : now + Math.min(b.maxInterval, b.interval * 2 ** (k.shortLived - 1))
}

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
export interface DialBound { peers: number, connections: () => number }

/**
 * With a bound: whether `peer` (undefined: a bootstrap address not yet
 * dialled) may be dialled now, and the order to try peers in (regions.ts:
 * own region first). None: any, in random order.
 */
export interface DialPolicy {
  allowDial: (peer: string | undefined) => boolean
  compare: (a: string | undefined, b: string | undefined) => number
  /**
   * Whether a dial of `peer` is needed even at the bound (a region's link
   * holder without a far link, regions.ts): made up to twice the bound, one
   * at a time. Without it, a holder whose bound filled with its own region
   * first never got a far link but by rotation. `undefined`: a bootstrap
   * address whose peer is not met yet (neededRank orders them).
   */
  needs?: (peer: string | undefined) => boolean
  /**
   * Whether a lost link to `peer` (isLost) may be put back at the bound.
   * Region links say yes only for a peer known to be in our region: a far
   * link is closed on purpose when its region has enough (regions.ts
   * `shouldShed`), and putting it back from the other side raised the
   * cross-region traffic (bench:regions at 5+5). Far links heal as before:
   * a silent one by the probe, a missing one by `needs`.
   */
  restores?: (peer: string | undefined) => boolean
}

/**
 * Of the dials a policy needs at the bound (DialPolicy.needs), which to make
 * first (lower first; ties in the dial order): a path that worked and has
 * not failed since (a far peer's bootstrap address that connected before,
 * say), then a peer not tried yet, then a bootstrap address whose peer is not
 * met, then a peer whose dials failed. By the dial order alone (far peers by
 * id, one dial a tick), a holder behind a proxy redialled the far peers it
 * knew by their advertised, unreachable addresses one after the other as
 * each backoff ran out, and did not come to the bootstrap address that was
 * its way across, nor to the one it had connected by before (bench:regions
 * at 5+5, the second region started 2 s after the first).
 */
export function neededRank (k: Known): number {
  if (k.peer === undefined) return 2
  if (k.failures > 0) return 3
  return k.establishedAt > 0 ? 0 : 1
}

/** Puts `entries` in the order a partial mesh dials them: random, then the policy's order (a stable sort keeps ties random). */
export function dialOrder (entries: Array<[string, Known]>, policy: DialPolicy | undefined): void {
  shuffle(entries)
  if (policy !== undefined) entries.sort(([, a], [, b]) => policy.compare(a.peer, b.peer))
}

function shuffle<T> (items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    const t = items[i] as T
    items[i] = items[j] as T
    items[j] = t
  }
}
