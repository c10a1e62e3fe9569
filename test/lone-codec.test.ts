/**
 * The lone write's codec (protocol/lone.ts) against the general one
 * (protocol/frame.ts), which stays the definition of the format:
 * - every frame `encodeLone` makes is, byte for byte, `encodeFrame`'s;
 * - `decodeLone` reads every lone write's frame, as `decodeFrame` does;
 * - on any frame at all (mutants of lone frames, under tight limits too)
 *   `decodeLone` answers undefined or exactly `decodeFrame`'s message, and
 *   never accepts a frame `decodeFrame` refuses;
 * - `loneMessage` (a lone write carried as its fields, SPEC §11) takes
 *   exactly the writes whose frame `decodeFrame` takes, as its message, and
 *   refuses the rest with a frame error.
 *
 *   SEED=n   seed of every random choice (printed on failure with the replay command)
 *   LONE=n   writes tried (default 40,000)
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { isDeepStrictEqual } from 'node:util'
import * as prng from 'lib0/prng'
import { DEFAULT_LIMITS, MessageType, RecordKind, decodeFrame, encodeFrame, type DecodeLimits, type UpdatesMessage, type WireRecord } from '../protocol/index.ts'
import { canSendLone, decodeLone, encodeLone, isLoneRecord, loneMessage } from '../protocol/lone.ts'
import { MeshCacheError } from '../lib/errors.ts'
import { HLC_LOGICAL_RANGE } from '../lib/core/clock.ts'

/** What the outbox asks of a write before it goes as a lone frame: its origin once, the record each time. */
const isLone = (origin: string, seq: number, r: WireRecord): boolean => canSendLone(origin) && isLoneRecord(origin, seq, r)

const SEED = Number(process.env.SEED ?? 20_261_205)
const LONE = Number(process.env.LONE ?? 40_000)
const REPLAY = `LONE=${LONE} SEED=${SEED} ./node_modules/.bin/node test/lone-codec.test.ts`

function text (gen: prng.PRNG, max: number, ascii: boolean): string {
  let s = ''
  const n = prng.int32(gen, 0, max)
  for (let i = 0; i < n; i++) s += String.fromCharCode(ascii || prng.bool(gen) ? prng.int32(gen, 0x20, 0x7e) : prng.int32(gen, 0x80, 0x3000))
  return s
}

/** A lone write with the sizes that matter to varuints: small, at the byte boundaries, past 2^28, up to 2^53. */
function loneWrite (gen: prng.PRNG): { origin: string, seq: number, record: WireRecord } {
  const ascii = prng.int32(gen, 0, 9) !== 0
  const origin = prng.bool(gen) ? `node-${prng.int32(gen, 0, 999)}~${text(gen, 14, true)}` : `o${text(gen, 20, ascii)}`
  const seq = prng.oneOf(gen, [1, 127, 128, 16_383, 16_384, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 40, prng.int32(gen, 1, 2 ** 31 - 1)])
  const hlc = prng.oneOf(gen, [0, 1, 127, 128, 2 ** 49, 2 ** 53 - 1, Math.floor(prng.real53(gen) * 2 ** 53), 1_796_000_000_000 * HLC_LOGICAL_RANGE + prng.int32(gen, 0, HLC_LOGICAL_RANGE - 1)])
  const kind = prng.oneOf(gen, [RecordKind.SET, RecordKind.DELETE, RecordKind.INVALIDATE])
  const key = prng.bool(gen) ? `user:${prng.int32(gen, 0, 1e6)}` : text(gen, 40, ascii)
  return { origin, seq, record: { key, kind, hlc, writer: origin, vv: [origin, seq] } }
}

function generalFrame (origin: string, seq: number, record: WireRecord): Uint8Array {
  return encodeFrame({ type: MessageType.UPDATES, origin, firstSeq: seq, records: [record] })
}

function mutate (gen: prng.PRNG, frame: Uint8Array): Uint8Array {
  const out = Uint8Array.from(frame)
  const n = prng.int32(gen, 1, 3)
  for (let i = 0; i < n; i++) {
    const at = prng.int32(gen, 0, out.length - 1)
    out[at] = prng.bool(gen) ? prng.int32(gen, 0, 255) : prng.oneOf(gen, [0, 1, 2, 0x10, 0x20, 0x7f, 0x80, 0xff])
  }
  if (prng.int32(gen, 0, 9) === 0) return out.subarray(0, prng.int32(gen, 0, out.length - 1))
  if (prng.int32(gen, 0, 9) === 0) return Uint8Array.from([...out, prng.int32(gen, 0, 255)])
  return out
}

function tightLimits (gen: prng.PRNG): DecodeLimits {
  return {
    maxFrameBytes: prng.int32(gen, 10, 80),
    maxKeyBytes: prng.int32(gen, 0, 30),
    maxValueBytes: DEFAULT_LIMITS.maxValueBytes,
    maxRecords: prng.int32(gen, 0, 2),
    maxOrigins: prng.int32(gen, 0, 2),
    maxVectorEntries: prng.int32(gen, 0, 2),
    maxOriginBytes: prng.int32(gen, 0, 30),
  }
}

