/**
 * The envelope meshcache puts around the core's frames on its own libp2p
 * stream protocol. The core's frames stay opaque; this layer adds only what a
 * stream shared by many namespaces needs.
 *
 * Byte grammar (uvarint = unsigned LEB128, string = uvarint(byteLength) • utf8):
 *
 *   stream      := envelope*                      (one stream per direction per peer)
 *   envelope    := uvarint(len) • body            (1 ≤ len ≤ MAX_BODY_BYTES)
 *   body        := type:u8 • fields
 *   HELLO(1)    := uvarint(n) • n × string(multiaddr) • [string(region)]   the sender's dialable addresses (and region)
 *   JOIN(2)     := uvarint(nsId) • string(namespace)           the sender joined namespace as nsId
 *   LEAVE(3)    := uvarint(nsId)                               the sender left nsId
 *   DATA(4)     := uvarint(nsId) • payload                     a whole frame, or the last piece of one
 *   PART(5)     := uvarint(nsId) • payload                     a piece of a frame; more PART/DATA follow
 *   PEERS(6)    := uvarint(n) • n × (string(peerId) • uvarint(m) • m × string(multiaddr)) • [n × string(region) • [n × uvarint(ageMs)]]
 *   PING(7)     := (nothing)                                   sent each keepaliveInterval (liveness.ts)
 *   FAST(8)     := uvarint(nsId) • hop:u8 • payload            a whole broadcast frame on a partial mesh's fast lane
 *                                                              (fast-lane.ts; hop 0 writer, 1 crossed, 2 last,
 *                                                              3 to a holder; readers before hop 3 drop it as bad;
 *                                                              hop 2 also to a neighbour off the region's write topic,
 *                                                              fast-lane.ts); older readers drop it as an unknown type
 *                                                              and join no region's topic (relay.ts): its repair
 *                                                              carries the frame to them
 *   SHED(9)     := (nothing)                                   the sender is letting this link go on purpose (a
 *                                                              partial mesh's bound or region links, partial-mesh.ts):
 *                                                              its close is not a loss to redial at the bound;
 *                                                              older readers drop it as an unknown type, harmlessly
 *   VIEW(10)    := holds:u8 • uvarint(n) • n × string(peerId)  region links (region-view.ts): whether the sender holds a
 *                                                              far link up in a namespace (regions.ts `carries` chooses
 *                                                              the lane's carriers by it), and which of its same-region neighbours said
 *                                                              they do; older readers drop it as an unknown type (they
 *                                                              keep more far links, as before)
 *   WRITER(11)  := uvarint(nsId) • string(origin)             the sender's own writes in nsId are origin's: what LONE
 *                                                              envelopes after it on this stream name (lone-envelope.ts)
 *   LONE(12)    := uvarint(nsId) • uvarint(seq) • string(key) • kind:u8 • uvarint(hlc)
 *                                                              a lone write of the sender's WRITER origin: the UPDATES
 *                                                              frame protocol/lone.ts encodes, without what the stream
 *                                                              already says (lone-envelope.ts); WRITER and LONE are
 *                                                              sent only on a stream of LONE_PROTOCOL
 *
 * nsId is chosen by the sender and is valid only on the stream that carried the JOIN.
 * A frame larger than CHUNK_BYTES is sent as PART… DATA, back to back on one stream.
 * The version is the protocol id (PROTOCOL); a new layout gets a new protocol id. LONE_PROTOCOL (1.1.0) is
 * 1.0.0 with WRITER and LONE: a node offers both and writes them only where the peer chose 1.1.0.
 */
import { ErrorCode, MeshCacheError } from '../../errors.ts'
import { pooledBytes, putUvarint, uvarintLength } from '../../../protocol/bytes.ts'

export const PROTOCOL = '/meshcache/1.0.0'
/** PROTOCOL with WRITER and LONE (lone-envelope.ts): what a node offers first, and reads on either. */
export const LONE_PROTOCOL = '/meshcache/1.1.0'
/** The protocol ids a node handles and offers, the newest first. */
export const PROTOCOLS = [LONE_PROTOCOL, PROTOCOL]

