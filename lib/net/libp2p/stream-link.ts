/**
 * One remote peer as seen by the mesh: our outbound stream to it (we only
 * write there) and its outbound streams to us (we only read there), all on
 * PROTOCOL. Two one-way streams avoid deciding who opens a shared one when
 * both sides dial at once.
 */
import type { Connection, Logger, Stream } from '@libp2p/interface'
import {
  BodyReader, EnvelopeSplitter, decodeHello, decodePeers, decodeView,
  MAX_NAMESPACE_BYTES, MAX_NAMESPACES_PER_STREAM,
  MAX_FAST_HOP, MSG_DATA, MSG_FAST, MSG_HELLO, MSG_JOIN, MSG_LEAVE, MSG_LONE, MSG_PART, MSG_PEERS, MSG_PING, MSG_SHED, MSG_VIEW, MSG_WRITER
} from './envelope.ts'
import { decodeWriter, readLoneWrite, type LoneFields } from './lone-envelope.ts'
import type { PeerAddrs } from './envelope.ts'
import type { RegionReport } from './regions.ts'

/** What an inbound stream reports to the mesh. */
export interface ReaderEvents {
  onHello (link: PeerLink, addrs: string[], region: string): void
  /** The set of namespaces the peer announced changed. */
  onMembership (link: PeerLink): void
  onFrame (link: PeerLink, namespace: string, frame: Uint8Array): void
  /** A lone write (LONE) of `origin`, the peer's own origin in `namespace` (its WRITER on the stream). */
  onLone (link: PeerLink, namespace: string, origin: string, write: LoneFields): void
  /** A broadcast frame on the fast lane (FAST, fast-lane.ts), at `hop`. */
  onFastFrame (link: PeerLink, namespace: string, hop: number, frame: Uint8Array): void
  onPeers (link: PeerLink, peers: PeerAddrs[]): void
  /** What the peer reported of its region's far links (VIEW, region-view.ts). */
  onView (link: PeerLink, report: RegionReport): void
  /** The peer is letting this link go on purpose (SHED): it is about to close it. */
  onShed (link: PeerLink): void
  /** An envelope was dropped (bad, unknown type or namespace, oversized). */
  onBadEnvelope (link: PeerLink, reason: string): void
  onBytes (n: number): void
  onReaderClosed (link: PeerLink, reader: InboundReader): void
}

export class PeerLink {
  readonly peer: string
  out: Stream | null = null
  opening = false
  /** Namespaces reported up to their handlers for this peer. */
  readonly up = new Set<string>()
  readonly readers = new Set<InboundReader>()
  /** The peer's own dialable addresses, from its HELLO. */
  addrs: string[] = []
  /** Consecutive failures to open the outbound stream (for backoff). */
  openFailures = 0
  retryTimer: ReturnType<typeof setTimeout> | undefined
  /**
   * For liveness.ts: when (performance.now() ms) bytes last arrived from the
   * peer on any of its streams, when we last sent it a PING, and whether it
   * sends PINGs itself (a peer that does not is never given up).
   */
  lastHeard: number
  lastPing = 0
  pings = false
  /** Silent past a due PING (liveness.ts); its address is being probed. */
  suspect = false
  /** A forced dial to replace its silent connections is in flight. */
  refreshing = false
  /** A partial mesh over its bound: greet this peer, then let it go. */
  shed = false
  /**
   * Being let go on purpose, by us (over the bound) or by the peer (its SHED): up in no namespace
   * (namespaces.ts reconcile), so neither end sends it writes or counts it a far link held (regions.ts) while
   * it lasts; without this, a newcomer the peer was about to let go counted it one for that second, and its
   * region's holder stood down (SPEC.md §11.1). Cleared once the peer's last connection closed.
   */
  leaving = false
  /** The origins WRITER named on `out`, by nsId (lone-writes.ts); emptied whenever `out` is another stream (outbound.ts). */
  readonly writersSent = new Map<number, string>()
  /** Liveness gave it up (its connections were aborted for silence): a partition, probed until it heals. */
  gaveUp = false

  constructor (peer: string) {
    this.peer = peer
    this.lastHeard = performance.now()
  }

  /** True if frames can be written to this peer now. */
  writable (): boolean {
    return this.out !== null && this.out.writeStatus === 'writable'
  }