function decodeBoth (frame: Uint8Array, limits: DecodeLimits, what: string): void {
  const fast = decodeLone(frame, limits)
  if (fast === undefined) return
  let general: unknown
  try {
    general = decodeFrame(frame, limits, undefined, true)
  } catch (error) {
    assert.unreachable(`${what}: decodeLone accepted a frame decodeFrame refuses (${(error as Error).message}): ${Buffer.from(frame).toString('hex')}; replay: ${REPLAY}`)
  }
  if (!isDeepStrictEqual(fast, general)) {
    assert.equal(fast, general as UpdatesMessage, `${what}: the two decoders differ on ${Buffer.from(frame).toString('hex')}; replay: ${REPLAY}`)
  }
}

test(`encodeLone writes encodeFrame's bytes, and decodeLone reads them as decodeFrame does (seed ${SEED})`, () => {
  const gen = prng.create(SEED)
  let lone = 0
  for (let i = 0; i < LONE; i++) {
    const { origin, seq, record } = loneWrite(gen)
    const general = generalFrame(origin, seq, record)
    if (!isLone(origin, seq, record)) continue
    lone++
    const mine = encodeLone(origin, seq, record)
    assert.is(Buffer.from(mine).toString('hex'), Buffer.from(general).toString('hex'), `write ${i}; replay: ${REPLAY}`)
    const decoded = decodeLone(mine, DEFAULT_LIMITS)
    if (seq < 2 ** 28 && Number.isSafeInteger(record.hlc)) assert.ok(decoded !== undefined, `write ${i}: a lone write's frame not read; replay: ${REPLAY}`)
    if (decoded !== undefined) assert.equal(decoded, decodeFrame(mine), `write ${i}; replay: ${REPLAY}`)
  }
  assert.ok(lone > LONE * 0.7, `only ${lone} of ${LONE} writes were lone writes`)
})

test('isLone refuses what the lone frame cannot say', () => {
  const r = (over: Partial<WireRecord>): WireRecord => ({ key: 'k', kind: RecordKind.INVALIDATE, hlc: 5, writer: 'a~1', vv: ['a~1', 3], ...over })
  assert.ok(isLone('a~1', 3, r({})))
  assert.not.ok(isLone('a~1', 4, r({})), 'its number is not the vector entry')
  assert.not.ok(isLone('a~1', 3, r({ writer: 'b~1' })), 'another writer')
  assert.not.ok(isLone('a~1', 3, r({ vv: ['a~1', 3, 'b~1', 1] })), 'a vector of two')
  assert.not.ok(isLone('a~1', 3, r({ kind: RecordKind.SET, value: new Uint8Array(1), ttl: 5 })), 'a value')
  assert.not.ok(isLone('a~1', 3, r({ folded: true })), 'folded')
  assert.not.ok(isLone('a~1', 3, r({ key: 'clé' })), 'a key not ASCII')
  assert.not.ok(isLone('ä~1', 3, r({ writer: 'ä~1', vv: ['ä~1', 3] })), 'an origin id not ASCII')
})

test(`on mutated frames decodeLone answers undefined or decodeFrame's message (seed ${SEED})`, () => {
  const gen = prng.create(SEED + 1)
  let accepted = 0
  for (let i = 0; i < LONE; i++) {
    const { origin, seq, record } = loneWrite(gen)
    const frame = mutate(gen, generalFrame(origin, seq, record))
    const limits = prng.int32(gen, 0, 3) === 0 ? tightLimits(gen) : DEFAULT_LIMITS
    if (decodeLone(frame, limits) !== undefined) accepted++
    decodeBoth(frame, limits, `mutant ${i}`)
  }
  // A change to a key's or a clock's bytes often still makes a valid lone frame: those are the ones compared.
  assert.ok(accepted > LONE * 0.05, `only ${accepted} of ${LONE} mutants were read by decodeLone`)
})

test(`loneMessage takes a write carried as its fields exactly when decodeFrame takes its frame (seed ${SEED})`, () => {
  const gen = prng.create(SEED + 2)
  let taken = 0
  let refused = 0
  for (let i = 0; i < LONE / 4; i++) {
    const { origin, seq, record } = loneWrite(gen)
    if (!isLone(origin, seq, record)) continue
    const limits = prng.int32(gen, 0, 2) === 0 ? tightLimits(gen) : DEFAULT_LIMITS
    let general: UpdatesMessage | undefined
    try {
      general = decodeFrame(encodeLone(origin, seq, record), limits, undefined, true) as UpdatesMessage
    } catch {}
    let mine: UpdatesMessage | undefined
    try {
      mine = loneMessage(origin, seq, record.key, record.kind, record.hlc, limits)
    } catch (error) {
      assert.ok(error instanceof MeshCacheError && error.code.startsWith('E_FRAME_'), `write ${i}: ${String(error)}; replay: ${REPLAY}`)
    }
    if (general === undefined) {
      assert.is(mine, undefined, `write ${i}: loneMessage took a write whose frame decodeFrame refuses; replay: ${REPLAY}`)
      refused++
    } else {
      assert.equal(mine, general, `write ${i}; replay: ${REPLAY}`)
      taken++
    }
  }
  assert.ok(taken > 1000 && refused > 1000, `both outcomes tried: ${taken} taken, ${refused} refused`)
})