export const MSG_HELLO = 1
export const MSG_JOIN = 2
export const MSG_LEAVE = 3
export const MSG_DATA = 4
export const MSG_PART = 5
export const MSG_PEERS = 6
export const MSG_PING = 7
export const MSG_FAST = 8
export const MSG_SHED = 9
export const MSG_VIEW = 10
export const MSG_WRITER = 11
export const MSG_LONE = 12
/** Largest hop byte of a FAST envelope (fast-lane.ts Hop.HOLDER). */
export const MAX_FAST_HOP = 3

/** Largest piece of a frame in one envelope. */
export const CHUNK_BYTES = 1 << 20
/** Largest envelope body a reader accepts: a chunk plus its header. */
export const MAX_BODY_BYTES = CHUNK_BYTES + 16
export const MAX_NAMESPACE_BYTES = 256
export const MAX_NAMESPACES_PER_STREAM = 1024
export const MAX_PEERS_PER_MESSAGE = 256
export const MAX_ADDRS_PER_PEER = 16
export const MAX_ADDR_BYTES = 512

const truncated = new MeshCacheError(ErrorCode.FRAME_TRUNCATED, 'envelope ends before a field it declares')
const tooLarge = new MeshCacheError(ErrorCode.FRAME_TOO_LARGE, 'envelope field exceeds its limit')
const badUtf8 = new MeshCacheError(ErrorCode.FRAME_MALFORMED, 'envelope string is not valid UTF-8')

const utf8 = new TextEncoder()
const utf8Strict = new TextDecoder('utf-8', { fatal: true })

/**
 * The envelopes carrying `frame` in namespace `nsId`: one DATA, or PART… DATA
 * when the frame is larger than `chunk` bytes. Built once per broadcast and
 * sent as is to every peer.
 */
export function encodeFrame (nsId: number, frame: Uint8Array, chunk = CHUNK_BYTES): Uint8Array[] {
  // Nearly every frame is one envelope: no view of it cut, no list grown (a cold path at 1,000 writes/s).
  if (frame.length <= chunk) return [encodePayload(MSG_DATA, nsId, frame)]
  const out: Uint8Array[] = []
  let offset = 0
  do {
    const end = Math.min(frame.length, offset + chunk)
    out.push(encodePayload(end === frame.length ? MSG_DATA : MSG_PART, nsId, frame.subarray(offset, end)))
    offset = end
  } while (offset < frame.length)
  return out
}

/** A FAST envelope: a whole frame (≤ CHUNK_BYTES) on the fast lane, at `hop` (fast-lane.ts). */
export function encodeFast (nsId: number, hop: number, frame: Uint8Array): Uint8Array {
  const bodyLen = 2 + uvarintLength(nsId) + frame.length
  const buf = pooledBytes(uvarintLength(bodyLen) + bodyLen) // every byte written below
  let pos = putUvarint(buf, 0, bodyLen)
  buf[pos++] = MSG_FAST
  pos = putUvarint(buf, pos, nsId)
  buf[pos++] = hop
  buf.set(frame, pos)
  return buf
}

function encodePayload (type: number, nsId: number, payload: Uint8Array): Uint8Array {
  const bodyLen = 1 + uvarintLength(nsId) + payload.length
  const buf = pooledBytes(uvarintLength(bodyLen) + bodyLen) // every byte written below
  let pos = putUvarint(buf, 0, bodyLen)
  buf[pos++] = type
  pos = putUvarint(buf, pos, nsId)
  buf.set(payload, pos)
  return buf
}

/** A small growable writer for control messages (not the hot path). */
class Writer {
  parts: number[] = []
  uvarint (n: number): this {
    while (n >= 0x80) { this.parts.push((n % 128) | 0x80); n = Math.floor(n / 128) }
    this.parts.push(n)
    return this
  }

  string (s: string): this {
    const bytes = utf8.encode(s)
    this.uvarint(bytes.length)
    for (const b of bytes) this.parts.push(b)
    return this
  }

  envelope (): Uint8Array {
    const buf = new Uint8Array(uvarintLength(this.parts.length) + this.parts.length)
    const pos = putUvarint(buf, 0, this.parts.length)
    buf.set(this.parts, pos)
    return buf
  }
}

