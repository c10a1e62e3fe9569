/**
 * Which of a node's incarnations `cache.peers()` lists (SPEC §8): a killed
 * instance says no goodbye, so its old state would stay listed beside its
 * restart until stale, and of several incarnations on one transport peer only
 * the latest is connected. Orders are Membership's count of updates applied
 * (when each state was first and last heard), not times.
 */
import { incarnationStart } from '../core/incarnation.ts'
import type { PeerInfo } from './membership.ts'

/**
 * A transport peer carries one instance of a namespace at a time (a transport
 * joins a namespace once), so of several incarnations on one connected peer
 * (a restart with a pinned identity) only the latest is connected; the
 * others are its past. Incarnations begin with their start time in base 36
 * (SPEC §1); two started in the same millisecond are ordered by which was
 * heard first.
 */
export function markOldIncarnations (members: PeerInfo[], heard: ReadonlyMap<PeerInfo, { first: number }>): void {
  const later = (a: PeerInfo, b: PeerInfo) => startOf(a) !== startOf(b) ? startOf(a) > startOf(b) : (heard.get(a)?.first ?? 0) > (heard.get(b)?.first ?? 0)
  // By the member's own transport id: in a partial mesh `peer` is the neighbour a state came through, which many
  // members share (keyed by it, all but one of them read as not connected).
  const latest = new Map<string, PeerInfo>()
  for (const m of members) {
    if (m.connected !== true) continue
    const other = latest.get(transportOf(m))
    if (other === undefined || later(m, other)) latest.set(transportOf(m), m)
  }
  for (const m of members) if (m.connected === true && latest.get(transportOf(m)) !== m) m.connected = false
}

/**
 * Leaves out the old incarnation of a restarted instance: a member that is
 * not connected, when a connected member with the same node id was first
 * heard after it was last heard. A killed instance says no goodbye, so its
 * state would otherwise stay listed beside its restart until stale (30 s).
 * A partitioned member stays listed: it was heard (it renews every 15 s)
 * after any other instance with its node id (several may share one) that
 * had joined more than 15 s before the partition. What cannot be told apart:
 * an instance that restarts while partitioned away is left out as well,
 * rightly; one whose twin (same node id) joined in the 15 s before it was
 * partitioned is left out too, until the partition heals.
 */
export function withoutRestarted (members: PeerInfo[], heard: ReadonlyMap<PeerInfo, { first: number, last: number }>): PeerInfo[] {
  const order = (m: PeerInfo) => heard.get(m) ?? { first: 0, last: 0 }
  return members.filter((old) => old.connected === true || !members.some((m) =>
    m !== old && m.connected === true && m.nodeId === old.nodeId && order(m).first > order(old).last))
}

function startOf (m: PeerInfo): number {
  return incarnationStart(m.incarnation)
}

/**
 * The member's own transport id: `transportId`, or for a state from an older
 * version without one, the peer its state came from (the same in a full mesh).
 * A direct link to it is `connectedPeers().includes(transportOf(m))`.
 */
export function transportOf (m: PeerInfo): string {
  return m.transportId ?? m.peer
}
