/**
 * Anti-entropy sessions (y-protocols' two steps, per peer).
 *
 * The requester sends step 1 with its state vector; the responder answers
 * with every record the requester lacks, in one or more step-2 parts. Records
 * are merged as each part arrives (merging is idempotent), but the requester
 * raises its state vector to the responder's only once all parts of that
 * session arrived: a lost part must not hide what it carried.
 *
 * It runs on every connection, periodically, and at once when a sequence gap
 * is seen; at most one session per peer is in flight, and a request made
 * meanwhile runs when it ends, or once it times out (its answer was lost):
 * the host calls `retryStalled` on a timer for that.
 */
import { encodeFrame } from '../../protocol/frame.ts'
import { MessageType, TARGET_FRAME_BYTES } from '../../protocol/constants.ts'
import type { WireRecord } from '../../protocol/record.ts'
import type { StateVector, SyncStep1Message, SyncStep2Message } from '../../protocol/sync.ts'
import { splitRecords } from './outbox.ts'
import { RELAYED_SYNC_ID } from './repair-relay.ts'

export interface SyncHost {
  /** A fresh map: the caller may change it. */
  stateVector(): StateVector
  /** The state vector sent with an answer, which the requester adopts (SPEC §6, §7). */
  reportedStateVector(): StateVector
  /**
   * Origins whose frames reach us directly and steadily (live, connected,
   * heard from recently, no gap): a periodic round leaves them out.
   */
  flowing(): ReadonlySet<string>
  /** Every replicated record with a vector entry beyond `sv`, handed to `done` (at once, or a few turns later for a large store). */
  recordsBeyond(sv: StateVector, done: (records: WireRecord[]) => void): void
  /** Merges repair records (already decoded and validated). */
  applyRepair(records: WireRecord[], from: string): void
  /** Merges the records of a relayed repair (repair-relay.ts): ordinary updates, not repairs. */
  applyRelayed(records: WireRecord[], from: string): void
  /** Raises the local state vector to `sv` after a complete exchange, except for the origins in `skipped`. */
  advance(sv: StateVector, skipped: ReadonlySet<string> | undefined): void
  send(peer: string, frame: Uint8Array): void
  now(): number
}

interface Session {
  peer: string
  startedAt: number
  parts: number
  seen: Set<number>
  /** Origins this request claimed to have seen entirely (a periodic round): not raised at the end. */
  skipped: ReadonlySet<string> | undefined
  /** The union of the parts' state vectors so far: the responder's, once every part arrived (SPEC §6). */
  sv: StateVector
}

/**
 * What a periodic round claims for an origin it leaves out: every number
 * seen, so the responder sends none of its entries (the wire form of "skip").
 */
const ALL_SEEN = Number.MAX_SAFE_INTEGER

export class AntiEntropy {
  readonly #host: SyncHost
  readonly #maxRecords: number
  /** The receivers' maxOrigins: bounds each part's origin table and state vector, and a request's state vector. */
  readonly #maxOrigins: number
  readonly #timeoutMs: number
  readonly #sessions = new Map<number, Session>()
  /** Peers with a request waiting for their current session to end. */
  readonly #again = new Set<string>()
  #nextId = 1
  requests = 0

  constructor (host: SyncHost, maxRecords: number, timeoutMs: number, maxOrigins = Infinity) {
    this.#host = host
    this.#maxRecords = maxRecords
    this.#maxOrigins = maxOrigins
    this.#timeoutMs = timeoutMs
  }

  /**
   * Asks `peer` for what we lack. `force` starts a session even if one is in
   * flight. A `periodic` round leaves out the origins whose own frames reach
   * us steadily: their losses show as gaps or in their announcements, and
   * under saturation the peer would otherwise re-send every record still in
   * flight to us from them (hundreds of thousands per round in bench:mesh).
   */
  request (peer: string, force = false, periodic = false): void {
    const now = this.#host.now()
    if (!force) {
      for (const [id, s] of this.#sessions) {
        if (s.peer !== peer) continue
        if (now - s.startedAt < this.#timeoutMs) {
          this.#again.add(peer)
          return
        }
        this.#sessions.delete(id) // timed out: a frame was lost
      }
    }
    const syncId = this.#nextId++
    const sv = this.#host.stateVector()
    let skipped: ReadonlySet<string> | undefined
    if (periodic) {
      skipped = this.#host.flowing()
      for (const origin of skipped) if (sv.has(origin)) sv.set(origin, ALL_SEEN)
    }
    this.#sessions.set(syncId, { peer, startedAt: now, parts: 0, seen: new Set(), skipped, sv: new Map() })
    this.requests++
    this.#host.send(peer, encodeFrame({ type: MessageType.SYNC_STEP1, syncId, sv: this.#bounded(sv) }))
  }

