/**
 * How a replica keeps up with its peers: anti-entropy sessions, membership
 * (with its sequence summaries, the heartbeat that reveals lost tails), the
 * announcement and periodic-round timers' work, and which peers a round may
 * skip. It owns no timer and no channel: MeshCache calls it from its
 * transport handler and timers, and it sends through `ReplicationHost`.
 */
import { encodeFrame } from '../../protocol/frame.ts'
import { MessageType } from '../../protocol/constants.ts'
import type { StateVector, SyncStep1Message, SyncStep2Message } from '../../protocol/sync.ts'
import type { Replica } from '../core/replica.ts'
import type { ResolvedOptions } from '../options.ts'
import { AntiEntropy } from './anti-entropy.ts'
import { Digests } from './digests.ts'
import { Membership, PARTIAL_RENEW_MS, withMeta, type PeerInfo } from './membership.ts'
import { RepairRelay } from './repair-relay.ts'

export interface ReplicationHost {
  /** Peers connected in the namespace now (transport ids). */
  connected (): string[]
  send (peer: string, frame: Uint8Array): void
  broadcast (frame: Uint8Array): void
  /**
   * Whether a broadcast is relayed beyond the neighbours (a partial mesh,
   * `Channel.relays`). Sequence announcements and membership renewals then
   * go to neighbours as digests instead of relayed to all (digests.ts).
   */
  relays (): boolean
  /** A member's renewal stamp was `aheadMs` past our clock, beyond maxClockSkew (lib/observe/clock-skew.ts). */
  clockAhead (origin: string, aheadMs: number): void
  /** This node's transport id (`Channel.localPeer`), announced in membership; undefined before the join. */
  localPeer (): string | undefined
}

export class Replication<V extends {}> {
  readonly #replica: Replica<V>
  readonly #o: ResolvedOptions<V>
  readonly #host: ReplicationHost
  readonly #sync: AntiEntropy
  readonly #digests: Digests
  /** Re-publishes what answers repaired here, in a partial mesh (repair-relay.ts). */
  readonly relay: RepairRelay
  #membership: Membership | undefined
  #announcedSeq = 0
  /**
   * Our first announcement, made on joining, reached no one in a partial mesh
   * (no relay mesh yet: gossipsub adds peers at its heartbeats), and members
   * that are not our neighbours would learn of us only at our renewal (15 s).
   * So the first ticks in a partial mesh announce us again.
   */
  #joinAnnouncements = JOIN_ANNOUNCEMENTS
  /** What this instance advertises to its peers (`cache.advertise`). */
  #meta: Record<string, unknown> = {}
  /** The peer the last periodic round asked (rounds go through the peers in id order). */
  #lastPeriodicPeer = ''

