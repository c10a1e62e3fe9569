/**
 * The writer's side of `whenReplicated()` (SPEC §5.1): the calls waiting for
 * members to confirm, and the requests that ask them, grouped. A request
 * names this instance's last number; a member's answer to it says that
 * member applied every write up to that number, so it confirms every call
 * made before it, not only the one that sent it. Calls are therefore asked
 * in waves, as a database commits a group: a call made while the last wave
 * is young (sent under GROUP_MS ago, not yet answered by everyone it asked)
 * waits for it to be answered or to age, and the next wave asks for every
 * call waiting then. One call still costs one request a member; a thousand
 * made within a wave's round trip cost one, where a partial mesh's request is
 * a wave over every link and an answer per member per hop.
 */
import { encodeFrame } from '../../protocol/frame.ts'
import { MessageType } from '../../protocol/constants.ts'
import { ErrorCode, MeshCacheError } from '../errors.ts'
import type { AckHost } from './replication-acks.ts'

/**
 * While calls wait, a wave asks again, under a new id, this long after the
 * first request (ms), then every ASK_AGAIN_MAX_MS until no call waits: a
 * request or answer dropped on the way costs a second, not the call. Not
 * sooner again: in a partial mesh each request is a wave over every
 * link, and a member that will not answer (killed, until its state is stale)
 * must not cost one a second; a longer pause would leave a lossy path too
 * few tries (the whenReplicated suite's seeded lossy graphs timed out 1 call
 * in ~200 with the pause doubling without bound: 5 tries in 20 s).
 */
export const ASK_AGAIN_MS = 1_000
export const ASK_AGAIN_MAX_MS = 2_000
/**
 * A wave is young this long at most (ms): calls made meanwhile wait for it to
 * be answered (a full mesh's round trip, well under this) or to age before
 * theirs goes. It bounds the waves a writer sends to 1,000 / GROUP_MS a second
 * when some member answers slowly or not at all, and adds at most this much
 * to a call made then.
 */
export const GROUP_MS = 10

interface Wave { target: number, sentAt: number, asked: Set<string> }

interface Call {
  readonly target: number
  /** Members (transport ids) that have not confirmed yet. */
  readonly waiting: Set<string>
  /** Whether some member it waits for is not a neighbour (the wave is relayed). */
  readonly relayed: boolean
  readonly deadline: number
  done: boolean
  resolve: () => void
  reject: (error: Error) => void
  timer?: ReturnType<typeof setTimeout>
}

/** Calls in the order made (so by target), with the settled ones dropped from the front as they are met. */
class CallQueue {
  #items: Call[] = []
  #head = 0

