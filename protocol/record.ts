/**
 * Records (the state of one key) and the origin table they refer to.
 *
 *   origins     := count:varuint • originId:varstring*count
 *   record      := key:varstring • flags:uint8 • hlc:varuint • writer:varuint
 *                  • vvLen:varuint • (origin:varuint • counter:varuint)*vvLen
 *                  • [ttl:varuint • value:varbytes]       (only when flags has FLAG_VALUE)
 *
 * `writer` and each vector `origin` index the frame's origin table. Vector
 * entries are in ascending origin-id order, counters ≥ 1, and the writer has
 * an entry: the canonical form, so one state has one encoding.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import type { VersionVector } from '../lib/core/version-vector.ts'
import { FLAG_FOLDED, FLAG_VALUE, FLAGS_KNOWN, KIND_MASK, RecordKind, type DecodeLimits, type RecordKindValue } from './constants.ts'
import { malformed, readByte, readBytesView, readCount, readString, readStringOf, readUint, tooLarge, truncated, type Decoder } from './reader.ts'
import { writeString, writeUint } from './writer.ts'

export interface WireRecord {
  key: string
  kind: RecordKindValue
  /** Hybrid logical clock of the write that produced this state. */
  hlc: number
  /** The origin whose write this state is (the winner, after a conflict). */
  writer: string
  vv: VersionVector
  /** Milliseconds the value lives from the write's physical time (with `value`). */
  ttl?: number | undefined
  /**
   * The encoded value, replicate mode only. Decoded, it is a view into the
   * frame (see readBytesView): whoever keeps it copies it.
   */
  value?: Uint8Array | undefined
  /**
   * Set by a lenient decode (see `decodeFrame`'s `dropValues`): the record
   * carried a value of this many bytes that the receiver could not take, and
   * it was read without it.
   */
  droppedValueBytes?: number | undefined
  /** The sender's state was folded to the bound (FLAG_FOLDED, SPEC §4): its vector may lack entries. */
  folded?: boolean | undefined
}

/** Origin tables up to this many ids are scanned rather than indexed. */
const SCANNED_IDS = 8

/**
 * Builds an origin table while records are prepared, so each id is written
 * once. Most tables hold one or two ids (a lone write's frame: its writer):
 * those are found by a scan, and a Map is built only for a long table.
 */
export class OriginTable {
  readonly ids: string[] = []
  #index: Map<string, number> | undefined

  ref (origin: string): number {
    const ids = this.ids
    if (this.#index !== undefined) {
      const i = this.#index.get(origin)
      if (i !== undefined) return i
      this.#index.set(origin, ids.length)
    } else {
      const i = ids.indexOf(origin)
      if (i !== -1) return i
      if (ids.length === SCANNED_IDS) this.#index = new Map(ids.map((id, j) => [id, j])).set(origin, ids.length)
    }
    ids.push(origin)
    return ids.length - 1
  }

  addRecord (r: WireRecord): void {
    this.ref(r.writer)
    for (let i = 0; i < r.vv.length; i += 2) this.ref(r.vv[i] as string)
  }
}

export function writeOrigins (encoder: encoding.Encoder, table: OriginTable): void {
  writeUint(encoder, table.ids.length)
  for (const id of table.ids) writeString(encoder, id)
}

/**
 * Maps a decoded origin id to an equal string the receiver already holds,
 * or returns it as it is. The records of a frame share its table's strings;
 * without this, every key a one-record frame writes would keep its own copy
 * of its writer's id (~40 bytes a key).
 */
export type InternOrigin = (id: string) => string

const asDecoded: InternOrigin = (id) => id

export function readOrigins (decoder: Decoder, limits: DecodeLimits, intern: InternOrigin = asDecoded): string[] {
  const n = readCount(decoder, 'origin table size', limits.maxOrigins)
  const ids = new Array<string>(n) // its exact size (n is bounded by maxOrigins): a grown array allocates 17 places
  // Most tables hold one or two ids: a Set only pays for itself on long ones.
  const seen = n > 8 ? new Set<string>() : undefined
  for (let i = 0; i < n; i++) {
    const id = readOriginId(decoder, limits, intern)
    if (seen !== undefined ? seen.has(id) : ids.includes(id)) throw malformed(`origin id ${JSON.stringify(id)} appears twice in the table`)
    seen?.add(id)
    ids[i] = id
  }
  return ids
}

/**
 * The last origin id read, by its bytes. One writer's frames follow one another, each with its own id (~60
 * bytes) in its table: comparing those bytes with the last id's costs less, on a cold CPU, than making the
 * string again and hashing it to intern it (the string kept has its hash already). Both decoders (this one and
 * lone.ts's) share it.
 */
let lastIdBytes = new Uint8Array(0)
let lastId = ''

/** The last origin id read, if the `len` bytes at `pos` of `arr` are its bytes; else undefined. */
export function recentOriginId (arr: Uint8Array, pos: number, len: number): string | undefined {
  if (len === 0 || len !== lastIdBytes.length || len > arr.length - pos) return undefined
  for (let j = 0; j < len; j++) if (arr[pos + j] !== lastIdBytes[j]) return undefined
  return lastId
}

