/**
 * The lone write's UPDATES frame, encoded and decoded by hand: one record,
 * written by the frame's origin, its vector that origin's entry alone, no
 * value, not folded, an ASCII key and origin id. At modest rates nearly every
 * frame a cache sends is this one (a write is its own synchronous run), and
 * each runs on a cold CPU, where the general codec's calls and objects show
 * (frame.ts, updates.ts, record.ts: about twenty functions a side).
 *
 * The bytes are the general encoder's, exactly (protocol/lone.test pins it):
 *
 *   version • UPDATES • 1 • originId • 0 • firstSeq • 1 •
 *   key • flags (the kind) • hlc • 0 • 1 • 0 • firstSeq
 *
 * `decodeLone` reads a frame of this shape, with every check the general
 * decoder makes of it, and answers undefined for anything else, so that the
 * general decoder decides that frame (and words its error).
 */
import { MessageType, PROTOCOL_VERSION, RecordKind, type DecodeLimits, type RecordKindValue } from './constants.ts'
import { isAscii, pooledBytes, putAscii, putUvarint, uvarintLength } from './bytes.ts'
import { asciiText, malformed, tooLarge } from './reader.ts'
import { recentOriginId, rememberOriginId, type InternOrigin, type WireRecord } from './record.ts'
import type { UpdatesMessage } from './updates.ts'

/** Whether frames of `origin` can be lone frames (its id is ASCII): the same for all of an origin's writes. */
export function canSendLone (origin: string): boolean {
  return isAscii(origin)
}

/** The record of the lone write `seq` of `origin`: written by it, its vector its entry alone, no value. */
export function loneRecord (origin: string, seq: number, key: string, kind: RecordKindValue, hlc: number): WireRecord {
  return { key, kind, hlc, writer: origin, vv: [origin, seq] }
}

/** Whether `r`, the write number `seq` of an origin `canSendLone` accepts, is a lone write's record that `encodeLone` can write. */
export function isLoneRecord (origin: string, seq: number, r: WireRecord): boolean {
  const vv = r.vv
  return r.value === undefined && r.folded !== true && r.writer === origin && vv.length === 2 && vv[0] === origin && vv[1] === seq && isAscii(r.key)
}

/** The length of a lone write's frame: its origin id's and key's lengths (ASCII), its number and clock. */
function loneFrameBytes (originLen: number, seq: number, keyLen: number, hlc: number): number {
  const seqBytes = uvarintLength(seq)
  return 3 + uvarintLength(originLen) + originLen + 1 + seqBytes + 1 + uvarintLength(keyLen) + keyLen + 1 + uvarintLength(hlc) + 3 + seqBytes
}

/** The frame of the lone write `r` (of an origin `canSendLone` accepts, a record `isLoneRecord` accepts), the origin's write number `seq`. */
export function encodeLone (origin: string, seq: number, r: WireRecord): Uint8Array {
  const buf = pooledBytes(loneFrameBytes(origin.length, seq, r.key.length, r.hlc)) // every byte written below
  buf[0] = PROTOCOL_VERSION
  buf[1] = MessageType.UPDATES
  buf[2] = 1 // the origin table: the origin alone
  let pos = putAscii(buf, 3, origin)
  buf[pos++] = 0 // the frame's origin: the table's first id
  pos = putUvarint(buf, pos, seq)
  buf[pos++] = 1 // one record
  pos = putAscii(buf, pos, r.key)
  buf[pos++] = r.kind
  pos = putUvarint(buf, pos, r.hlc)
  buf[pos++] = 0 // its writer: the origin
  buf[pos++] = 1 // its vector: one entry,
  buf[pos++] = 0 // the origin's,
  putUvarint(buf, pos, seq) // its number
  return buf
}

/** Where the last `smallUint` stopped. */
let after = 0

/** A varuint below 2^28 (four bytes at most) at `at`, its end in `after`; -1 for anything else. */
function smallUint (buf: Uint8Array, at: number): number {
  let n = 0
  for (let i = 0; i < 4; i++) {
    const b = buf[at + i]
    if (b === undefined) return -1
    n |= (b & 0x7f) << (7 * i)
    if (b < 0x80) { after = at + i + 1; return n }
  }
  return -1
}

/**
 * A lone write's frame as the general decoder would read it (`decodeFrame`
 * with the same limits and `intern`), or undefined if the frame is not one
 * or breaks any rule: the general decoder then reads or refuses it.
 */