  constructor (replica: Replica<V>, options: ResolvedOptions<V>, host: ReplicationHost) {
    this.#replica = replica
    this.#o = options
    this.#host = host
    const relay = this.relay = new RepairRelay({ relays: () => host.relays(), broadcast: (frame) => host.broadcast(frame), now: options.now }, options.limits.maxRecords, options.limits.maxOrigins)
    this.#sync = new AntiEntropy({
      stateVector: () => replica.stateVector(),
      reportedStateVector: () => replica.reportedStateVector(this.liveOrigins()),
      flowing: () => this.#flowing(),
      recordsBeyond: (sv, done) => { replica.recordsBeyondInChunks(sv, done) },
      applyRepair: (records, from) => { relay.offer(replica.applyRecords(records, 'repair', from)) },
      applyRelayed: (records, from) => { replica.applyRecords(records, 'remote', from) },
      // What an exchange repaired spreads by the repair relay (repair-relay.ts); neighbours' vectors
      // catch up at our next digest. (Telling them at once raced the relay: they asked for, and
      // counted as repairs, records already on their way.)
      advance: (sv, skipped) => replica.advance(sv, skipped),
      send: (peer, frame) => host.send(peer, frame),
      now: options.now,
    }, options.limits.maxRecords, sessionTimeout(options), options.limits.maxOrigins)
    this.#digests = new Digests({
      origin: replica.origin,
      reported: () => replica.reportedStateVector(this.liveOrigins()),
      contiguous: (origin) => replica.tracker.contiguous(origin),
      flowing: () => this.#flowing(),
      neighbours: () => host.connected(),
      send: (peer, frame) => host.send(peer, frame),
      request: (peer) => this.#sync.request(peer),
      now: options.now,
    }, options.limits.maxOrigins, options.announceInterval)
  }

  /** Starts membership once the namespace is joined, and asks every peer already there. */
  start (namespace: string): void {
    this.#membership = this.#startMembership(namespace)
    for (const peer of this.#host.connected()) this.#sync.request(peer, true)
  }

  /** Anti-entropy requests sent (stats). */
  get requests (): number {
    return this.#sync.requests
  }

  peerUp (peer: string): void {
    this.#membership?.greet(peer)
    this.#sync.request(peer, true)
  }

  peerDown (peer: string): void {
    this.#sync.peerGone(peer)
    this.#digests.peerGone(peer)
  }

  /**
   * `peer` told us that `origin` issued `seq` (a membership summary, an
   * ACK_REQUEST): behind it, we lost `origin`'s last frames, and repair
   * with `peer` now rather than when a later frame shows the gap.
   */
  heardNumber (origin: string, seq: number, peer: string): void {
    if (origin !== this.#replica.origin && seq > this.#replica.tracker.contiguous(origin)) this.#sync.request(peer)
  }

  /** Starts anti-entropy with `peer` (a gap in its frames); `force` even if a session is running. */
  request (peer: string, force = false): void {
    this.#sync.request(peer, force)
  }

  onStep1 (from: string, msg: SyncStep1Message): void {
    this.#sync.onStep1(from, msg)
  }

  onStep2 (from: string, msg: SyncStep2Message): void {
    this.#sync.onStep2(from, msg)
  }

  /** A neighbour's DIGEST: ask it for what it has and we lack (lib/sync/digests.ts); apply the states it passes on. */
  onDigest (from: string, sv: StateVector, update: Uint8Array): void {
    if (update.length > 0) this.#membership?.apply(update, from)
    this.#digests.onDigest(from, sv)
  }

  onAwareness (from: string, update: Uint8Array): void {
    this.#membership?.apply(update, from)
  }

  /**
   * The announcement timer: re-announce our summary if it moved, retry
   * stalled sessions, and ask again where we are still behind a member's
   * announced number. The announcement's own request went to the neighbour
   * it came through; in a partial mesh that neighbour may have lacked the
   * write too (it sits a hop nearer the writer and repairs in the same
   * instant), so without this the next hop waited for a periodic round
   * (10 s a hop; the repository's scale bench (hops)).
   *
   * In a partial mesh our number is not re-announced to all (n·D relayed
   * copies per announcing instance): it rides in our digest to each
   * neighbour, which also says how far we have every other origin, and a
   * neighbour behind us asks us (lib/sync/digests.ts, SPEC §5).
   */
  announceTick (): void {
    const seq = this.#replica.seq
    const partial = this.#host.relays()
    if (seq !== this.#announcedSeq) {
      this.#announcedSeq = seq
      if (partial) this.#membership?.noteSeq(seq)
      else this.#membership?.announce(seq)
    }
    if (partial && this.#joinAnnouncements > 0) {
      this.#joinAnnouncements--
      this.#membership?.announce(seq)
    }
    if (partial) {
      this.#membership?.renewIfOlder(PARTIAL_RENEW_MS)
      this.#digests.tick(this.#membership?.takeRenewals(this.#host.connected()))
    }
    this.#sync.retryStalled()
    const members = this.#membership?.peers()
    if (members === undefined || members.length === 0) return
    const connected = new Set(this.#host.connected())
    const tracker = this.#replica.tracker
    // Not for origins whose frames flow (§5): behind while they write is frames in flight, and
    // asking for those under saturation would re-send every one of them in the answer.
    const flowing = this.#flowing()
    for (const m of members) {
      if (m.seq > tracker.contiguous(m.origin) && connected.has(m.peer) && !flowing.has(m.origin)) this.#sync.request(m.peer)
    }
  }

  /**
   * The last line of repair, for losses nothing else revealed: asks one
   * peer a round, in turn, so every peer is asked within n−1 rounds (a
   * random pick left a 3-node mesh unrepaired for rounds on end, when only
   * the writer held what was lost). Not every peer each round: under
   * saturation every answer is a scan of all metadata plus the records that
   * arrived meanwhile, and asking all peers made bench:mesh saturation
   * collapse in some runs.
   */
  periodicRound (): void {
    const peers = this.#host.connected()
    if (peers.length === 0) return
    peers.sort()
    const next = peers.find((p) => p > this.#lastPeriodicPeer) ?? peers[0] as string
    this.#lastPeriodicPeer = next
    this.#sync.request(next, false, true)
  }

  /** Sets (or, with undefined, removes) `meta[name]` in our membership state and announces it; throws as `withMeta`. */
  advertise (name: string, value: unknown): void {
    this.#meta = withMeta(this.#meta, name, value)
    this.#membership?.advertise(this.#meta)
  }

  /** Live members of the namespace; with `connected`, as users see them (Membership.peers). */
  peers (connected?: ReadonlySet<string>): PeerInfo[] {
    return this.#membership?.peers(connected, this.#host.relays()) ?? []
  }

  /** The region member `origin` announced (membership; undefined if unknown). */
  regionOf (origin: string): string | undefined {
    return this.#membership?.regionOf(origin)
  }

  /** Origins of the live members, this instance's not included. */
  members (): Set<string> {
    return this.#membership?.liveOrigins() ?? new Set<string>()
  }

  /** This instance and the live members: origins never retired, and always reported. */
  liveOrigins (): Set<string> {
    const live = this.members()
    live.add(this.#replica.origin)
    return live
  }

  forgetDeparted (): void {
    this.#membership?.forgetDeparted()
  }

  /** Tells peers we left, while the channel is still open. */
  close (): void {
    this.#membership?.destroy()
  }

  /**
   * Origins a periodic round may leave out (SPEC §6): live members on a
   * connection of ours whose UPDATES arrived within two announcement periods
   * and show no gap. A loss of theirs shows as a gap in their next frame or
   * in their next announcement, each of which starts a full repair.
   */
  #flowing (): Set<string> {
    const out = new Set<string>()
    const members = this.#membership?.peers()
    if (members === undefined || members.length === 0) return out
    const connected = new Set(this.#host.connected())
    const since = this.#o.now() - 2 * this.#o.announceInterval
    const t = this.#replica.tracker
    for (const m of members) {
      const heard = t.lastFrame(m.origin) // 0: no frame of its own yet
      if (heard !== 0 && heard >= since && connected.has(m.peer) && !t.hasGap(m.origin)) out.add(m.origin)
    }
    return out
  }

  #startMembership (namespace: string): Membership {
    const origin = this.#replica.origin
    const [nodeId, incarnation] = origin.split('~') as [string, string]
    const frame = (update: Uint8Array) => encodeFrame({ type: MessageType.AWARENESS, update })
    const transportId = this.#host.localPeer()
    return new Membership(
      { origin, nodeId, incarnation, region: this.#o.region, namespaces: [namespace], seq: this.#replica.seq, meta: this.#meta, ...(transportId === undefined ? {} : { transportId }) },
      {
        broadcast: (update) => this.#host.broadcast(frame(update)),
        send: (peer, update) => this.#host.send(peer, frame(update)),
        // A member that issued more than we have seen lost us its last frames: repair now.
        onSummary: (member, seq, peer) => { this.heardNumber(member, seq, peer) },
        batchRenewals: () => this.#host.relays(),
        clockAhead: (member, aheadMs) => { this.#host.clockAhead(member, aheadMs) },
      },
      { maxClockSkew: this.#o.maxClockSkew },
    )
  }
}

export { PARTIAL_RENEW_MS }

/** How many announcement ticks in a partial mesh re-announce our joining (see `#joinAnnouncements`). */
const JOIN_ANNOUNCEMENTS = 2

/**
 * How long an anti-entropy session waits for its answer before a parked
 * request runs anyway: a periodic round (two announcement periods when
 * rounds are off), at least 1 s. Not shorter: under saturation an answer
 * can take seconds, and restarting it sooner made every retry another full
 * scan and answer (bench:mesh saturation fell from ~90,000 to ~27,000
 * writes/s with 4 s).
 */
function sessionTimeout (o: ResolvedOptions<unknown>): number {
  return Math.max(1_000, o.syncInterval === 0 ? 2 * o.announceInterval : o.syncInterval)
}
