/**
 * Membership over y-protocols awareness.
 *
 * Each instance publishes one awareness state: its origin (node id and
 * incarnation), region, namespaces and a summary of its state vector (the
 * last sequence number it issued). Awareness renews a state every 15 s and
 * drops one not renewed for 30 s (y-protocols' `outdatedTimeout`), which is
 * exactly "stale after 30 s of silence". Awareness needs a Y.Doc only for its
 * client id; no document content is ever used.
 *
 * The sequence summary doubles as a heartbeat for loss detection: a receiver
 * that has seen fewer of an origin's writes than the origin says it made has
 * lost the tail of that origin's updates (which no later frame would reveal)
 * and starts anti-entropy.
 */
import * as awarenessProtocol from 'y-protocols/awareness'
import * as Y from 'yjs'
import { markOldIncarnations, withoutRestarted } from './incarnations.ts'
import { isMemberState, pick, validateAwarenessUpdate, type MemberState, type PeerInfo } from './member-state.ts'

/**
 * Awareness keeps the clock of every client it ever heard of, departed ones
 * included, so that a late copy of a departed member's old update cannot
 * bring it back. One entry per departed incarnation adds up over restarts;
 * past twice the stale timeout no late copy is expected any more.
 */
const FORGET_DEPARTED_AFTER_MS = 2 * awarenessProtocol.outdatedTimeout
export { MAX_META_BYTES, withMeta } from './member-meta.ts'
export { validateAwarenessUpdate, type MemberState, type PeerInfo } from './member-state.ts'

/**
 * A partial mesh renews our membership state this often, not only every 15 s
 * (awareness' own): renewals cross the mesh a hop per tick there
 * (Membership.renewIfOlder, called by the replication's tick).
 */
export const PARTIAL_RENEW_MS = 7_500

export interface MembershipHooks {
  broadcast(update: Uint8Array): void
  send(peer: string, update: Uint8Array): void
  /** A member announced `seq` for its origin. */
  onSummary(origin: string, seq: number, peer: string): void
  /**
   * Whether renewals go hop by hop (a partial mesh): our renewal, and every
   * state that moved here, wait for `takeRenewals` on the announcement tick
   * instead of our renewal being relayed to all (n·D copies each).
   */
  batchRenewals?(): boolean
  /**
   * A state's renewal stamp was `aheadMs` ahead of our clock, past
   * maxClockSkew: its member's clock is that far ahead of ours (a delay only
   * makes a stamp look older). Its state then stays fresh here that much
   * longer after it stops renewing.
   */
  clockAhead?(origin: string, aheadMs: number): void
}

export interface MembershipOptions {
  /** How far apart two instances' clocks may be (ms): a relayed state is stale past 30 s plus this. */
  maxClockSkew: number
  /** Epoch ms for renewal stamps and their age (tests); awareness itself runs on Date.now. */
  now?: () => number
}

export class Membership {
  readonly #awareness: awarenessProtocol.Awareness
  readonly #doc: Y.Doc
  readonly #hooks: MembershipHooks
  /** Awareness client id → the transport peer it arrived from. */
  readonly #peerOf = new Map<number, string>()
  /**
   * Awareness client id → when its state was first and last heard, as a
   * local count of updates applied (an order, not a time: no clock to skew,
   * no two events equal). Tells a restart from a partition in `peers()`.
   */
  readonly #heard = new Map<number, { first: number, last: number }>()
  #updates = 0
  readonly #local: MemberState
  /** Set while we change our own state: an update then is a change, never a renewal. */
  #explicit = false
  /** Each member's origin and region by client id, and the regions by origin (`regionOf`). */
  readonly #origins = new Map<number, string>()
  readonly #regions = new Map<string, string>()
  /** Client ids whose state moved here since the last `takeRenewals` (a partial mesh). */
  readonly #renewed = new Set<number>()
  /** How far apart clocks may be (ms): a stamp older than 30 s plus this is stale, one further ahead is reported. */
  readonly #maxClockSkew: number
  readonly #now: () => number

