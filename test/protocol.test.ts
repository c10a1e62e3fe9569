/**
 * The wire codec: every message type round-trips, the golden frames pin the
 * layout, and every way a decoder can refuse a frame is exercised with its
 * stable error code. Malformed frames are written field by field with lib0
 * (`raw`), each differing from a valid base in one field only, and each base
 * is checked to decode, so a refusal is always caused by that one field.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as prng from 'lib0/prng'
import { readUint } from '../protocol/reader.ts'
import { writeUint } from '../protocol/writer.ts'
import { DEFAULT_LIMITS, FLAG_FOLDED, FLAG_VALUE, MessageType, PROTOCOL_VERSION, RecordKind, decodeFrame, encodeFrame, type DecodeLimits, type Message, type WireRecord } from '../protocol/index.ts'
import { ErrorCode, MeshCacheError, type ErrorCodeValue } from '../lib/errors.ts'
import { pooledBytes } from '../protocol/bytes.ts'
import { GOLDEN_PATH, fromHex, messageFromJson, messageToJson, toHex, type GoldenFile } from './fixtures/golden.ts'

const A = 'alpha~1'
const B = 'bravo~1'
const C = 'charlie~1'
const T = 1_700_000_000_000 * 1000
const V = PROTOCOL_VERSION
const enc = new TextEncoder()
const golden = JSON.parse(readFileSync(GOLDEN_PATH, 'utf8')) as GoldenFile

type Field = number | string | number[] | Uint8Array
/**
 * A frame written field by field: a number is a varuint, a string a
 * varstring, a Uint8Array a length-prefixed byte string, a number[] raw bytes.
 */
function raw (...fields: Field[]): Uint8Array {
  const e = encoding.createEncoder()
  for (const f of fields) {
    if (typeof f === 'number') encoding.writeVarUint(e, f)
    else if (typeof f === 'string') encoding.writeVarString(e, f)
    else if (f instanceof Uint8Array) encoding.writeVarUint8Array(e, f)
    else for (const b of f) encoding.writeUint8(e, b)
  }
  return encoding.toUint8Array(e)
}

interface RawRecord { key?: Field, flags?: number, hlc?: Field, writer?: Field, vv?: Field[], tail?: Field[] }
/** A record: key 'k', SET, hlc T, writer index 0, vector [(0, 1)] unless overridden. */
function rec (r: RawRecord = {}): Field[] {
  const vv = r.vv ?? [0, 1]
  return [r.key ?? 'k', [r.flags ?? 0], r.hlc ?? T, r.writer ?? 0, vv.length / 2, ...vv, ...(r.tail ?? [])]
}

interface RawUpdates { table?: Field[], origin?: Field, firstSeq?: Field, count?: Field, records?: Field[][] }
/** UPDATES from origin table [A, B], origin 0, firstSeq 1, one default record unless overridden. */
function updates (u: RawUpdates = {}): Uint8Array {
  const table = u.table ?? [A, B]
  const records = u.records ?? [rec()]
  return raw(V, MessageType.UPDATES, table.length, ...table, u.origin ?? 0, u.firstSeq ?? 1, u.count ?? records.length, ...records.flat())
}

interface RawStep2 { syncId?: Field, part?: Field, parts?: Field, sv?: Field[], table?: Field[], count?: Field, records?: Field[][] }
function step2 (s: RawStep2 = {}): Uint8Array {
  const sv = s.sv ?? [A, 3]
  const table = s.table ?? [A, B]
  const records = s.records ?? [rec()]
  return raw(V, MessageType.SYNC_STEP2, s.syncId ?? 1, s.part ?? 0, s.parts ?? 1, sv.length / 2, ...sv,
    table.length, ...table, s.count ?? records.length, ...records.flat())
}

function step1 (sv: Field[] = [A, 3, B, 0], syncId: Field = 1): Uint8Array {
  return raw(V, MessageType.SYNC_STEP1, syncId, sv.length / 2, ...sv)
}

function limits (over: Partial<DecodeLimits>): DecodeLimits {
  return { ...DEFAULT_LIMITS, ...over }
}

/** Asserts that decoding `bytes` throws a MeshCacheError with `code`, and nothing else. */
function refuses (bytes: Uint8Array, code: ErrorCodeValue, label: string, lim: DecodeLimits = DEFAULT_LIMITS): MeshCacheError {
  let error: unknown
  let decoded: Message | undefined
  try {
    decoded = decodeFrame(bytes, lim)
  } catch (e) {
    error = e
  }
  if (error === undefined) assert.unreachable(`${label}: decoded ${JSON.stringify(decoded && messageToJson(decoded))}, expected ${code}`)
  if (!(error instanceof MeshCacheError)) assert.unreachable(`${label}: threw ${String(error)}, not a MeshCacheError`)
  const e = error as MeshCacheError
  assert.is(e.code, code, `${label}: ${e.message}`)
  assert.is(e.name, 'MeshCacheError')
  return e
}

function decodes (bytes: Uint8Array, label: string, lim: DecodeLimits = DEFAULT_LIMITS): Message {
  try {
    return decodeFrame(bytes, lim)
  } catch (e) {
    assert.unreachable(`${label}: ${String(e)}`)
    throw e
  }
}

