import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Entry } from '../lib/core/entry.ts'
import { HLC_LOGICAL_RANGE } from '../lib/core/clock.ts'
import { RecordKind } from '../protocol/constants.ts'

// The timestamp is split over two small integers and shares one of them with
// the kind and has-value flags (lib/core/entry.ts): each must read back exactly
// what was written, whatever the others hold.
const STAMPS = [
  0,
  1,
  2 ** 24 - 1, // every low bit set
  2 ** 24,
  1_700_000_000_000 * HLC_LOGICAL_RANGE + 999,
  Date.UTC(2255, 0, 1) * HLC_LOGICAL_RANGE, // where the clock's safe range ends
  Number.MAX_SAFE_INTEGER,
]
const KINDS = [RecordKind.SET, RecordKind.DELETE, RecordKind.INVALIDATE]

test('the timestamp, the kind and has-value read back what was written, each independent of the others', () => {
  for (const hlc of STAMPS) {
    for (const kind of KINDS) {
      for (const hasValue of [false, true]) {
        const e = new Entry(kind, hlc, 'w', ['w', 1], 1000)
        e.hasValue = hasValue
        assert.is(e.hlc, hlc, `hlc ${hlc}`)
        assert.is(e.kind, kind)
        assert.is(e.hasValue, hasValue)
        for (const other of STAMPS) {
          e.hlc = other
          assert.is(e.hlc, other)
          assert.is(e.kind, kind, `kind kept over hlc ${other}`)
          assert.is(e.hasValue, hasValue, `hasValue kept over hlc ${other}`)
        }
        e.kind = RecordKind.DELETE
        e.hasValue = !hasValue
        assert.is(e.hlc, STAMPS[STAMPS.length - 1], 'hlc kept over the flags')
        assert.is(e.kind, RecordKind.DELETE)
        assert.is(e.hasValue, !hasValue)
      }
    }
  }
})

test('assign takes over a record\'s timestamp and kind', () => {
  const e = new Entry(RecordKind.SET, 5, 'w', ['w', 1], 1000)
  e.hasValue = true
  const hlc = 1_763_900_000_123 * HLC_LOGICAL_RANGE + 7
  e.assign({ key: 'k', kind: RecordKind.INVALIDATE, hlc, writer: 'v', vv: ['v', 3] }, 2000)
  assert.is(e.hlc, hlc)
  assert.is(e.kind, RecordKind.INVALIDATE)
  assert.is(e.hasValue, true, 'assign leaves has-value to the store')
  assert.is(e.writer, 'v')
  assert.is(e.ttl, 2000)
  assert.is(e.expiresAt, 1_763_900_000_123 + 2000)
})

test('the expiry deadline reads back exact, 0 means not queued, and an overwrite does not move it', () => {
  const ms = 1_763_900_000_000
  const e = new Entry(RecordKind.SET, ms * HLC_LOGICAL_RANGE, 'w', ['w', 1], 60_000)
  e.hasValue = true
  e.queuedAt = 0
  assert.is(e.queuedAt, 0, 'not queued')
  e.queuedAt = e.expiresAt
  assert.is(e.queuedAt, ms + 60_000)
  // A later write of the key: the queue still holds the old deadline, which must still match.
  e.assign({ key: 'k', kind: RecordKind.SET, hlc: (ms + 5_000) * HLC_LOGICAL_RANGE + 3, writer: 'w', vv: ['w', 2] }, 60_000)
  assert.is(e.queuedAt, ms + 60_000, 'the queued deadline stays put')
  assert.is(e.expiresAt, ms + 65_000)
  e.queuedAt = 0
  e.assign({ key: 'k', kind: RecordKind.SET, hlc: (ms + 9_000) * HLC_LOGICAL_RANGE, writer: 'w', vv: ['w', 3] }, 60_000)
  assert.is(e.queuedAt, 0, 'not queued stays not queued over a write')
  // Deadlines before the write (a value re-queued late) and long after it read back too.
  for (const at of [ms - 3_000, ms + 1, ms + 2 ** 31 + 7]) {
    e.queuedAt = at
    assert.is(e.queuedAt, at)
  }
})

test('the dead phase keeps its own time, untouched by an overwrite, past 2038 too', () => {
  const e = new Entry(RecordKind.DELETE, 1_763_900_000_000 * HLC_LOGICAL_RANGE, 'w', ['w', 1], 60_000)
  assert.is(e.deadSince, 0, 'not in the GC queue')
  e.deadSince = 1_763_900_001
  e.assign({ key: 'k', kind: RecordKind.INVALIDATE, hlc: 1_763_900_002_000 * HLC_LOGICAL_RANGE, writer: 'w', vv: ['w', 2] }, 60_000)
  assert.is(e.deadSince, 1_763_900_001)
  // Test clocks start anywhere; epoch seconds leave the int32 range in 2038.
  for (const seconds of [1, 1_000, 2 ** 31 + 5, Date.UTC(2200, 0, 1) / 1000, 0]) {
    e.deadSince = seconds
    assert.is(e.deadSince, seconds)
  }
})

test.run()