export function encodeHello (addrs: readonly string[], region = ''): Uint8Array {
  const w = new Writer()
  w.parts.push(MSG_HELLO)
  const list = addrs.slice(0, MAX_ADDRS_PER_PEER)
  w.uvarint(list.length)
  for (const a of list) w.string(a)
  // an optional trailing field: older readers ignore the rest of a HELLO
  if (region !== '') w.string(region)
  return w.envelope()
}

/** A HELLO's body after its type: the addresses, and the region if the sender added one. */
export function decodeHello (r: BodyReader): { addrs: string[], region: string } {
  const addrs = decodeAddrList(r)
  return { addrs, region: r.end() ? '' : r.string(MAX_REGION_BYTES) }
}

export function encodeJoin (nsId: number, namespace: string): Uint8Array {
  const w = new Writer()
  w.parts.push(MSG_JOIN)
  return w.uvarint(nsId).string(namespace).envelope()
}

export function encodeLeave (nsId: number): Uint8Array {
  const w = new Writer()
  w.parts.push(MSG_LEAVE)
  return w.uvarint(nsId).envelope()
}

/**
 * PING, the whole envelope: length 1, then the type. It carries nothing; its
 * arrival is what counts (the mesh's liveness check, liveness.ts).
 */
export function encodePing (): Uint8Array {
  return Uint8Array.of(1, MSG_PING)
}

/**
 * SHED, the whole envelope: sent just before this node closes a link it lets
 * go on purpose, so the peer does not take the close for a partition's.
 */
export function encodeShed (): Uint8Array {
  return Uint8Array.of(1, MSG_SHED)
}

/** A VIEW (region-view.ts): `holders` at most MAX_PEERS_PER_MESSAGE, the rest left out. */
export function encodeView (holds: boolean, holders: readonly string[]): Uint8Array {
  const w = new Writer()
  w.parts.push(MSG_VIEW, holds ? 1 : 0)
  const list = holders.slice(0, MAX_PEERS_PER_MESSAGE)
  w.uvarint(list.length)
  for (const peer of list) w.string(peer)
  return w.envelope()
}

/** The fields of a VIEW after its type byte; throws MeshCacheError on bad input. */
export function decodeView (r: BodyReader): { holds: boolean, holders: string[] } {
  if (r.end()) throw truncated
  const flag = r.buf[r.pos++] as number
  if (flag > 1) throw new MeshCacheError(ErrorCode.FRAME_MALFORMED, `VIEW holds flag ${flag} is neither 0 nor 1`)
  const n = r.count(MAX_PEERS_PER_MESSAGE)
  const holders: string[] = []
  for (let i = 0; i < n; i++) holders.push(r.string(MAX_ADDR_BYTES))
  if (!r.end()) throw new MeshCacheError(ErrorCode.FRAME_MALFORMED, 'trailing bytes after VIEW')
  return { holds: flag === 1, holders }
}

/**
 * A peer as peer exchange tells it: its addresses, its region, and `age`, how
 * many ms ago the sender last knew it alive (0: linked to it now; absent, as
 * from older senders, which tell only their links: 0).
 */
export interface PeerAddrs { peer: string, addrs: string[], region?: string, age?: number }

/** Longest region label carried (the cache's own option allows 64 characters). */
export const MAX_REGION_BYTES = 256

export function encodePeers (peers: readonly PeerAddrs[]): Uint8Array {
  const w = new Writer()
  w.parts.push(MSG_PEERS)
  const list = peers.slice(0, MAX_PEERS_PER_MESSAGE)
  w.uvarint(list.length)
  for (const p of list) {
    w.string(p.peer)
    const addrs = p.addrs.slice(0, MAX_ADDRS_PER_PEER)
    w.uvarint(addrs.length)
    for (const a of addrs) w.string(a)
  }
  // optional trailing regions, then ages, one per entry: older readers ignore what they do not know
  const ages = list.some(p => (p.age ?? 0) > 0)
  if (ages || list.some(p => (p.region ?? '') !== '')) for (const p of list) w.string(p.region ?? '')
  if (ages) for (const p of list) w.uvarint(Math.max(0, Math.round(p.age ?? 0)))
  return w.envelope()
}

/** Reads the fields of one envelope body; throws MeshCacheError on bad input. */
export class BodyReader {
  readonly buf: Uint8Array
  pos: number