  push (call: Call): void { this.#items.push(call) }

  /** The first call not yet settled, or undefined. */
  first (): Call | undefined {
    while (this.#head < this.#items.length && (this.#items[this.#head] as Call).done) this.#head++
    if (this.#head > 64 && this.#head * 2 > this.#items.length) { this.#items = this.#items.slice(this.#head); this.#head = 0 }
    return this.#items[this.#head]
  }

  shift (): void { this.#head++ }

  /** The last call not yet settled (the newest, so the highest number), or undefined. */
  last (): Call | undefined {
    for (let i = this.#items.length - 1; i >= this.#head; i--) if (!(this.#items[i] as Call).done) return this.#items[i]
    return undefined
  }

  /** The calls not yet settled. */
  open (): Call[] {
    return this.#items.slice(this.#head).filter((c) => !c.done)
  }
}

export class ReplicationWaits {
  readonly #host: AckHost
  /** Every call waiting, in the order made. */
  readonly #calls = new CallQueue()
  /** Per member, the calls waiting for it, in the order made. */
  readonly #byMember = new Map<string, CallQueue>()
  /** The number each request asked for, by id (a relayed answer does not repeat it); the oldest dropped once no call waits for so little. */
  readonly #requests = new Map<number, number>()
  /** The last wave while it is young: its number, when it went, and whom it asked that has not answered. */
  #young: Wave | undefined
  #groupTimer: ReturnType<typeof setTimeout> | undefined
  #askAgainTimer: ReturnType<typeof setTimeout> | undefined
  /** Calls waiting that wait for some member beyond the neighbours: while any does, waves are relayed. */
  #relayedCalls = 0
  /** The latest deadline of the calls made since none waited: how long a relayed wave's ways back are kept. */
  #deadline = 0
  #nextId = 1
  #closed = false

  constructor (host: AckHost) {
    this.#host = host
  }

  /** See ReplicationAcks.whenReplicated. */
  whenReplicated (timeout: number): Promise<void> {
    if (this.#closed) return Promise.reject(new MeshCacheError(ErrorCode.CLOSED, 'the cache is closed'))
    const target = this.#host.issued()
    const peers = this.#host.peers()
    const far = peers.length === 0 ? [] : this.#host.far()
    if (target === 0 || peers.length === 0) return Promise.resolve()
    this.#host.flush()
    const asked = peers.length + far.length
    return new Promise((resolve, reject) => {
      const call: Call = { target, waiting: new Set([...peers, ...far]), relayed: far.length > 0, deadline: performance.now() + timeout, done: false, resolve, reject }
      call.timer = setTimeout(() => {
        this.#settle(call)
        const missing = [...call.waiting].sort()
        reject(new MeshCacheError(ErrorCode.REPLICATION_TIMEOUT,
          `${missing.length} of ${asked} peer(s) did not confirm writes up to #${target} within ${timeout} ms: ${missing.map((id) => this.#named(id)).join(', ')}`))
      }, timeout)
      this.#calls.push(call)
      if (call.relayed) this.#relayedCalls++
      this.#deadline = Math.max(this.#deadline, call.deadline)
      for (const member of call.waiting) {
        let queue = this.#byMember.get(member)
        if (queue === undefined) this.#byMember.set(member, queue = new CallQueue())
        queue.push(call)
      }
      this.#schedule()
    })
  }

  /** `member` applied this instance's writes up to `seq`: every call made before that number confirms it. */
  confirmed (member: string, seq: number): void {
    const queue = this.#byMember.get(member)
    if (queue !== undefined) {
      for (let call = queue.first(); call !== undefined && call.target <= seq; call = queue.first()) {
        queue.shift()
        call.waiting.delete(member)
        if (call.waiting.size === 0) {
          this.#settle(call)
          call.resolve()
        }
      }
      if (queue.first() === undefined) this.#byMember.delete(member)
    }
    const young = this.#young
    if (young !== undefined && seq >= young.target && young.asked.delete(member) && young.asked.size === 0) {
      this.#young = undefined
      if (this.#groupTimer !== undefined) this.#ask() // the calls made meanwhile go now
    }
  }

  /** The number request `ackId` asked for, or undefined if it is not ours or no call can count it any more. */
  requested (ackId: number): number | undefined {
    return this.#requests.get(ackId)
  }

  close (): void {
    this.#closed = true
    for (const call of this.#calls.open()) {
      this.#settle(call)
      call.reject(new MeshCacheError(ErrorCode.CLOSED, 'the cache was closed before every peer confirmed'))
    }
  }

  /** A new call: asked now if no wave is young, else with the next wave. */
  #schedule (): void {
    const age = this.#young === undefined ? Infinity : performance.now() - this.#young.sentAt
    if (age >= GROUP_MS) {
      this.#ask()
      return
    }
    this.#groupTimer ??= setTimeout(() => this.#ask(), GROUP_MS - age)
  }

  /** A wave: one request for the newest number any call waits for, to everyone some call waits for. */
  #ask (): void {
    if (this.#groupTimer !== undefined) { clearTimeout(this.#groupTimer); this.#groupTimer = undefined }
    const oldest = this.#calls.first()
    const target = this.#calls.last()?.target
    if (oldest === undefined || target === undefined) return
    // Members some call waits for: those with a queue (not the calls: thousands may wait on one silent member).
    const members = new Set<string>()
    for (const [member, queue] of this.#byMember) {
      if (queue.first() === undefined) this.#byMember.delete(member)
      else members.add(member)
    }
    // A request for less than the oldest waiting call's number can confirm nothing now.
    for (const [id, seq] of this.#requests) { if (seq >= oldest.target) break; this.#requests.delete(id) }
    const ackId = this.#nextId++
    this.#requests.set(ackId, target)
    const origin = this.#host.origin
    if (this.#relayedCalls > 0) {
      const wait = Math.max(1, Math.ceil(this.#deadline - performance.now()))
      const frame = encodeFrame({ type: MessageType.RELAY_ACK_REQUEST, ackId, origin, seq: target, wait })
      for (const peer of this.#host.peers()) this.#host.send(peer, frame)
    } else {
      // A full mesh asks its neighbours alone, as before relaying existed (an older peer answers it).
      const frame = encodeFrame({ type: MessageType.ACK_REQUEST, ackId, origin, seq: target })
      for (const peer of members) this.#host.send(peer, frame)
    }
    this.#young = { target, sentAt: performance.now(), asked: members }
    this.#askAgainTimer ??= setTimeout(() => this.#askAgain(), ASK_AGAIN_MS)
  }

  #askAgain (): void {
    this.#askAgainTimer = setTimeout(() => this.#askAgain(), ASK_AGAIN_MAX_MS)
    this.#ask()
  }

  /** The call is over: its timer stops, and once no call waits, nothing is asked or kept. */
  #settle (call: Call): void {
    if (call.done) return
    call.done = true
    clearTimeout(call.timer)
    if (call.relayed) this.#relayedCalls--
    // Members it still waited for (it timed out): their queues shed it, and go once empty (a killed member's would
    // otherwise grow with every call made until its state is stale).
    for (const member of call.waiting) if (this.#byMember.get(member)?.first() === undefined) this.#byMember.delete(member)
    if (this.#calls.first() !== undefined) return
    this.#byMember.clear()
    this.#requests.clear()
    this.#young = undefined
    this.#deadline = 0
    clearTimeout(this.#groupTimer)
    clearTimeout(this.#askAgainTimer)
    this.#groupTimer = this.#askAgainTimer = undefined
  }

  /** A transport id with the node id it announces, where that says more (a libp2p peer id tells a reader little). */
  #named (transportId: string): string {
    const nodeId = this.#host.nodeIdOf?.(transportId)
    return nodeId === undefined || nodeId === transportId ? transportId : `${transportId} (node ${nodeId})`
  }
}