function roundTrip (msg: Message, label: string): Uint8Array {
  const bytes = encodeFrame(msg)
  assert.equal(decodes(bytes, label), msg, label)
  return bytes
}

// ---- round trips ----

test('UPDATES round-trips: every kind, vectors naming several origins, with and without values', () => {
  const bytes = roundTrip({
    type: MessageType.UPDATES,
    origin: B,
    firstSeq: 9,
    records: [
      { key: 'a', kind: RecordKind.SET, hlc: T, writer: B, vv: [A, 4, B, 9, C, 1] },
      { key: 'b', kind: RecordKind.SET, hlc: T + 1, writer: B, vv: [B, 10, C, 8], ttl: 1000, value: enc.encode('"x"') },
      { key: 'a', kind: RecordKind.DELETE, hlc: T + 2, writer: B, vv: [A, 4, B, 11, C, 1] },
      { key: '', kind: RecordKind.INVALIDATE, hlc: T + 3, writer: B, vv: [B, 12] },
      { key: '🔑ключ', kind: RecordKind.SET, hlc: T + 4, writer: B, vv: [A, 1, B, 13], ttl: 0, value: new Uint8Array(0) },
    ],
  }, 'updates')
  assert.is(bytes[0], PROTOCOL_VERSION)
  assert.is(bytes[1], MessageType.UPDATES)
})

test('UPDATES round-trips at the extremes: safe-integer maxima, a 256-entry vector, a 100 KiB value', () => {
  const origins = Array.from({ length: 256 }, (_, i) => `o${String(i).padStart(3, '0')}`)
  const vv = origins.flatMap((o, i) => [o, i + 1])
  const top = Number.MAX_SAFE_INTEGER
  roundTrip({
    type: MessageType.UPDATES,
    origin: 'o255',
    firstSeq: 256,
    records: [{ key: 'k'.repeat(4096), kind: RecordKind.SET, hlc: top, writer: 'o255', vv, ttl: top, value: new Uint8Array(100 * 1024).fill(7) }],
  }, 'extremes')
  roundTrip({ type: MessageType.UPDATES, origin: A, firstSeq: top, records: [{ key: 'k', kind: 0, hlc: 0, writer: A, vv: [A, top] }] }, 'top seq')
})

test('SYNC_STEP1 round-trips, empty and with many origins', () => {
  roundTrip({ type: MessageType.SYNC_STEP1, syncId: 0, sv: new Map() }, 'empty')
  roundTrip({ type: MessageType.SYNC_STEP1, syncId: 3, sv: new Map([[C, 0], [A, 7], [B, Number.MAX_SAFE_INTEGER]]) }, 'three')
  const sv = new Map(Array.from({ length: 4096 }, (_, i) => [`node-${i}~x`, i] as [string, number]))
  roundTrip({ type: MessageType.SYNC_STEP1, syncId: Number.MAX_SAFE_INTEGER, sv }, 'maxOrigins')
})

test('SYNC_STEP2 round-trips as a multi-part answer whose parts reassemble the records', () => {
  const sv = new Map([[A, 5], [B, 2], [C, 9]])
  const records: WireRecord[] = [
    { key: 'x', kind: RecordKind.SET, hlc: T, writer: A, vv: [A, 5, C, 2] },
    { key: 'y', kind: RecordKind.DELETE, hlc: T + 1, writer: C, vv: [B, 2, C, 9] },
    { key: 'z', kind: RecordKind.INVALIDATE, hlc: T + 2, writer: B, vv: [B, 1] },
    { key: 'w', kind: RecordKind.SET, hlc: T + 3, writer: C, vv: [C, 3], ttl: 50, value: Uint8Array.of(1, 2, 3) },
  ]
  const parts = [records.slice(0, 2), records.slice(2, 3), records.slice(3), []]
  const got: WireRecord[] = []
  parts.forEach((rs, part) => {
    const msg = decodes(encodeFrame({ type: MessageType.SYNC_STEP2, syncId: 42, part, parts: parts.length, sv, records: rs }), `part ${part}`)
    assert.is(msg.type, MessageType.SYNC_STEP2)
    if (msg.type !== MessageType.SYNC_STEP2) return
    assert.equal([msg.syncId, msg.part, msg.parts], [42, part, parts.length])
    assert.equal(msg.sv, sv)
    got.push(...msg.records)
  })
  assert.equal(got, records)
})

test('AWARENESS round-trips, including an empty update', () => {
  roundTrip({ type: MessageType.AWARENESS, update: Uint8Array.of(1, 7, 1, 2, 123, 125) }, 'update')
  roundTrip({ type: MessageType.AWARENESS, update: new Uint8Array(0) }, 'empty')
})