test('loneMessage refuses what no lone frame says, with the code decodeFrame gives', () => {
  const code = (fn: () => unknown): string => {
    try { fn() } catch (error) { return (error as MeshCacheError).code }
    return 'taken'
  }
  const take = (origin: string, seq: number, key: string, kind: number, hlc: number, limits = DEFAULT_LIMITS): string => code(() => loneMessage(origin, seq, key, kind, hlc, limits))
  assert.is(take('a~1', 1, 'k', RecordKind.INVALIDATE, 5), 'taken')
  assert.is(take('', 1, 'k', RecordKind.INVALIDATE, 5), 'E_FRAME_MALFORMED', 'an empty origin id')
  assert.is(take('a~1', 0, 'k', RecordKind.INVALIDATE, 5), 'E_FRAME_MALFORMED', 'number 0')
  assert.is(take('a~1', 1, 'k', 7, 5), 'E_FRAME_MALFORMED', 'an unknown kind')
  assert.is(take('a~1', 1, 'k', RecordKind.INVALIDATE | 0x10, 5), 'E_FRAME_MALFORMED', 'a kind with a flag (a value, folded)')
  assert.is(take('a~1', 1, 'k', RecordKind.INVALIDATE, 2 ** 53), 'E_FRAME_MALFORMED', 'a clock past 2^53')
  assert.is(take('a~1', 1, 'clé', RecordKind.INVALIDATE, 5), 'E_FRAME_MALFORMED', 'a key not ASCII')
  assert.is(take('a~1', 1, 'k'.repeat(5), RecordKind.INVALIDATE, 5, { ...DEFAULT_LIMITS, maxKeyBytes: 4 }), 'E_FRAME_TOO_LARGE', 'a key over maxKeyBytes')
  assert.is(take('a~1', 1, 'k', RecordKind.INVALIDATE, 5, { ...DEFAULT_LIMITS, maxOriginBytes: 2 }), 'E_FRAME_TOO_LARGE', 'an origin id over maxOriginBytes')
  // A receiver reads an UPDATES frame over maxFrameBytes without its values (dropValues, SPEC §3.4); a lone write has none.
  const frame = encodeLone('a~1', 1, { key: 'k', kind: RecordKind.INVALIDATE, hlc: 5, writer: 'a~1', vv: ['a~1', 1] })
  assert.is(take('a~1', 1, 'k', RecordKind.INVALIDATE, 5, { ...DEFAULT_LIMITS, maxFrameBytes: 10 }), 'taken', 'its frame over maxFrameBytes')
  assert.is(code(() => decodeFrame(frame, { ...DEFAULT_LIMITS, maxFrameBytes: 10 }, undefined, true)), 'taken', 'as a receiver reads its frame')
})

test('decodeLone leaves every other frame to decodeFrame', () => {
  const w = { key: 'k', kind: RecordKind.INVALIDATE, hlc: 9, writer: 'a~1', vv: ['a~1', 2] } satisfies WireRecord
  const others = [
    encodeFrame({ type: MessageType.UPDATES, origin: 'a~1', firstSeq: 2, records: [w, { ...w, key: 'j', vv: ['a~1', 3] }] }),
    encodeFrame({ type: MessageType.UPDATES, origin: 'a~1', firstSeq: 2, records: [{ ...w, vv: ['a~1', 2, 'b~1', 1] }] }),
    encodeFrame({ type: MessageType.UPDATES, origin: 'a~1', firstSeq: 2, records: [{ ...w, kind: RecordKind.SET, ttl: 10, value: Uint8Array.of(1) }] }),
    encodeFrame({ type: MessageType.UPDATES, origin: 'a~1', firstSeq: 2, records: [{ ...w, folded: true }] }),
    encodeFrame({ type: MessageType.SYNC_STEP1, syncId: 1, sv: new Map([['a~1', 2]]) }),
    encodeFrame({ type: MessageType.ACK, ackId: 1, seq: 2 }),
  ]
  for (const frame of others) assert.is(decodeLone(frame, DEFAULT_LIMITS), undefined, Buffer.from(frame).toString('hex'))
  const lone = encodeLone('a~1', 2, w)
  assert.equal(decodeLone(lone, DEFAULT_LIMITS), decodeFrame(lone))
  assert.is(decodeLone(lone, { ...DEFAULT_LIMITS, maxFrameBytes: lone.length - 1 }), undefined, 'over maxFrameBytes')
  assert.is(decodeLone(lone, { ...DEFAULT_LIMITS, maxOriginBytes: 2 }), undefined, 'an origin id over the limit')
  assert.is(decodeLone(lone.subarray(0, lone.length - 1), DEFAULT_LIMITS), undefined, 'truncated')
  assert.is(decodeLone(Uint8Array.from([...lone, 0]), DEFAULT_LIMITS), undefined, 'trailing bytes')
})

test.run()