  /** Namespaces the peer announced on any of its live streams. */
  remoteNamespaces (): Set<string> {
    const all = new Set<string>()
    for (const r of this.readers) for (const ns of r.namespaces.values()) all.add(ns)
    return all
  }

  remoteHas (namespace: string): boolean {
    for (const r of this.readers) for (const ns of r.namespaces.values()) if (ns === namespace) return true
    return false
  }

  /**
   * Writes envelopes without waiting. Returns false (and writes nothing) when
   * the stream is gone or saturated past `maxBuffered` bytes: the caller
   * counts the drop. All envelopes of one frame are written or none.
   */
  write (envelopes: readonly Uint8Array[], maxBuffered: number): boolean {
    const out = this.out
    if (out === null || out.writeStatus !== 'writable') return false
    if (out.writableNeedsDrain && out.writeBufferLength >= maxBuffered) return false
    try {
      for (const e of envelopes) out.send(e)
      return true
    } catch {
      // closed under us; the 'close' listener cleans up
      return false
    }
  }
}

/** Parses one inbound stream; the namespace ids it learns are valid on it only. */
export class InboundReader {
  readonly link: PeerLink
  readonly stream: Stream
  readonly connection: Connection
  /** nsId → namespace, as announced by JOIN on this stream. */
  readonly namespaces = new Map<number, string>()
  /** nsId → the peer's own origin there, as named by WRITER on this stream (what its LONE envelopes write as). */
  readonly writers = new Map<number, string>()
  readonly #events: ReaderEvents
  readonly #maxFrameBytes: number
  readonly #log: Logger
  readonly #splitter: EnvelopeSplitter
  #parts: Uint8Array[] = []
  #partsBytes = 0
  #partsNs = -1
  #skipping = false
  #closed = false
  /** The last LONE read (its fields handed on before the next is read). */
  readonly #lone: LoneFields = { nsId: 0, seq: 0, key: '', kind: 0, hlc: 0 }

  constructor (link: PeerLink, stream: Stream, connection: Connection, events: ReaderEvents, maxFrameBytes: number, log: Logger) {
    this.link = link
    this.stream = stream
    this.connection = connection
    this.#events = events
    this.#maxFrameBytes = maxFrameBytes
    this.#log = log
    this.#splitter = new EnvelopeSplitter(body => { this.#body(body) }, reason => { this.#fatal(reason) })
    stream.addEventListener('message', evt => {
      link.lastHeard = performance.now()
      const data = evt.data
      if (data instanceof Uint8Array) {
        events.onBytes(data.length)
        this.#splitter.push(data)
      } else {
        events.onBytes(data.byteLength)
        for (const buf of data) this.#splitter.push(buf)
      }
    })
    stream.addEventListener('close', () => { this.#close() })
  }

  #close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#parts = []
    this.#events.onReaderClosed(this.link, this)
  }

  #fatal (reason: string): void {
    this.#events.onBadEnvelope(this.link, reason)
    this.#log('resetting inbound stream from %s: %s', this.link.peer, reason)
    this.stream.abort(new Error(`meshcache: ${reason}`))
  }