test('decoding does not change the frame; a value is a view into it (the cache copies what a codec may keep)', () => {
  const frame = encodeFrame({ type: 0, origin: A, firstSeq: 1, records: [{ key: 'k', kind: 0, hlc: T, writer: A, vv: [A, 1], ttl: 5, value: Uint8Array.of(9, 9, 9) }] })
  const before = frame.slice()
  const msg = decodes(frame, 'value frame')
  assert.equal(frame, before)
  const value = msg.type === 0 ? msg.records[0]?.value : undefined
  assert.equal(value, Uint8Array.of(9, 9, 9))
  assert.ok(value?.buffer === frame.buffer, 'no copy per value: test/cache.test.ts pins who copies')
})

test('origin ids go through the intern function; the table is still checked for repeats', () => {
  // A receiver's interner returns an equal string it holds; a marked one shows which string is used.
  const seen: string[] = []
  const intern = (id: string): string => { seen.push(id); return `#${id}` }
  const msg = decodeFrame(updates({ table: [A, B], origin: 0, records: [rec({ writer: 0, vv: [0, 1, 1, 2] })] }), DEFAULT_LIMITS, intern)
  assert.equal(seen, [A, B])
  assert.ok(msg.type === 0)
  assert.equal([msg.origin, msg.records[0]?.writer, msg.records[0]?.vv], [`#${A}`, `#${A}`, [`#${A}`, 1, `#${B}`, 2]])
  const answer = decodeFrame(step2(), DEFAULT_LIMITS, intern)
  assert.ok(answer.type === MessageType.SYNC_STEP2 && answer.records[0]?.writer === `#${A}`)
  // Long tables are checked with a Set, short ones by scanning: both refuse a repeated id.
  for (const size of [3, 20]) {
    const table = Array.from({ length: size }, (_, i) => `o${i}~1`)
    table[size - 1] = table[0] as string
    refuses(updates({ table, origin: 0, records: [rec({ writer: 0, vv: [0, 1] })] }), ErrorCode.FRAME_MALFORMED, `repeat in a table of ${size}`)
  }
})

test('a vector is ordered by origin id, not by table index', () => {
  // Table [B, A]: index 1 (A) before index 0 (B) is ascending by id.
  const msg = decodes(updates({ table: [B, A], origin: 1, records: [rec({ writer: 1, vv: [1, 1, 0, 4] })] }), 'ordered by id')
  assert.equal(msg.type === 0 && msg.records[0]?.vv, [A, 1, B, 4])
})

// ---- golden frames ----

test('golden frames: the committed bytes are exactly what the encoder writes, and decode to their inputs', () => {
  assert.is(golden.protocolVersion, PROTOCOL_VERSION, 'a new protocol version needs new golden frames beside the old')
  assert.ok(golden.frames.length >= 8)
  for (const f of golden.frames) {
    const msg = messageFromJson(f.message)
    assert.is(toHex(encodeFrame(msg)), f.hex, `${f.name}: the encoder's layout changed`)
    assert.equal(decodes(fromHex(f.hex), f.name), msg, `${f.name}: decodes to something else`)
  }
})

test('golden frames cover every message type, every record kind, records with and without values, and several parts', () => {
  const types = new Set(golden.frames.map((f) => f.message.type))
  assert.equal([...types].sort(), Object.values(MessageType).sort())
  const records = golden.frames.flatMap((f) => f.message.type === 0 || f.message.type === 2 ? f.message.records : [])
  assert.equal([...new Set(records.map((r) => r.kind))].sort(), Object.values(RecordKind).sort())
  assert.ok(records.some((r) => r.value !== undefined) && records.some((r) => r.value === undefined))
  assert.ok(records.some((r) => r.vv.length >= 6), 'a vector with three origins')
  assert.ok(golden.frames.some((f) => f.message.type === 2 && f.message.parts > 1))
})

test('golden invalid frames fail with their recorded codes', () => {
  assert.ok(golden.invalid.length >= 5)
  for (const f of golden.invalid) refuses(fromHex(f.hex), f.code, f.name)
})

test('golden frames do not depend on the host: updates-invalidate-mode begins with version, type, origin table', () => {
  const f = golden.frames.find((g) => g.name === 'updates-invalidate-mode')
  assert.ok(f)
  const bytes = fromHex(f!.hex)
  assert.equal([...bytes.subarray(0, 3)], [PROTOCOL_VERSION, MessageType.UPDATES, 3])
})

// ---- truncation ----

test('a valid frame cut at every byte position is refused with E_FRAME_TRUNCATED', () => {
  const frames = [...golden.frames.map((f) => [f.name, fromHex(f.hex)] as const), ['raw step2', step2()] as const, ['raw step1', step1()] as const]
  let cuts = 0
  for (const [name, bytes] of frames) {
    for (let i = 0; i < bytes.length; i++) {
      refuses(bytes.subarray(0, i), ErrorCode.FRAME_TRUNCATED, `${name} cut at ${i}/${bytes.length}`)
      refuses(bytes.slice(0, i), ErrorCode.FRAME_TRUNCATED, `${name} copied and cut at ${i}/${bytes.length}`)
      cuts++
    }
  }
  assert.ok(cuts > 500, `only ${cuts} cuts`)
})