  /**
   * A request's state vector within the responder's maxOrigins: the entries
   * with the lowest numbers are left out, and the responder sends every
   * record naming those origins (more than needed, nothing missed).
   */
  #bounded (sv: StateVector): StateVector {
    if (sv.size <= this.#maxOrigins) return sv
    return new Map([...sv].sort((a, b) => b[1] - a[1]).slice(0, this.#maxOrigins))
  }

  /**
   * Answers a step 1 with the records `from` lacks, in parts that each keep
   * every limit `from` enforces (SPEC §6): records and bytes, origin table,
   * and a slice of our state vector (the union of the slices is the whole).
   */
  onStep1 (from: string, msg: SyncStep1Message): void {
    // Read before the walk: the answer claims what we held when it began (records-beyond.ts).
    const slices = sliceStateVector(this.#host.reportedStateVector(), this.#maxOrigins)
    this.#host.recordsBeyond(msg.sv, (records) => {
      const runs = splitRecords(records, TARGET_FRAME_BYTES, this.#maxRecords, this.#maxOrigins)
      const parts = Math.max(1, runs.length, slices.length)
      for (let part = 0; part < parts; part++) {
        const sv = slices[part] ?? new Map<string, number>()
        this.#host.send(from, encodeFrame({ type: MessageType.SYNC_STEP2, syncId: msg.syncId, part, parts, sv, records: runs[part] ?? [] }))
      }
    })
  }

  /** Merges a step-2 part; completes the session when its last part arrived. */
  onStep2 (from: string, msg: SyncStep2Message): void {
    if (msg.syncId === RELAYED_SYNC_ID) {
      // Another node's repair, relayed (repair-relay.ts): no session of ours, and never relayed again.
      this.#host.applyRelayed(msg.records, from)
      return
    }
    this.#host.applyRepair(msg.records, from)
    const session = this.#sessions.get(msg.syncId)
    if (session === undefined || session.peer !== from) return // unsolicited or late: merged, nothing more
    if (session.parts === 0) session.parts = msg.parts
    if (session.parts !== msg.parts) {
      this.#sessions.delete(msg.syncId)
      return
    }
    if (!session.seen.has(msg.part)) for (const [origin, seq] of msg.sv) session.sv.set(origin, seq)
    session.seen.add(msg.part)
    if (session.seen.size < session.parts) return
    this.#sessions.delete(msg.syncId)
    this.#host.advance(session.sv, session.skipped)
    if (this.#again.delete(from)) this.request(from)
  }

  /**
   * Runs the requests parked behind a session that timed out: its answer was
   * lost, so it will never end and run them itself.
   */
  retryStalled (): void {
    if (this.#again.size === 0) return
    const now = this.#host.now()
    for (const peer of [...this.#again]) {
      let inFlight = false
      for (const s of this.#sessions.values()) if (s.peer === peer && now - s.startedAt < this.#timeoutMs) inFlight = true
      if (inFlight) continue
      this.#again.delete(peer)
      this.request(peer) // drops the timed-out session on its way
    }
  }

  /** Forgets sessions with a peer that left. */
  peerGone (peer: string): void {
    for (const [id, s] of this.#sessions) if (s.peer === peer) this.#sessions.delete(id)
    this.#again.delete(peer)
  }
}

/** `sv` in slices of at most `max` entries (none for an empty vector). */
function sliceStateVector (sv: StateVector, max: number): StateVector[] {
  if (sv.size <= max) return sv.size === 0 ? [] : [sv]
  const out: StateVector[] = []
  let slice: StateVector = new Map()
  for (const [origin, seq] of sv) {
    if (slice.size >= max) {
      out.push(slice)
      slice = new Map()
    }
    slice.set(origin, seq)
  }
  out.push(slice)
  return out
}