  constructor (local: MemberState, hooks: MembershipHooks, options: MembershipOptions) {
    this.#local = local
    this.#hooks = hooks
    this.#maxClockSkew = options.maxClockSkew
    this.#now = options.now ?? Date.now
    this.#doc = new Y.Doc()
    this.#awareness = new awarenessProtocol.Awareness(this.#doc)
    // Awareness' own check timer must not keep a process alive.
    ;(this.#awareness._checkInterval as NodeJS.Timeout | undefined)?.unref?.()
    this.#awareness.on('update', ({ added, updated, removed }: Record<'added' | 'updated' | 'removed', number[]>, origin: unknown) => {
      const batch = this.#hooks.batchRenewals?.() === true
      if (origin === 'local') {
        // Stamped in place before it is encoded, here or with the tick's renewals.
        const own = this.#awareness.getLocalState() as MemberState | null
        if (own !== null) own.renewed = this.#now()
        // A renewal (awareness' own timer) waits for the next tick in a partial mesh.
        if (!this.#explicit && batch && removed.length === 0) {
          this.#renewed.add(this.#awareness.clientID)
          return
        }
        // Changes of our own state, and renewals in a full mesh, go to every peer.
        this.#hooks.broadcast(awarenessProtocol.encodeAwarenessUpdate(this.#awareness, [this.#awareness.clientID]))
        return
      }
      for (const id of removed) {
        this.#peerOf.delete(id)
        this.#heard.delete(id)
        this.#forgetRegion(id)
      }
      const now = this.#now()
      for (const id of [...added, ...updated]) {
        this.#learnRegion(id)
        // A copy of a state its member stopped renewing (relayed by a greeting, say) is no news.
        if (id === this.#awareness.clientID || this.#stale(id, now)) continue
        if (batch) this.#renewed.add(id)
        const heard = this.#heard.get(id)
        if (heard === undefined) this.#heard.set(id, { first: ++this.#updates, last: this.#updates })
        else heard.last = ++this.#updates
        if (typeof origin === 'string' && id !== this.#awareness.clientID) this.#peerOf.set(id, origin)
        this.#checkStamp(id, now)
        this.#summarise(id)
      }
    })
    this.#setLocal()
  }

  /** Re-announces our state with a fresh sequence summary. */
  announce (seq: number): void {
    this.#local.seq = seq
    this.#setLocal()
  }

  #setLocal (): void {
    this.#explicit = true
    try {
      this.#awareness.setLocalState({ ...this.#local })
    } finally {
      this.#explicit = false
    }
  }

  /**
   * Renews our state if its last renewal is older than `ms` (a partial mesh's
   * tick): hop by hop, a renewal reaches the far side of the mesh a few ticks
   * late, so awareness' own renewal every 15 s left far members with gaps
   * near its 30 s timeout (members dropped and back under load). Renewed
   * twice as often, a renewal costs no frame of its own (it rides in the
   * tick's digests, which cross every link anyway at scale), only bytes.
   */
  renewIfOlder (ms: number, now = Date.now()): void {
    const meta = this.#awareness.meta.get(this.#awareness.clientID)
    const state = this.#awareness.getLocalState()
    if (meta === undefined || state === null || now - meta.lastUpdated < ms) return
    this.#awareness.setLocalState(state) // not #explicit: a renewal, batched
  }