test('a length that fits its limit but runs past the end is E_FRAME_TRUNCATED', () => {
  refuses(updates({ records: [rec({ key: [100, 1, 2, 3] })] }), ErrorCode.FRAME_TRUNCATED, 'key length past end')
  refuses(raw(V, 0, 1, [20], ...'alpha'.split('').map((c) => c.charCodeAt(0))), ErrorCode.FRAME_TRUNCATED, 'origin id past end')
  refuses(raw(V, MessageType.AWARENESS, 10, [1, 2]), ErrorCode.FRAME_TRUNCATED, 'awareness past end')
  refuses(updates({ records: [rec({ flags: FLAG_VALUE, tail: [5, [50, 1, 2]] })] }), ErrorCode.FRAME_TRUNCATED, 'value past end')
})

// ---- limits ----

test('oversized: frame, key, value, record count, origin table, state vector, vector, origin id (E_FRAME_TOO_LARGE)', () => {
  const byName = (name: string): Uint8Array => fromHex(golden.frames.find((f) => f.name === name)!.hex)
  const inv = byName('updates-invalidate-mode') // 3 origins, 3 records, 3-entry vector, key 'session/é✓' of 13 bytes
  const rep = byName('updates-replicate-mode') // value '{"v":1}' of 7 bytes
  const s1 = byName('sync-step1') // 3 origins in the state vector
  const s2 = byName('sync-step2-part0of2') // 3-origin state vector, 3-origin table, 2 records
  const ids = golden.frames.flatMap((f) => JSON.stringify(f.message).match(/"[a-z]+~[0-9a-z]+"/g) ?? [])
  const longest = Math.max(...ids.map((s) => enc.encode(s).length - 2)) // charlie's, in both frames below
  const three = step2({ records: [rec(), rec({ key: 'j' }), rec({ key: 'i' })] })
  const cases: Array<[string, Uint8Array, keyof DecodeLimits, number]> = [
    ['frame', inv, 'maxFrameBytes', inv.length],
    ['frame (awareness)', byName('awareness'), 'maxFrameBytes', byName('awareness').length],
    ['key bytes, not characters', inv, 'maxKeyBytes', 13],
    ['value', rep, 'maxValueBytes', 7],
    ['value in step 2', s2, 'maxValueBytes', 7],
    ['records in updates', inv, 'maxRecords', 3],
    ['records in step 2', three, 'maxRecords', 3],
    ['origin table of updates', inv, 'maxOrigins', 3],
    ['state vector of step 1', s1, 'maxOrigins', 3],
    ['state vector and table of step 2', s2, 'maxOrigins', 3],
    ['version vector', inv, 'maxVectorEntries', 3],
    ['origin id in a table', inv, 'maxOriginBytes', longest],
    ['origin id in a state vector', s1, 'maxOriginBytes', longest],
  ]
  for (const [what, bytes, limit, size] of cases) {
    decodes(bytes, `${what} at the limit`, limits({ [limit]: size }))
    refuses(bytes, ErrorCode.FRAME_TOO_LARGE, `${what} one over ${limit}`, limits({ [limit]: size - 1 }))
  }
})

test('a frame over maxFrameBytes is refused before any of it is read', () => {
  const junk = new Uint8Array(DEFAULT_LIMITS.maxFrameBytes + 1).fill(0xff)
  refuses(junk, ErrorCode.FRAME_TOO_LARGE, 'junk over the default frame limit')
})

test('a huge declared length or count is refused by its limit, not by running out of bytes', () => {
  const huge = 2 ** 40
  refuses(updates({ records: [rec({ key: [0x80, 0x80, 0x80, 0x80, 0x80, 0x20] })] }), ErrorCode.FRAME_TOO_LARGE, 'key length 2^40')
  refuses(raw(V, 0, huge), ErrorCode.FRAME_TOO_LARGE, 'origin table of 2^40')
  refuses(raw(V, 0, 1, huge), ErrorCode.FRAME_TOO_LARGE, 'origin id of 2^40 bytes')
  refuses(updates({ count: huge, records: [] }), ErrorCode.FRAME_TOO_LARGE, 'record count 2^40')
  refuses(updates({ records: [['k', [0], T, 0, huge]] }), ErrorCode.FRAME_TOO_LARGE, 'vector size 2^40')
  refuses(updates({ records: [rec({ flags: FLAG_VALUE, tail: [5, huge] })] }), ErrorCode.FRAME_TOO_LARGE, 'value length 2^40')
  refuses(raw(V, MessageType.SYNC_STEP1, 1, huge), ErrorCode.FRAME_TOO_LARGE, 'state vector of 2^40')
  refuses(raw(V, MessageType.AWARENESS, huge), ErrorCode.FRAME_TOO_LARGE, 'awareness update of 2^40 bytes')
  refuses(step2({ count: huge, records: [] }), ErrorCode.FRAME_TOO_LARGE, 'step 2 record count 2^40')
})

test('more step-2 parts than the record limit is E_FRAME_MALFORMED', () => {
  decodes(step2({ part: 0, parts: 4 }), '4 parts, limit 4', limits({ maxRecords: 4 }))
  refuses(step2({ part: 0, parts: 5 }), ErrorCode.FRAME_MALFORMED, '5 parts, limit 4', limits({ maxRecords: 4 }))
})

// ---- version and type ----

