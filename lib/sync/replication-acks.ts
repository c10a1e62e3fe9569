/**
 * `whenReplicated()`: waiting until every member reachable now has applied
 * this instance's writes. Receivers already track each origin's contiguous
 * sequence (SequenceTracker); asking is an ACK_REQUEST naming our origin and
 * our last number, answered by an ACK once the receiver's contiguous
 * sequence of us reaches it (SPEC.md §5.1). In a partial mesh some members
 * are not neighbours: the request then goes as a RELAY_ACK_REQUEST, which
 * every node passes on once, and the answers (RELAY_ACK, naming the member)
 * come back the way it went (ack-routes.ts). Nothing is sent unless a caller
 * asks, so the write path pays nothing.
 */
import { encodeFrame } from '../../protocol/frame.ts'
import { MessageType } from '../../protocol/constants.ts'
import type { AckMessage, AckRequestMessage, RelayAckMessage, RelayAckRequestMessage } from '../../protocol/ack.ts'
import { AckRoutes } from './ack-routes.ts'
import { ReplicationWaits } from './replication-waits.ts'
import type { PeerInfo } from './membership.ts'

export interface AckHost {
  /** This instance's origin id. */
  readonly origin: string
  /** The last sequence number this instance issued. */
  issued (): number
  /** Sends every write still batched for the current synchronous run now, so the request follows it. */
  flush (): void
  /** Neighbours: peers connected in the namespace now (transport ids). */
  peers (): string[]
  /** Members reachable now through neighbours and not neighbours themselves (their own transport ids); [] in a full mesh. */
  far (): string[]
  /** This instance's transport id, which a relayed answer names; undefined before the join. */
  self (): string | undefined
  /** The node id a transport id announces in membership, for the timeout's message (undefined: not known). */
  nodeIdOf? (transportId: string): string | undefined
  send (peer: string, frame: Uint8Array): void
  /** How far `origin`'s writes have been applied here without a gap. */
  contiguous (origin: string): number
}

/** Requests of one peer for one origin, answered together once the highest asked number is applied here. */
interface Parked { peer: string, origin: string, seq: number, ackIds: number[], relayed: boolean }

/** Requests parked per peer and origin keep at most this many ids (a peer asking faster than it is answered gets the latest ones answered). */
const MAX_PARKED_IDS = 64
/** Parked (peer, origin) pairs at most: a peer cannot make us hold unbounded state. */
const MAX_PARKED = 4096

export class ReplicationAcks {
  readonly #host: AckHost
  /** The writer's side: the calls waiting, asked in waves. */
  readonly #waits: ReplicationWaits
  readonly #parked = new Map<string, Parked>()
  readonly #routes = new AckRoutes()

  constructor (host: AckHost) {
    this.#host = host
    this.#waits = new ReplicationWaits(host)
  }

  /**
   * Resolves once every member reachable now (neighbours, and in a partial
   * mesh the members beyond them) confirmed every write issued before the
   * call; rejects with E_REPLICATION_TIMEOUT naming those that did not.
   * Calls made together share their requests (replication-waits.ts).
   */
  whenReplicated (timeout: number): Promise<void> {
    return this.#waits.whenReplicated(timeout)
  }

  /** A peer asks us to confirm an origin's writes up to a number: now if applied, else once they are. */
  onRequest (from: string, msg: AckRequestMessage): void {
    this.#confirmOrPark(from, msg.ackId, msg.origin, msg.seq, false)
  }

