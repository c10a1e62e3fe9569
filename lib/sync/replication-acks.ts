/**
 * `whenReplicated()`: waiting until every connected peer has applied this
 * instance's writes. Receivers already track each origin's contiguous
 * sequence (SequenceTracker); asking is an ACK_REQUEST naming our origin and
 * our last number, answered by an ACK once the receiver's contiguous
 * sequence of us reaches it (SPEC.md §5.1). Nothing is sent unless a caller
 * asks, so the write path pays nothing.
 */
import { encodeFrame } from '../../protocol/frame.ts'
import { MessageType } from '../../protocol/constants.ts'
import type { AckMessage, AckRequestMessage } from '../../protocol/ack.ts'
import { ErrorCode, MeshCacheError } from '../errors.ts'

export interface AckHost {
  /** This instance's origin id. */
  readonly origin: string
  /** The last sequence number this instance issued. */
  issued (): number
  /** Sends every write still batched for the current synchronous run now, so the request follows it. */
  flush (): void
  /** Peers reachable in the namespace now. */
  peers (): string[]
  send (peer: string, frame: Uint8Array): void
  /** How far `origin`'s writes have been applied here without a gap. */
  contiguous (origin: string): number
}

interface Waiting {
  target: number
  waiting: Set<string>
  resolve: () => void
  reject: (error: Error) => void
  timer: ReturnType<typeof setTimeout>
}

/** Requests of one peer for one origin, answered together once the highest asked number is applied here. */
interface Parked { peer: string, origin: string, seq: number, ackIds: number[] }

/** Requests parked per peer and origin keep at most this many ids (a peer asking faster than it is answered gets the latest ones answered). */
const MAX_PARKED_IDS = 64
/** Parked (peer, origin) pairs at most: a peer cannot make us hold unbounded state. */
const MAX_PARKED = 4096

export class ReplicationAcks {
  readonly #host: AckHost
  readonly #calls = new Map<number, Waiting>()
  readonly #parked = new Map<string, Parked>()
  #nextId = 1
  #closed = false

  constructor (host: AckHost) {
    this.#host = host
  }

  /** Resolves once every peer connected now confirmed every write issued before the call; rejects with E_REPLICATION_TIMEOUT naming those that did not. */
  whenReplicated (timeout: number): Promise<void> {
    if (this.#closed) return Promise.reject(new MeshCacheError(ErrorCode.CLOSED, 'the cache is closed'))
    const target = this.#host.issued()
    const peers = this.#host.peers()
    if (target === 0 || peers.length === 0) return Promise.resolve()
    this.#host.flush()
    const ackId = this.#nextId++
    return new Promise((resolve, reject) => {
      const call: Waiting = {
        target,
        waiting: new Set(peers),
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#calls.delete(ackId)
          const missing = [...call.waiting].sort()
          reject(new MeshCacheError(ErrorCode.REPLICATION_TIMEOUT,
            `${missing.length} of ${peers.length} peer(s) did not confirm writes up to #${target} within ${timeout} ms: ${missing.join(', ')}`))
        }, timeout),
      }
      this.#calls.set(ackId, call)
      const frame = encodeFrame({ type: MessageType.ACK_REQUEST, ackId, origin: this.#host.origin, seq: target })
      for (const peer of peers) this.#host.send(peer, frame)
    })
  }

  /** A peer asks us to confirm an origin's writes up to a number: now if applied, else once they are. */
  onRequest (from: string, msg: AckRequestMessage): void {
    if (this.#host.contiguous(msg.origin) >= msg.seq) {
      this.#answer(from, msg.ackId, msg.origin)
      return
    }
    const key = `${from}\n${msg.origin}`
    let parked = this.#parked.get(key)
    if (parked === undefined) {
      if (this.#parked.size >= MAX_PARKED) return // the asker times out; nothing here grows without bound
      parked = { peer: from, origin: msg.origin, seq: 0, ackIds: [] }
      this.#parked.set(key, parked)
    }
    parked.seq = Math.max(parked.seq, msg.seq)
    parked.ackIds.push(msg.ackId)
    if (parked.ackIds.length > MAX_PARKED_IDS) parked.ackIds.shift()
  }

  /** After frames were applied: answers the parked requests they satisfied. One size check when none wait. */
  recheck (): void {
    if (this.#parked.size === 0) return
    for (const [key, p] of this.#parked) {
      if (this.#host.contiguous(p.origin) < p.seq) continue
      this.#parked.delete(key)
      for (const ackId of p.ackIds) this.#answer(p.peer, ackId, p.origin)
    }
  }

  onAck (from: string, msg: AckMessage): void {
    const call = this.#calls.get(msg.ackId)
    if (call === undefined || msg.seq < call.target) return
    call.waiting.delete(from)
    if (call.waiting.size !== 0) return
    clearTimeout(call.timer)
    this.#calls.delete(msg.ackId)
    call.resolve()
  }

  /** A peer left: its parked requests go (it asks again if it comes back). */
  peerGone (peer: string): void {
    for (const [key, p] of this.#parked) if (p.peer === peer) this.#parked.delete(key)
  }

  close (): void {
    this.#closed = true
    this.#parked.clear()
    for (const call of this.#calls.values()) {
      clearTimeout(call.timer)
      call.reject(new MeshCacheError(ErrorCode.CLOSED, 'the cache was closed before every peer confirmed'))
    }
    this.#calls.clear()
  }

  #answer (peer: string, ackId: number, origin: string): void {
    this.#host.send(peer, encodeFrame({ type: MessageType.ACK, ackId, seq: this.#host.contiguous(origin) }))
  }
}