test('an unknown version is E_FRAME_VERSION, whatever follows', () => {
  for (const v of [0, 2, 3, 127, 128, 300, 2 ** 31, Number.MAX_SAFE_INTEGER]) {
    refuses(raw(v, 0), ErrorCode.FRAME_VERSION, `version ${v}`)
    refuses(raw(v), ErrorCode.FRAME_VERSION, `bare version ${v}`)
  }
  const bytes = fromHex(golden.frames[0]!.hex)
  bytes[0] = PROTOCOL_VERSION + 1
  refuses(bytes, ErrorCode.FRAME_VERSION, 'golden frame with the next version')
})

test('an unknown message type is E_FRAME_TYPE', () => {
  for (const t of [9, 127, 128, 1000, Number.MAX_SAFE_INTEGER]) refuses(raw(V, t, 0, 0, 0), ErrorCode.FRAME_TYPE, `type ${t}`)
  refuses(raw(V), ErrorCode.FRAME_TRUNCATED, 'version without type')
})

// ---- malformed ----

test('the raw bases decode, so each variant below fails for its one changed field', () => {
  decodes(updates(), 'updates base')
  decodes(step2(), 'step2 base')
  decodes(step1(), 'step1 base')
  decodes(updates({ firstSeq: 7, records: [rec({ vv: [0, 7] }), rec({ vv: [0, 8, 1, 3] })] }), 'two-record base')
})

test('record flags: unknown bits, unknown kinds, a value on a non-SET (E_FRAME_MALFORMED)', () => {
  for (const bit of [0x40, 0x80]) {
    refuses(updates({ records: [rec({ flags: bit })] }), ErrorCode.FRAME_MALFORMED, `flag bit 0x${bit.toString(16)}`)
    refuses(step2({ records: [rec({ flags: bit | RecordKind.DELETE })] }), ErrorCode.FRAME_MALFORMED, `flag bit 0x${bit.toString(16)} in step 2`)
  }
  for (let kind = 3; kind <= 15; kind++) refuses(updates({ records: [rec({ flags: kind })] }), ErrorCode.FRAME_MALFORMED, `kind ${kind}`)
  for (const kind of [RecordKind.DELETE, RecordKind.INVALIDATE]) {
    refuses(updates({ records: [rec({ flags: kind | FLAG_VALUE, tail: [5, Uint8Array.of(1)] })] }), ErrorCode.FRAME_MALFORMED, `value on kind ${kind}`)
  }
  decodes(updates({ records: [rec({ flags: RecordKind.SET | FLAG_VALUE, tail: [5, Uint8Array.of(1)] })] }), 'value on SET')
})

test('FLAG_FOLDED (SPEC §4): decoded as `folded`, on any kind, with or without a value, and written back the same', () => {
  for (const flags of [FLAG_FOLDED, FLAG_FOLDED | RecordKind.DELETE, FLAG_FOLDED | RecordKind.INVALIDATE]) {
    const m = decodes(step2({ records: [rec({ flags })] }), `flags 0x${flags.toString(16)}`)
    assert.is(m.type === MessageType.SYNC_STEP2 && m.records[0]?.folded, true)
  }
  const withValue = decodes(step2({ records: [rec({ flags: FLAG_FOLDED | FLAG_VALUE, tail: [5, Uint8Array.of(1)] })] }), 'folded with a value')
  assert.is(withValue.type === MessageType.SYNC_STEP2 && withValue.records[0]?.folded, true)
  const plain = decodes(step2({ records: [rec()] }), 'no flag')
  assert.is(plain.type === MessageType.SYNC_STEP2 && plain.records[0]?.folded, undefined, 'absent unless the bit is set')
  const decoded = decodeFrame(step2({ records: [rec({ flags: FLAG_FOLDED | RecordKind.DELETE })] }), DEFAULT_LIMITS)
  assert.equal(decodeFrame(encodeFrame(decoded), DEFAULT_LIMITS), decoded, 'written back with the bit')
})

test('origin references: the updates origin, a writer or a vector entry outside the table (E_FRAME_MALFORMED)', () => {
  refuses(updates({ origin: 2 }), ErrorCode.FRAME_MALFORMED, 'updates origin 2 of 2')
  refuses(updates({ table: [], origin: 0, records: [rec()] }), ErrorCode.FRAME_MALFORMED, 'empty table')
  refuses(updates({ records: [rec({ writer: 2, vv: [0, 1] })] }), ErrorCode.FRAME_MALFORMED, 'writer 2 of 2')
  refuses(updates({ records: [rec({ vv: [0, 1, 5, 1] })] }), ErrorCode.FRAME_MALFORMED, 'vector origin 5 of 2')
  refuses(step2({ table: [], records: [rec()] }), ErrorCode.FRAME_MALFORMED, 'step 2 record with an empty table')
})