export function decodeLone (frame: Uint8Array, limits: DecodeLimits, intern?: InternOrigin): UpdatesMessage | undefined {
  const end = frame.length
  if (end > limits.maxFrameBytes || frame[0] !== PROTOCOL_VERSION || frame[1] !== MessageType.UPDATES || frame[2] !== 1) return undefined
  const idLen = smallUint(frame, 3)
  if (idLen <= 0 || idLen > limits.maxOriginBytes || limits.maxOrigins < 1) return undefined
  const idAt = after
  if (idAt + idLen > end) return undefined
  let pos = idAt + idLen
  if (frame[pos++] !== 0) return undefined
  const seq = smallUint(frame, pos)
  if (seq <= 0) return undefined
  pos = after
  // One record, or the general decoder's frame: checked before the origin id is made a string.
  if (frame[pos++] !== 1 || limits.maxRecords < 1) return undefined
  let origin = recentOriginId(frame, idAt, idLen)
  if (origin === undefined) {
    const id = asciiText(frame, idAt, idLen)
    if (id === undefined) return undefined
    origin = rememberOriginId(frame, idAt, idLen, id)
  }
  const keyLen = smallUint(frame, pos)
  if (keyLen < 0 || keyLen > limits.maxKeyBytes) return undefined
  pos = after
  if (pos + keyLen > end) return undefined
  const key = asciiText(frame, pos, keyLen)
  if (key === undefined) return undefined
  pos += keyLen
  const kind = frame[pos++]
  if (kind !== RecordKind.SET && kind !== RecordKind.DELETE && kind !== RecordKind.INVALIDATE) return undefined // flags: a value, folded, unknown
  // The clock: a safe integer, read as the general reader does (up to 8 bytes).
  let hlc = 0
  let mult = 1
  for (;;) {
    const b = frame[pos++]
    if (b === undefined || mult > 2 ** 49) return undefined
    hlc += (b & 0x7f) * mult
    if (b < 0x80) break
    mult *= 128
  }
  if (!Number.isSafeInteger(hlc)) return undefined
  if (frame[pos] !== 0 || frame[pos + 1] !== 1 || frame[pos + 2] !== 0 || limits.maxVectorEntries < 1) return undefined
  pos += 3
  if (smallUint(frame, pos) !== seq || after !== end) return undefined
  if (intern !== undefined) origin = intern(origin)
  const record: WireRecord = { key, kind: kind as RecordKindValue, hlc, writer: origin, vv: [origin, seq] }
  return { type: MessageType.UPDATES, origin, firstSeq: seq, records: [record] }
}

/**
 * The lone write's message from its fields, as a transport that carried it without its frame gives them
 * (SPEC §11, "Lone writes"): what `decodeLone` makes of the frame `encodeLone` would write for them, with the
 * checks the general decoder makes of that frame under `limits` as a receiver reads it (`dropValues`, which reads
 * an UPDATES frame over maxFrameBytes without its values: a lone write has none). Throws the MeshCacheError it would.
 */
export function loneMessage (origin: string, seq: number, key: string, kind: number, hlc: number, limits: DecodeLimits, intern?: InternOrigin): UpdatesMessage {
  if (origin.length === 0) throw malformed('empty origin id')
  // A lone write's ids are ASCII (canSendLone, isLoneRecord): their lengths are their byte lengths.
  if (!isAscii(origin) || !isAscii(key)) throw malformed('a lone write\'s origin id or key is not ASCII')
  if (origin.length > limits.maxOriginBytes) throw tooLarge('origin id length', origin.length, limits.maxOriginBytes)
  if (limits.maxOrigins < 1) throw tooLarge('origin count', 1, limits.maxOrigins)
  if (limits.maxRecords < 1) throw tooLarge('record count', 1, limits.maxRecords)
  if (limits.maxVectorEntries < 1) throw tooLarge('version vector entries', 1, limits.maxVectorEntries)
  if (!Number.isSafeInteger(seq) || seq < 1) throw malformed('sequence numbers start at 1')
  if (key.length > limits.maxKeyBytes) throw tooLarge('key length', key.length, limits.maxKeyBytes)
  if (kind !== RecordKind.SET && kind !== RecordKind.DELETE && kind !== RecordKind.INVALIDATE) throw malformed(`lone write kind ${kind} is not SET, DELETE or INVALIDATE`)
  if (!Number.isSafeInteger(hlc)) throw malformed('record hlc is not a safe integer')
  const id = intern === undefined ? origin : intern(origin)
  return { type: MessageType.UPDATES, origin: id, firstSeq: seq, records: [loneRecord(id, seq, key, kind as RecordKindValue, hlc)] }
}