  /**
   * A relayed request: passed on to every other neighbour the first time it
   * arrives (remembering where it came from), then confirmed to that
   * neighbour as a direct one is. Our own request coming back, or a copy
   * seen already, is dropped.
   */
  onRelayRequest (from: string, msg: RelayAckRequestMessage): void {
    if (msg.origin === this.#host.origin || !this.#routes.add(msg.origin, msg.ackId, from, msg.wait)) return
    const peers = this.#host.peers().filter((p) => p !== from)
    if (peers.length > 0) {
      const frame = encodeFrame(msg)
      for (const peer of peers) this.#host.send(peer, frame)
    }
    this.#confirmOrPark(from, msg.ackId, msg.origin, msg.seq, true)
  }

  /** A relayed answer: ours (count its members), or another writer's, passed on towards it. */
  onRelayAck (from: string, msg: RelayAckMessage): void {
    if (msg.origin === this.#host.origin) {
      const seq = this.#waits.requested(msg.ackId)
      if (seq !== undefined) for (const member of msg.members) this.#waits.confirmed(member, seq)
      return
    }
    // once a node: a copy passed back already is dropped, so no answer circles (ack-routes.ts)
    const back = this.#routes.passBack(msg.origin, msg.ackId, msg.members)
    if (back !== undefined && back !== from) this.#host.send(back, encodeFrame(msg))
  }

  #confirmOrPark (from: string, ackId: number, origin: string, seq: number, relayed: boolean): void {
    if (this.#host.contiguous(origin) >= seq) {
      this.#answer(from, ackId, origin, relayed)
      return
    }
    const key = `${from}\n${origin}\n${relayed ? 'r' : 'd'}`
    let parked = this.#parked.get(key)
    if (parked === undefined) {
      if (this.#parked.size >= MAX_PARKED) return // the asker times out; nothing here grows without bound
      parked = { peer: from, origin, seq: 0, ackIds: [], relayed }
      this.#parked.set(key, parked)
    }
    parked.seq = Math.max(parked.seq, seq)
    parked.ackIds.push(ackId)
    if (parked.ackIds.length > MAX_PARKED_IDS) parked.ackIds.shift()
  }

  /** After frames were applied: answers the parked requests they satisfied. One size check when none wait. */
  recheck (): void {
    if (this.#parked.size === 0) return
    for (const [key, p] of this.#parked) {
      if (this.#host.contiguous(p.origin) < p.seq) continue
      this.#parked.delete(key)
      for (const ackId of p.ackIds) this.#answer(p.peer, ackId, p.origin, p.relayed)
    }
  }

  onAck (from: string, msg: AckMessage): void {
    if (this.#waits.requested(msg.ackId) !== undefined) this.#waits.confirmed(from, msg.seq)
  }

  /** A peer left: its parked requests go (it asks again if it comes back). */
  peerGone (peer: string): void {
    for (const [key, p] of this.#parked) if (p.peer === peer) this.#parked.delete(key)
  }

  close (): void {
    this.#parked.clear()
    this.#routes.clear()
    this.#waits.close()
  }

  #answer (peer: string, ackId: number, origin: string, relayed: boolean): void {
    if (!relayed) {
      this.#host.send(peer, encodeFrame({ type: MessageType.ACK, ackId, seq: this.#host.contiguous(origin) }))
      return
    }
    const self = this.#host.self()
    if (self !== undefined) this.#host.send(peer, encodeFrame({ type: MessageType.RELAY_ACK, ackId, origin, members: [self] }))
  }
}

/**
 * The members a relayed request waits for beyond the neighbours, each named
 * by the transport id it announces (a member of a version older than
 * `transportId` is not waited for: it could not answer a relayed request
 * either), neither a neighbour's nor ours:
 *
 * - where the mesh relays (a partial mesh), every live member: links rotate
 *   there and renewals travel a hop a tick, so `connected` says a member was
 *   heard lately, not that it is reachable now (before membership counted
 *   renewals, one heard through a neighbour since let go read not connected
 *   for up to 7.5 s, and the call resolved with it stale). A live member is
 *   one whose state is not stale (`peerTimeout`), as a full mesh waits for a
 *   connection until `peerTimeout` finds it silent;
 * - elsewhere, the members reachable through a neighbour (`connected`).
 */
export function farMembers (members: readonly PeerInfo[], neighbours: ReadonlySet<string>, self: string | undefined, relays: boolean): string[] {
  const far = new Set<string>()
  for (const m of members) {
    if ((relays || m.connected) && m.transportId !== undefined && m.transportId !== self && !neighbours.has(m.transportId)) far.add(m.transportId)
  }
  return [...far]
}