test('origin ids: duplicate or empty in a table or a state vector (E_FRAME_MALFORMED)', () => {
  refuses(updates({ table: [A, A] }), ErrorCode.FRAME_MALFORMED, 'duplicate in updates table')
  refuses(updates({ table: [A, ''] }), ErrorCode.FRAME_MALFORMED, 'empty id in updates table')
  refuses(step2({ table: [B, A, B] }), ErrorCode.FRAME_MALFORMED, 'duplicate in step 2 table')
  refuses(step1([A, 1, A, 2]), ErrorCode.FRAME_MALFORMED, 'duplicate in step 1 state vector')
  refuses(step1(['', 1]), ErrorCode.FRAME_MALFORMED, 'empty id in step 1 state vector')
  refuses(step2({ sv: [A, 1, B, 1, A, 1] }), ErrorCode.FRAME_MALFORMED, 'duplicate in step 2 state vector')
  refuses(step2({ sv: ['', 1] }), ErrorCode.FRAME_MALFORMED, 'empty id in step 2 state vector')
})

test('version vectors: not ascending, a repeated origin, a counter of 0, no entry for the writer (E_FRAME_MALFORMED)', () => {
  refuses(updates({ records: [rec({ vv: [1, 1, 0, 1] })] }), ErrorCode.FRAME_MALFORMED, 'descending')
  refuses(updates({ records: [rec({ vv: [0, 1, 0, 1] })] }), ErrorCode.FRAME_MALFORMED, 'repeated origin')
  refuses(updates({ records: [rec({ vv: [0, 1, 1, 0] })] }), ErrorCode.FRAME_MALFORMED, 'counter 0 of another origin')
  refuses(step2({ records: [rec({ vv: [0, 0] })] }), ErrorCode.FRAME_MALFORMED, 'counter 0 of the writer, step 2')
  refuses(step2({ records: [rec({ writer: 1, vv: [0, 1] })] }), ErrorCode.FRAME_MALFORMED, 'writer B missing from [A]')
  refuses(step2({ records: [rec({ vv: [] })] }), ErrorCode.FRAME_MALFORMED, 'empty vector')
})

test('UPDATES sequence rules: writer is the origin, counters follow firstSeq, firstSeq ≥ 1, at least one record (E_FRAME_MALFORMED)', () => {
  refuses(updates({ records: [rec({ writer: 1, vv: [0, 1, 1, 1] })] }), ErrorCode.FRAME_MALFORMED, 'record written by B in A\'s frame')
  refuses(updates({ firstSeq: 5, records: [rec({ vv: [0, 6] })] }), ErrorCode.FRAME_MALFORMED, 'counter 6 for firstSeq 5')
  refuses(updates({ firstSeq: 5, records: [rec({ vv: [0, 4] })] }), ErrorCode.FRAME_MALFORMED, 'counter 4 for firstSeq 5')
  refuses(updates({ firstSeq: 7, records: [rec({ vv: [0, 7] }), rec({ vv: [0, 7] })] }), ErrorCode.FRAME_MALFORMED, 'second record repeats 7')
  refuses(updates({ firstSeq: 7, records: [rec({ vv: [0, 7] }), rec({ vv: [0, 9] })] }), ErrorCode.FRAME_MALFORMED, 'second record skips to 9')
  refuses(updates({ firstSeq: 0, records: [rec({ vv: [0, 1] })] }), ErrorCode.FRAME_MALFORMED, 'firstSeq 0')
  refuses(updates({ records: [] }), ErrorCode.FRAME_MALFORMED, 'zero records')
  decodes(step2({ records: [] }), 'zero records are fine in step 2')
})

test('SYNC_STEP2 parts: part ≥ parts or parts 0 (E_FRAME_MALFORMED)', () => {
  refuses(step2({ part: 2, parts: 2 }), ErrorCode.FRAME_MALFORMED, 'part 2 of 2')
  refuses(step2({ part: 9, parts: 2 }), ErrorCode.FRAME_MALFORMED, 'part 9 of 2')
  refuses(step2({ part: 0, parts: 0 }), ErrorCode.FRAME_MALFORMED, 'part 0 of 0')
  decodes(step2({ part: 1, parts: 2 }), 'part 1 of 2')
})