  constructor (buf: Uint8Array, pos = 0) {
    this.buf = buf
    this.pos = pos
  }

  uvarint (): number {
    let n = 0
    let mul = 1
    for (;;) {
      if (this.pos >= this.buf.length) throw truncated
      const b = this.buf[this.pos++] as number
      n += (b & 0x7f) * mul
      if ((b & 0x80) === 0) return n
      mul *= 128
      if (mul > 2 ** 49) throw tooLarge
    }
  }

  /** A count bounded by `max`. */
  count (max: number): number {
    const n = this.uvarint()
    if (n > max) throw tooLarge
    return n
  }

  string (maxBytes: number): string {
    const len = this.count(maxBytes)
    if (this.pos + len > this.buf.length) throw truncated
    const bytes = this.buf.subarray(this.pos, this.pos + len)
    this.pos += len
    try {
      return utf8Strict.decode(bytes)
    } catch {
      throw badUtf8
    }
  }

  rest (): Uint8Array {
    const out = this.buf.subarray(this.pos)
    this.pos = this.buf.length
    return out
  }

  end (): boolean {
    return this.pos === this.buf.length
  }
}

export function decodeAddrList (r: BodyReader): string[] {
  const n = r.count(MAX_ADDRS_PER_PEER)
  const addrs: string[] = []
  for (let i = 0; i < n; i++) addrs.push(r.string(MAX_ADDR_BYTES))
  return addrs
}

export function decodePeers (r: BodyReader): PeerAddrs[] {
  const n = r.count(MAX_PEERS_PER_MESSAGE)
  const peers: PeerAddrs[] = []
  for (let i = 0; i < n; i++) {
    const peer = r.string(MAX_ADDR_BYTES)
    peers.push({ peer, addrs: decodeAddrList(r) })
  }
  if (!r.end()) for (const p of peers) p.region = r.string(MAX_REGION_BYTES)
  if (!r.end()) for (const p of peers) p.age = r.uvarint()
  return peers
}

/**
 * Splits a byte stream into envelope bodies. Chunks may cut envelopes
 * anywhere; a body that fits in one chunk is passed on without copying.
 * A length prefix that is zero, too long or over MAX_BODY_BYTES cannot be
 * skipped (the stream cannot resynchronise), so the reader stops and reports
 * it through `onFatal`.
 */
export class EnvelopeSplitter {
  readonly #onBody: (body: Uint8Array) => void
  readonly #onFatal: (reason: string) => void
  readonly #maxBody: number
  #len = 0
  #mul = 1
  #body: Uint8Array | null = null
  #filled = 0
  #dead = false

  constructor (onBody: (body: Uint8Array) => void, onFatal: (reason: string) => void, maxBody = MAX_BODY_BYTES) {
    this.#onBody = onBody
    this.#onFatal = onFatal
    this.#maxBody = maxBody
  }

  get dead (): boolean { return this.#dead }

  push (chunk: Uint8Array): void {
    let pos = 0
    const n = chunk.length
    while (pos < n && !this.#dead) {
      const body = this.#body
      if (body !== null) {
        const take = Math.min(n - pos, body.length - this.#filled)
        body.set(chunk.subarray(pos, pos + take), this.#filled)
        this.#filled += take
        pos += take
        if (this.#filled === body.length) {
          this.#body = null
          this.#onBody(body)
        }
        continue
      }
      const b = chunk[pos++] as number
      this.#len += (b & 0x7f) * this.#mul
      if ((b & 0x80) !== 0) {
        this.#mul *= 128
        if (this.#mul > 2 ** 28) this.#fatal('length prefix too long')
        continue
      }
      const len = this.#len
      this.#len = 0
      this.#mul = 1
      if (len === 0 || len > this.#maxBody) {
        this.#fatal(`envelope length ${len} out of range`)
      } else if (n - pos >= len) {
        this.#onBody(chunk.subarray(pos, pos + len))
        pos += len
      } else {
        this.#body = new Uint8Array(len)
        this.#filled = 0
      }
    }
  }

  #fatal (reason: string): void {
    this.#dead = true
    this.#body = null
    this.#onFatal(reason)
  }
}