  /**
   * For each neighbour, one update with the states that moved here since the
   * last call (renewals, ours included, and changes), less those that came
   * from that neighbour; they ride in the tick's DIGEST to it (digests.ts).
   * A partial mesh's renewals thus cross each link about once a renewal
   * period, batched per tick, instead of n·D relayed copies each, and travel
   * a hop per tick (2 s): across a mesh's diameter within the 15 s renewal
   * period, well before a state is stale (30 s).
   */
  takeRenewals (neighbours: readonly string[]): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>()
    if (this.#renewed.size === 0) return out
    const states = this.#awareness.getStates()
    const ids = [...this.#renewed].filter((id) => states.has(id))
    this.#renewed.clear()
    for (const peer of neighbours) {
      const news = ids.filter((id) => this.#peerOf.get(id) !== peer)
      if (news.length > 0) out.set(peer, awarenessProtocol.encodeAwarenessUpdate(this.#awareness, news))
    }
    return out
  }

  /**
   * Records our sequence summary without announcing it (a partial mesh, where
   * digests to neighbours announce it, lib/sync/digests.ts): it goes out with
   * the next renewal or greeting, for instances that do not read digests.
   */
  noteSeq (seq: number): void {
    this.#local.seq = seq
    const state = this.#awareness.getLocalState() as MemberState | null
    if (state !== null) state.seq = seq // awareness encodes the state it holds: changed in place, no update
  }

  /** Replaces our advertised metadata (already checked by `withMeta`) and announces it at once. */
  advertise (meta: Record<string, unknown>): void {
    this.#local.meta = meta
    this.#setLocal()
  }

  /**
   * Sends a peer that just connected our state and every live state we
   * know, so it knows the whole membership at once: in a partial mesh most
   * members are not its neighbours, and their own announcements reach it
   * only when they next change or renew (every 15 s). Awareness keeps the
   * newest clock of each, so a relayed copy never overrides a fresher one.
   */
  greet (peer: string): void {
    const now = this.#now()
    const ids = [...this.#awareness.getStates().keys()].filter((id) => !this.#stale(id, now))
    this.#hooks.send(peer, awarenessProtocol.encodeAwarenessUpdate(this.#awareness, ids))
  }

  /**
   * Whether a state's member last renewed it more than 30 s (plus the clock
   * skew allowed) ago by its own stamp. Awareness dates a state by its arrival:
   * a departed member's state, greeted to an instance that had none of it (a
   * restart, or one that forgot it), lived another 30 s there and was greeted
   * on, so restarts kept a killed member listed, and its origin unretired
   * (a live member's origin is kept), for minutes (the soak's origin bound).
   */
  #stale (id: number, now: number): boolean {
    const state = this.#awareness.getStates().get(id) as MemberState | undefined
    return typeof state?.renewed === 'number' && now - state.renewed > awarenessProtocol.outdatedTimeout + this.#maxClockSkew
  }

  #checkStamp (id: number, now: number): void {
    const state = this.#awareness.getStates().get(id) as MemberState | undefined
    if (typeof state?.renewed !== 'number' || !isMemberState(state)) return
    const ahead = state.renewed - now
    if (ahead > this.#maxClockSkew) this.#hooks.clockAhead?.(state.origin, ahead)
  }

  /**
   * Applies an update from `peer`. A malformed update throws E_FRAME_MALFORMED
   * before anything is applied (awareness would otherwise apply the entries
   * before the bad one).
   */
  apply (update: Uint8Array, peer: string): void {
    validateAwarenessUpdate(update)
    awarenessProtocol.applyAwarenessUpdate(this.#awareness, update, peer)
  }

  /**
   * Live members other than this instance (renewed within the last 30 s,
   * and by their own stamp within 30 s plus the clock skew allowed).
   * With `connected` (the transport's peers now), each is marked connected
   * or not. Members that are not connected stay listed: a partitioned member
   * is still a member (change sources hold their acknowledgements for it),
   * but a killed one's old incarnation is not listed beside its restart
   * (see `withoutRestarted`). The connected ones are the instances reachable
   * now.
   */
  peers (connected?: ReadonlySet<string>, relays = false): PeerInfo[] {
    const out: PeerInfo[] = []
    const heard = new Map<PeerInfo, { first: number, last: number }>()
    const now = this.#now()
    // Where the mesh relays, `peer` is only the neighbour a state came through last, and links rotate: a member
    // also counts as connected while its renewals keep arriving (awareness dates arrivals on Date.now).
    const heardSince = Date.now() - 2 * PARTIAL_RENEW_MS
    for (const [id, state] of this.#awareness.getStates()) {
      if (id === this.#awareness.clientID || !isMemberState(state) || this.#stale(id, now)) continue
      const peer = this.#peerOf.get(id) ?? ''
      const info: PeerInfo = { ...pick(state), peer, lastSeen: this.#awareness.meta.get(id)?.lastUpdated ?? 0 }
      if (connected !== undefined) info.connected = connected.has(peer) || (relays && info.lastSeen >= heardSince)
      heard.set(info, this.#heard.get(id) ?? { first: 0, last: 0 })
      out.push(info)
    }
    let listed = out
    if (connected !== undefined) {
      markOldIncarnations(out, heard)
      listed = withoutRestarted(out, heard)
    }
    return listed.sort((a, b) => (a.origin < b.origin ? -1 : 1))
  }

  /** The region member `origin` announced ('' for none, undefined if no state of it is held). */
  regionOf (origin: string): string | undefined {
    return this.#regions.get(origin)
  }

  #learnRegion (id: number): void {
    const state = this.#awareness.getStates().get(id)
    if (id === this.#awareness.clientID || !isMemberState(state)) return
    const was = this.#origins.get(id)
    if (was !== undefined && was !== state.origin) this.#regions.delete(was)
    this.#origins.set(id, state.origin)
    this.#regions.set(state.origin, state.region)
  }

  #forgetRegion (id: number): void {
    const origin = this.#origins.get(id)
    if (origin === undefined) return
    this.#origins.delete(id)
    this.#regions.delete(origin)
  }

  /** Origins of live members (kept by the origin GC). */
  liveOrigins (): Set<string> {
    return new Set(this.peers().map((p) => p.origin))
  }

  /**
   * Forgets awareness' record of members gone for FORGET_DEPARTED_AFTER_MS
   * (run with the origin GC). A copy of a forgotten member's update arriving
   * later still would list it again until it is stale (30 s).
   */
  forgetDeparted (now = Date.now()): number {
    let n = 0
    for (const [id, meta] of this.#awareness.meta) {
      if (id === this.#awareness.clientID || this.#awareness.states.has(id)) continue
      if (now - meta.lastUpdated < FORGET_DEPARTED_AFTER_MS) continue
      this.#awareness.meta.delete(id)
      n++
    }
    return n
  }

  /** Clients awareness keeps a record of, ourselves and departed members included (for tests). */
  get knownClients (): number {
    return this.#awareness.meta.size
  }

  destroy (): void {
    awarenessProtocol.removeAwarenessStates(this.#awareness, [this.#awareness.clientID], 'local')
    this.#awareness.destroy()
    this.#doc.destroy()
  }

  #summarise (id: number): void {
    const state = this.#awareness.getStates().get(id)
    const peer = this.#peerOf.get(id)
    if (id === this.#awareness.clientID || peer === undefined || !isMemberState(state)) return
    this.#hooks.onSummary(state.origin, state.seq, peer)
  }
}