test('invalid UTF-8 in a key, an origin id or a state vector id (E_FRAME_MALFORMED)', () => {
  const bad: Array<[string, number[]]> = [
    ['0xff', [0xff]],
    ['lone continuation byte', [0x61, 0x80]],
    ['overlong NUL', [0xc0, 0x80]],
    ['UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['sequence cut short', [0xe2, 0x9c]],
    ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ]
  for (const [what, bytes] of bad) {
    const s = Uint8Array.from(bytes)
    refuses(updates({ records: [rec({ key: s })] }), ErrorCode.FRAME_MALFORMED, `key: ${what}`)
    refuses(updates({ table: [A, s] }), ErrorCode.FRAME_MALFORMED, `origin table: ${what}`)
    refuses(step1([s, 1]), ErrorCode.FRAME_MALFORMED, `step 1 state vector: ${what}`)
  }
  decodes(updates({ records: [rec({ key: Uint8Array.from([0xe2, 0x9c, 0x93]) })] }), 'a valid 3-byte sequence')
})

test('keys and origin ids read back exactly, ASCII (read as Latin-1 bytes) and not (through the UTF-8 decoder)', () => {
  const keys = ['user:42', '', 'a\u0000b\u007f', ' ~', 'session/é✓', 'x'.repeat(300), '日本', '\u0080', 'ascii then é']
  const origin = 'peer~é'
  const frame = encodeFrame({ type: MessageType.UPDATES, origin, firstSeq: 1, records: keys.map((key, i) => ({ key, kind: RecordKind.INVALIDATE, hlc: 1, writer: origin, vv: [origin, i + 1] })) })
  const msg = decodeFrame(frame)
  assert.ok(msg.type === MessageType.UPDATES)
  assert.is(msg.origin, origin)
  assert.equal(msg.records.map(r => r.key), keys)
})

test('frames share one encoder: each frame is its own bytes, before and after one that outgrew the encoder\'s buffer', () => {
  const frame = (key: string, value?: Uint8Array): Uint8Array => encodeFrame({ type: MessageType.UPDATES, origin: 'o', firstSeq: 1, records: [{ key, kind: RecordKind.SET, hlc: 1, writer: 'o', vv: ['o', 1], ttl: 5, value }] })
  const small = frame('a')
  const copy = small.slice()
  const big = frame('big', new Uint8Array(300_000).fill(7))
  const after = frame('b')
  assert.equal([...small], [...copy], 'an earlier frame is not written over')
  const read = (f: Uint8Array): WireRecord => { const m = decodeFrame(f, { ...DEFAULT_LIMITS, maxValueBytes: 1 << 20, maxFrameBytes: 1 << 20 }); assert.ok(m.type === MessageType.UPDATES); return m.records[0] as WireRecord }
  assert.is(read(big).value?.length, 300_000)
  assert.ok(read(big).value?.every(b => b === 7))
  assert.is(read(after).key, 'b')
  assert.is(read(small).key, 'a')
  assert.is(after.length, small.length)
})

test('frames cut from the shared slab: thousands in a row, crossing slabs, among other pooled arrays and a failed encode, each keeps its bytes', () => {
  const limits = { ...DEFAULT_LIMITS, maxValueBytes: 1 << 20, maxFrameBytes: 1 << 20 }
  const made: Array<{ frame: Uint8Array, copy: Uint8Array, msg: Message }> = []
  const pooled: Array<{ bytes: Uint8Array, fill: number }> = []
  for (let i = 0; i < 3000; i++) {
    // sizes from a few bytes to over a slab (8 KiB), so frames start near a slab's end and outgrow it
    const size = i % 97 === 0 ? 9000 + i : i % 13 === 0 ? 600 + (i % 400) : i % 5
    const msg: Message = { type: MessageType.UPDATES, origin: A, firstSeq: i + 1, records: [{ key: `k${i}`, kind: RecordKind.SET, hlc: T + i, writer: A, vv: [A, i + 1], ttl: 1, value: new Uint8Array(size).fill(i & 0xff) }] }
    const frame = encodeFrame(msg)
    made.push({ frame, copy: frame.slice(), msg })
    if (i % 7 === 0) {
      const bytes = pooledBytes(1 + (i % 300))
      bytes.fill(i & 0xff)
      pooled.push({ bytes, fill: i & 0xff })
    }
    if (i % 501 === 0) {
      // a record that cannot be written (a value that is not bytes) fails halfway: nothing it wrote is handed out
      assert.throws(() => encodeFrame({ ...msg, records: [{ ...msg.records[0] as WireRecord, value: 5 as unknown as Uint8Array }] }))
    }
  }
  for (const [i, { frame, copy, msg }] of made.entries()) {
    assert.equal([...frame], [...copy], `frame ${i} was not written over`)
    assert.equal(decodeFrame(frame, limits), msg, `frame ${i} decodes to its message`)
  }
  for (const { bytes, fill } of pooled) assert.ok(bytes.every(b => b === fill), 'a pooled array was not written over')
})

test('trailing bytes after any valid message are E_FRAME_MALFORMED', () => {
  for (const f of golden.frames) {
    const bytes = fromHex(f.hex)
    refuses(Uint8Array.of(...bytes, 0), ErrorCode.FRAME_MALFORMED, `${f.name} + 00`)
    refuses(Uint8Array.of(...bytes, ...bytes), ErrorCode.FRAME_MALFORMED, `${f.name} twice`)
  }
})

test('varuint overflow and unsafe integers in any field are E_FRAME_MALFORMED', () => {
  const tenFF = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
  const twoTo53 = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]
  const below56 = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f] // 2^56 - 1: one final byte past the check
  const infinity = [...new Array<number>(147).fill(0x80), 0x01] // 128^147 overflows the double
  const nan = [...new Array<number>(160).fill(0x80), 0x00] // 0 × Infinity
  for (const [what, v] of [['ten 0xff', tenFF], ['2^53', twoTo53], ['2^56 - 1', below56], ['Infinity', infinity], ['NaN', nan]] as const) {
    const n = [...v]
    refuses(raw(n, 0), ErrorCode.FRAME_MALFORMED, `version ${what}`)
    refuses(raw(V, n), ErrorCode.FRAME_MALFORMED, `type ${what}`)
    refuses(updates({ records: [rec({ hlc: n })] }), ErrorCode.FRAME_MALFORMED, `hlc ${what}`)
    refuses(updates({ firstSeq: n, records: [rec({ vv: [0, n] })] }), ErrorCode.FRAME_MALFORMED, `firstSeq and counter ${what}`)
    refuses(step2({ records: [rec({ vv: [0, n] })] }), ErrorCode.FRAME_MALFORMED, `step 2 counter ${what}`)
    refuses(step2({ records: [rec({ flags: FLAG_VALUE, tail: [n, Uint8Array.of(1)] })] }), ErrorCode.FRAME_MALFORMED, `ttl ${what}`)
    refuses(step1([A, n]), ErrorCode.FRAME_MALFORMED, `state vector seq ${what}`)
    refuses(step1([A, 1], n), ErrorCode.FRAME_MALFORMED, `sync id ${what}`)
    refuses(step2({ syncId: n }), ErrorCode.FRAME_MALFORMED, `step 2 sync id ${what}`)
    refuses(step2({ part: n, parts: 1 }), ErrorCode.FRAME_MALFORMED, `part ${what}`)
    refuses(updates({ records: [rec({ key: n })] }), ErrorCode.FRAME_MALFORMED, `key length ${what}`)
    refuses(raw(V, MessageType.AWARENESS, n), ErrorCode.FRAME_MALFORMED, `awareness length ${what}`)
  }
  decodes(updates({ records: [rec({ hlc: Number.MAX_SAFE_INTEGER })] }), 'hlc 2^53 - 1 is fine')
})