  #bad (reason: string): void {
    this.#events.onBadEnvelope(this.link, reason)
  }

  #body (body: Uint8Array): void {
    const type = body[0] as number
    // A frame in a namespace announced with a one-byte id (the first 128 on a stream): nearly every envelope. Its
    // payload is cut here without a reader, which every frame would otherwise allocate and call through. The rest
    // is another method so that this one stays short: V8 optimizes a function after it has run about its whole
    // bytecode some thousands of times, and an early return counts for as far as it got (outbox.ts's flush).
    if ((type === MSG_DATA || type === MSG_PART) && body.length > 1 && (body[1] as number) < 0x80) this.#payload(type, body[1] as number, body.subarray(2))
    else if (type === MSG_LONE) this.#loneWrite(body)
    else this.#envelope(type, body)
  }

  /** A LONE: a lone write of the origin the peer named for its namespace id on this stream. */
  #loneWrite (body: Uint8Array): void {
    const lone = this.#lone
    try {
      readLoneWrite(body, lone)
    } catch (err) {
      this.#bad((err as Error).message)
      return
    }
    const namespace = this.namespaces.get(lone.nsId)
    if (namespace === undefined) { this.#bad(`LONE for unannounced namespace id ${lone.nsId}`); return }
    const origin = this.writers.get(lone.nsId)
    if (origin === undefined) { this.#bad(`LONE before a WRITER for namespace id ${lone.nsId}`); return }
    this.#events.onLone(this.link, namespace, origin, lone)
  }

  /** Every other envelope: a frame under a longer namespace id, a fast-lane frame, and the control messages. */
  #envelope (type: number, body: Uint8Array): void {
    const r = new BodyReader(body, 1)
    try {
      switch (type) {
        case MSG_DATA:
        case MSG_PART:
          this.#payload(type, r.uvarint(), r.rest())
          return
        case MSG_FAST: {
          const nsId = r.uvarint()
          if (r.end()) { this.#bad('FAST without its hop'); return }
          const hop = body[r.pos++] as number
          if (hop > MAX_FAST_HOP) { this.#bad(`FAST hop ${hop} unknown`); return }
          const frame = r.rest()
          if (frame.length > this.#maxFrameBytes) { this.#bad('frame over maxFrameBytes'); return }
          const namespace = this.namespaces.get(nsId)
          if (namespace === undefined) { this.#bad(`frame for unannounced namespace id ${nsId}`); return }
          this.#events.onFastFrame(this.link, namespace, hop, frame)
          return
        }
        case MSG_JOIN: {
          const id = r.uvarint()
          const name = r.string(MAX_NAMESPACE_BYTES)
          if (!r.end()) { this.#bad('trailing bytes after JOIN'); return }
          if (!this.namespaces.has(id) && this.namespaces.size >= MAX_NAMESPACES_PER_STREAM) {
            this.#bad('too many namespaces'); return
          }
          this.namespaces.set(id, name)
          this.writers.delete(id) // a namespace id joined afresh names its writer afresh
          this.#events.onMembership(this.link)
          return
        }
        case MSG_LEAVE: {
          const id = r.uvarint()
          this.writers.delete(id)
          if (this.namespaces.delete(id)) this.#events.onMembership(this.link)
          return
        }
        case MSG_WRITER: {
          const { nsId, origin } = decodeWriter(r)
          if (!this.namespaces.has(nsId)) { this.#bad(`WRITER for unannounced namespace id ${nsId}`); return }
          this.writers.set(nsId, origin)
          return
        }
        case MSG_HELLO: {
          const hello = decodeHello(r)
          this.#events.onHello(this.link, hello.addrs, hello.region)
          return
        }
        case MSG_PEERS:
          this.#events.onPeers(this.link, decodePeers(r))
          return
        case MSG_PING:
          // its arrival already counted as hearing from the peer
          if (!r.end()) { this.#bad('trailing bytes after PING'); return }
          this.link.pings = true
          return
        case MSG_SHED:
          if (!r.end()) { this.#bad('trailing bytes after SHED'); return }
          this.#events.onShed(this.link)
          return
        case MSG_VIEW:
          this.#events.onView(this.link, decodeView(r))
          return
        default:
          this.#bad(`unknown envelope type ${String(type)}`)
      }
    } catch (err) {
      this.#bad((err as Error).message)
    }
  }

  #payload (type: number, nsId: number, payload: Uint8Array): void {
    if (this.#skipping) {
      // the rest of an oversized frame: drop pieces until its last one
      if (type === MSG_DATA) this.#skipping = false
      return
    }
    if (this.#parts.length > 0 && nsId !== this.#partsNs) {
      this.#dropParts()
      this.#bad('frame pieces from two namespaces interleaved')
    }
    if (this.#partsBytes + payload.length > this.#maxFrameBytes) {
      this.#dropParts()
      this.#skipping = type === MSG_PART
      this.#bad('frame over maxFrameBytes')
      return
    }
    if (type === MSG_PART) {
      this.#parts.push(payload.slice())
      this.#partsBytes += payload.length
      this.#partsNs = nsId
      return
    }
    let frame = payload
    if (this.#parts.length > 0) {
      frame = new Uint8Array(this.#partsBytes + payload.length)
      let pos = 0
      for (const p of this.#parts) { frame.set(p, pos); pos += p.length }
      frame.set(payload, pos)
      this.#dropParts()
    }
    const namespace = this.namespaces.get(nsId)
    if (namespace === undefined) { this.#bad(`frame for unannounced namespace id ${nsId}`); return }
    this.#events.onFrame(this.link, namespace, frame)
  }

  #dropParts (): void {
    this.#parts = []
    this.#partsBytes = 0
    this.#partsNs = -1
  }
}
