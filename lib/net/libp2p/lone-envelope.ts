/**
 * A lone write in its own envelope (SPEC §11, "Lone writes"). At modest rates nearly every frame a cache sends is
 * one write of one key by its own origin (protocol/lone.ts), and most of that frame's 55 bytes say what the stream
 * already knows: the origin's 21-character id, twice more as the record's writer and vector, and the write's number
 * twice. On a stream of LONE_PROTOCOL the sender names its origin in a namespace once (WRITER), and each lone write
 * then travels as LONE: the number, key, kind and clock, ~25 bytes for `user:12345`. Fewer bytes are fewer cipher
 * blocks (Noise's ChaCha20 and pnet's XSalsa20 each encrypt 64 bytes a block), and a receiver reads the fields
 * straight into the merge without the frame's codec. Everything else (a burst's frame, a value, a relayed or
 * partial mesh's broadcast, a stream of an older peer) keeps the frame in DATA.
 *
 *   WRITER(11) := uvarint(nsId) • string(origin)
 *   LONE(12)   := uvarint(nsId) • uvarint(seq) • string(key, ASCII) • kind:u8 • uvarint(hlc)
 *
 * A LONE stands for the UPDATES frame `encodeLone(origin, seq, { key, kind, hlc, writer: origin, vv: [origin, seq] })`
 * with the origin of the last WRITER of its nsId on the same stream; a JOIN or LEAVE of the nsId forgets it.
 */
import type { Stream } from '@libp2p/interface'
import { isAscii, pooledBytes, putAscii, putUvarint, uvarintLength } from '../../../protocol/bytes.ts'
import { asciiText } from '../../../protocol/reader.ts'
import { ErrorCode, MeshCacheError } from '../../errors.ts'
import { BodyReader, LONE_PROTOCOL, MSG_LONE, MSG_WRITER } from './envelope.ts'

/** Longest origin id a WRITER carries (the core's own limit, maxOriginBytes, is lower by default and checked there). */
export const MAX_WRITER_BYTES = 256

const notAscii = new MeshCacheError(ErrorCode.FRAME_MALFORMED, 'LONE key is not ASCII')
const trailing = new MeshCacheError(ErrorCode.FRAME_MALFORMED, 'trailing bytes after LONE')
const truncated = new MeshCacheError(ErrorCode.FRAME_TRUNCATED, 'LONE ends before its key, kind or clock')

/** Whether `stream` speaks LONE_PROTOCOL: the peer chose it, so it reads WRITER and LONE. */
export function readsLone (stream: Stream): boolean {
  return stream.protocol === LONE_PROTOCOL
}

/** WRITER, the whole envelope: the sender's own writes in `nsId` are `origin`'s (an ASCII id, as lone writes need). */
export function encodeWriter (nsId: number, origin: string): Uint8Array {
  const bodyLen = 1 + uvarintLength(nsId) + uvarintLength(origin.length) + origin.length
  const buf = new Uint8Array(uvarintLength(bodyLen) + bodyLen)
  let pos = putUvarint(buf, 0, bodyLen)
  buf[pos++] = MSG_WRITER
  pos = putUvarint(buf, pos, nsId)
  putAscii(buf, pos, origin)
  return buf
}

/** The fields of a WRITER after its type byte; throws MeshCacheError on bad input. */
export function decodeWriter (r: BodyReader): { nsId: number, origin: string } {
  const nsId = r.uvarint()
  const origin = r.string(MAX_WRITER_BYTES)
  if (!r.end()) throw new MeshCacheError(ErrorCode.FRAME_MALFORMED, 'trailing bytes after WRITER')
  if (origin === '') throw new MeshCacheError(ErrorCode.FRAME_MALFORMED, 'WRITER with an empty origin')
  // A lone write's origin id is ASCII (protocol/lone.ts canSendLone): the frame a LONE stands for says it byte for byte.
  if (!isAscii(origin)) throw new MeshCacheError(ErrorCode.FRAME_MALFORMED, 'WRITER origin id is not ASCII')
  return { nsId, origin }
}

/** LONE, the whole envelope, for write `seq` of key `key` (ASCII), its kind and clock. Built once a broadcast. */
export function encodeLoneWrite (nsId: number, seq: number, key: string, kind: number, hlc: number): Uint8Array {
  const bodyLen = 2 + uvarintLength(nsId) + uvarintLength(seq) + uvarintLength(key.length) + key.length + uvarintLength(hlc)
  const buf = pooledBytes(uvarintLength(bodyLen) + bodyLen) // every byte written below
  let pos = putUvarint(buf, 0, bodyLen)
  buf[pos++] = MSG_LONE
  pos = putUvarint(buf, pos, nsId)
  pos = putUvarint(buf, pos, seq)
  pos = putAscii(buf, pos, key)
  buf[pos++] = kind
  putUvarint(buf, pos, hlc)
  return buf
}

/** A LONE's fields; `readLoneWrite` fills one object a stream, reused from envelope to envelope. */
export interface LoneFields { nsId: number, seq: number, key: string, kind: number, hlc: number }

/**
 * Reads the LONE `body` (its type byte first) into `out`; throws MeshCacheError on bad input. The syntax only:
 * what the fields may be (a key's length, a kind, a number from 1) is the core's to check, against its limits.
 */
export function readLoneWrite (body: Uint8Array, out: LoneFields): void {
  const r = new BodyReader(body, 1)
  out.nsId = r.uvarint()
  out.seq = r.uvarint()
  const keyLen = r.uvarint()
  if (r.pos + keyLen + 2 > body.length) throw truncated
  const key = asciiText(body, r.pos, keyLen)
  if (key === undefined) throw notAscii
  out.key = key
  r.pos += keyLen
  out.kind = body[r.pos++] as number
  out.hlc = r.uvarint()
  if (!r.end()) throw trailing
}