test('an origin id read again from its bytes (the last id read is remembered) is the same as one read afresh', () => {
  const one = (origin: string): Uint8Array => encodeFrame({ type: MessageType.UPDATES, origin, firstSeq: 1, records: [{ key: 'k', kind: RecordKind.INVALIDATE, hlc: T, writer: origin, vv: [origin, 1] }] })
  const held = new Map<string, string>()
  const intern = (id: string): string => held.get(id) ?? id
  const first = decodeFrame(one(A), DEFAULT_LIMITS, intern)
  assert.equal(first.type === MessageType.UPDATES && first.origin, A)
  // An id of the same length that differs in its last byte is not taken for the last one.
  const other = decodeFrame(one('alpha~2'), DEFAULT_LIMITS, intern)
  assert.equal(other.type === MessageType.UPDATES && [other.origin, other.records[0]?.writer], ['alpha~2', 'alpha~2'])
  // The remembered id is interned again: a string the caller came to hold since is the one returned.
  decodeFrame(one(A), DEFAULT_LIMITS, intern)
  const mine = ['alpha', '~1'].join('')
  held.set(A, mine)
  const again = decodeFrame(one(A), DEFAULT_LIMITS, intern)
  assert.ok(again.type === MessageType.UPDATES && again.origin === mine && again.records[0]?.vv[0] === mine, 'interned on every read')
  // Limits hold for a remembered id: the same bytes under a smaller maxOriginBytes are refused.
  refuses(one(A), ErrorCode.FRAME_TOO_LARGE, 'a remembered id over the limit', { ...DEFAULT_LIMITS, maxOriginBytes: A.length - 1 })
  // And an id that repeats within a table is still refused, remembered or not.
  refuses(updates({ table: [A, A] }), ErrorCode.FRAME_MALFORMED, 'a remembered id twice in one table')
})

test('varuints written and read here are lib0\'s, byte for byte, up to 2^53 - 1', () => {
  const values = [0, 1, 127, 128, 255, 16_383, 16_384, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 127, 2 ** 49 + 3, Number.MAX_SAFE_INTEGER]
  const gen = prng.create(53) // fixed: a failure names its number
  for (let i = 0; i < 2_000; i++) values.push(Math.floor(prng.real53(gen) * 2 ** (1 + (i % 53))))
  for (const n of values) {
    const ours = encoding.createEncoder()
    writeUint(ours, n)
    const theirs = encoding.createEncoder()
    encoding.writeVarUint(theirs, n)
    const bytes = encoding.toUint8Array(ours)
    assert.equal([...bytes], [...encoding.toUint8Array(theirs)], `${n}`)
    const d = decoding.createDecoder(bytes)
    assert.is(readUint(d, 'n'), n)
    assert.is(d.pos, bytes.length)
  }
})

test('every error is a MeshCacheError carrying only stable codes', () => {
  const codes = new Set<string>(Object.values(ErrorCode))
  for (const code of [ErrorCode.FRAME_TRUNCATED, ErrorCode.FRAME_TOO_LARGE, ErrorCode.FRAME_VERSION, ErrorCode.FRAME_TYPE, ErrorCode.FRAME_MALFORMED]) {
    assert.ok(codes.has(code))
    assert.match(code, /^E_FRAME_[A-Z_]+$/)
  }
  const e = refuses(raw(V, 1, tenFFBytes()), ErrorCode.FRAME_MALFORMED, 'overflowing sync id')
  assert.equal(e.message, 'sync id is not a safe integer', 'an overflow names the field it overflowed')
})

function tenFFBytes (): number[] {
  return [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
}

test.run()
