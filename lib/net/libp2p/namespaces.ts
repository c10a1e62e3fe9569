/**
 * The namespaces this node joined, and the membership rule over them: which
 * namespaces a peer counts as up in (DESIGN.md "Membership and onPeerUp"),
 * and the calls into the core's handlers, whose errors are counted and
 * logged, never thrown into the transport. Apart from mesh.ts because it
 * knows nothing of connections: it sees a peer only through its PeerLink.
 */
import type { Logger } from '@libp2p/interface'
import type { FrameHandler } from '../transport.ts'
import { ErrorCode, MeshCacheError } from '../../errors.ts'
import { MAX_NAMESPACE_BYTES, MAX_NAMESPACES_PER_STREAM } from './envelope.ts'
import { topicOf } from './relay.ts'
import type { TransportStats } from './stats.ts'
import type { PeerLink } from './stream-link.ts'
import type { LoneFields } from './lone-envelope.ts'
import { encodeLone, loneRecord } from '../../../protocol/lone.ts'
import type { RecordKindValue } from '../../../protocol/constants.ts'

export interface LocalNamespace {
  readonly id: number
  readonly name: string
  readonly handler: FrameHandler
  open: boolean
}

const utf8 = new TextEncoder()

export class Namespaces {
  readonly #stats: TransportStats
  readonly #log: Logger
  readonly #byName = new Map<string, LocalNamespace>()
  /** Joined namespaces by relay topic. */
  readonly #byTopic = new Map<string, LocalNamespace>()
  #nextId = 1

  constructor (stats: TransportStats, log: Logger) {
    this.#stats = stats
    this.#log = log
  }

  /** Adds `name`, or throws E_INVALID_ARGUMENT (and adds nothing) if it cannot be joined. */
  add (name: string, handler: FrameHandler): LocalNamespace {
    if (typeof name !== 'string' || name.length === 0 || utf8.encode(name).length > MAX_NAMESPACE_BYTES) {
      throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `namespace must be a non-empty string of at most ${MAX_NAMESPACE_BYTES} UTF-8 bytes`)
    }
    if (this.#byName.has(name)) {
      throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `namespace ${JSON.stringify(name)} is already joined on this transport`)
    }
    if (this.#byName.size >= MAX_NAMESPACES_PER_STREAM) {
      // Peers refuse JOINs past this many on one stream (envelope.ts): the namespace would never come up.
      throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `a transport carries at most ${MAX_NAMESPACES_PER_STREAM} namespaces; ${JSON.stringify(name)} would be one more`)
    }
    const ns: LocalNamespace = { id: this.#nextId++, name, handler, open: true }
    this.#byName.set(name, ns)
    this.#byTopic.set(topicOf(name), ns)
    return ns
  }

  remove (ns: LocalNamespace): void {
    this.#byName.delete(ns.name)
    this.#byTopic.delete(topicOf(ns.name))
  }

  /** Closes every namespace (the transport stops). */
  closeAll (): void {
    for (const ns of this.#byName.values()) ns.open = false
    this.#byName.clear()
  }

  get (name: string): LocalNamespace | undefined {
    return this.#byName.get(name)
  }

  byTopic (topic: string): LocalNamespace | undefined {
    return this.#byTopic.get(topic)
  }

  values (): Iterable<LocalNamespace> {
    return this.#byName.values()
  }

  /** Hands `frame` from `from` to `ns`'s handler (counted as unjoined if `ns` is gone). */
  deliver (ns: LocalNamespace | undefined, from: string, frame: Uint8Array): void {
    if (ns === undefined || !ns.open) { this.#stats.droppedUnjoined++; return }
    this.#stats.framesReceived++
    try {
      ns.handler.onFrame(from, frame)
    } catch (err) {
      this.#stats.handlerErrors++
      this.#log.error('onFrame handler of %s threw: %e', ns.name, err)
    }
  }

  /**
   * Hands the lone write `write` of `origin` from `from` to `ns`'s handler: to its `onLone`, or as the UPDATES
   * frame it stands for to `onFrame` if the handler takes frames only.
   */
  deliverLone (ns: LocalNamespace | undefined, from: string, origin: string, write: LoneFields): void {
    if (ns === undefined || !ns.open) { this.#stats.droppedUnjoined++; return }
    const handler = ns.handler
    if (handler.onLone === undefined) {
      const { seq, key, kind, hlc } = write
      this.deliver(ns, from, encodeLone(origin, seq, loneRecord(origin, seq, key, kind as RecordKindValue, hlc)))
      return
    }
    this.#stats.framesReceived++
    try {
      handler.onLone(from, origin, write.seq, write.key, write.kind, write.hlc)
    } catch (err) {
      this.#stats.handlerErrors++
      this.#log.error('onLone handler of %s threw: %e', ns.name, err)
    }
  }

  /**
   * Brings the namespaces reported up for `link` in line with the rule: we
   * joined it, the peer announced it, our stream to the peer is open, and
   * neither end is letting the link go (`leaving`).
   * Fires exactly the difference, onPeerDown before onPeerUp.
   */
  reconcile (link: PeerLink): void {
    const should = new Set<string>()
    if (link.writable() && !link.leaving) {
      for (const name of link.remoteNamespaces()) if (this.#byName.get(name)?.open === true) should.add(name)
    }
    for (const name of [...link.up]) {
      if (should.has(name)) continue
      link.up.delete(name)
      const ns = this.#byName.get(name)
      if (ns === undefined) continue
      try { ns.handler.onPeerDown(link.peer) } catch (err) {
        this.#stats.handlerErrors++
        this.#log.error('onPeerDown handler of %s threw: %e', name, err)
      }
    }
    for (const name of should) {
      if (link.up.has(name)) continue
      // A handler called above or earlier in this loop may have left it.
      const ns = this.#byName.get(name)
      if (ns === undefined || !ns.open) continue
      link.up.add(name)
      this.#stats.peerUps++
      try { ns.handler.onPeerUp(link.peer) } catch (err) {
        this.#stats.handlerErrors++
        this.#log.error('onPeerUp handler of %s threw: %e', name, err)
      }
    }
  }
}