/** Remembers `id`, read from the `len` bytes at `pos` of `arr`, as the last origin id read; returns it. */
export function rememberOriginId (arr: Uint8Array, pos: number, len: number, id: string): string {
  lastIdBytes = arr.slice(pos, pos + len)
  return (lastId = id)
}

/** An origin id of a table, interned. */
function readOriginId (decoder: Decoder, limits: DecodeLimits, intern: InternOrigin): string {
  const len = readUint(decoder, 'origin id length')
  const pos = decoder.pos
  const recent = len <= limits.maxOriginBytes ? recentOriginId(decoder.arr, pos, len) : undefined
  if (recent !== undefined) {
    decoder.pos = pos + len
    return (lastId = intern(recent))
  }
  const id = readStringOf(decoder, len, 'origin id', limits.maxOriginBytes)
  if (id.length === 0) throw malformed('empty origin id')
  return rememberOriginId(decoder.arr, pos, len, intern(id))
}

export function writeRecord (encoder: encoding.Encoder, table: OriginTable, r: WireRecord): void {
  writeString(encoder, r.key)
  const hasValue = r.value !== undefined
  encoding.writeUint8(encoder, r.kind | (hasValue ? FLAG_VALUE : 0) | (r.folded === true ? FLAG_FOLDED : 0))
  writeUint(encoder, r.hlc)
  writeUint(encoder, table.ref(r.writer))
  writeUint(encoder, r.vv.length / 2)
  for (let i = 0; i < r.vv.length; i += 2) {
    writeUint(encoder, table.ref(r.vv[i] as string))
    writeUint(encoder, r.vv[i + 1] as number)
  }
  if (hasValue) {
    writeUint(encoder, r.ttl ?? 0)
    encoding.writeVarUint8Array(encoder, r.value as Uint8Array)
  }
}

function originAt (origins: string[], index: number, what: string): string {
  const id = origins[index]
  if (id === undefined) throw malformed(`${what} refers to origin ${index}, but the table has ${origins.length}`)
  return id
}

/**
 * `dropValues`: undefined refuses a value over `limits.maxValueBytes` with the
 * frame (E_FRAME_TOO_LARGE); a number reads a value longer than it as absent
 * (`droppedValueBytes`), and the rest of the record as usual.
 */
export function readRecord (decoder: Decoder, origins: string[], limits: DecodeLimits, dropValues?: number): WireRecord {
  const key = readString(decoder, 'key', limits.maxKeyBytes)
  const flags = readByte(decoder, 'record flags')
  if ((flags & ~FLAGS_KNOWN) !== 0) throw malformed(`record flags 0x${flags.toString(16)} has unknown bits`)
  const kind = flags & KIND_MASK
  if (kind !== RecordKind.SET && kind !== RecordKind.DELETE && kind !== RecordKind.INVALIDATE) {
    throw malformed(`record kind ${kind} is unknown`)
  }
  const hasValue = (flags & FLAG_VALUE) !== 0
  if (hasValue && kind !== RecordKind.SET) throw malformed('only a SET record may carry a value')
  const hlc = readUint(decoder, 'hlc')
  const writer = originAt(origins, readUint(decoder, 'writer'), 'writer')
  const n = readCount(decoder, 'version vector size', limits.maxVectorEntries)
  const vv: VersionVector = new Array(n * 2) // exact size: see lib/core/version-vector.ts
  let previous = ''
  let writerSeen = false
  for (let i = 0; i < n; i++) {
    const origin = originAt(origins, readUint(decoder, 'vector origin'), 'vector entry')
    const counter = readUint(decoder, 'vector counter')
    if (counter === 0) throw malformed(`vector counter of ${origin} is 0`)
    if (i > 0 && origin <= previous) throw malformed('version vector is not in ascending origin order')
    if (origin === writer) writerSeen = true
    previous = origin
    vv[2 * i] = origin
    vv[2 * i + 1] = counter
  }
  if (!writerSeen) throw malformed(`version vector of key ${JSON.stringify(key)} lacks its writer ${writer}`)
  const record: WireRecord = { key, kind: kind as RecordKindValue, hlc, writer, vv }
  if ((flags & FLAG_FOLDED) !== 0) record.folded = true
  if (hasValue) {
    record.ttl = readUint(decoder, 'ttl')
    if (dropValues === undefined) {
      record.value = readBytesView(decoder, 'value', limits.maxValueBytes)
    } else {
      const len = readUint(decoder, 'value length')
      // The same verdict as a strict read for a value that is not all there.
      if (len > decoder.arr.length - decoder.pos) throw len > limits.maxValueBytes ? tooLarge('value', len, limits.maxValueBytes) : truncated('value')
      const value = decoding.readUint8Array(decoder, len) // a view, as readBytesView's
      if (len > dropValues) record.droppedValueBytes = len
      else record.value = value
    }
  }
  return record
}
