import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { EntryTable } from '../lib/core/entry.ts'
import { HLC_LOGICAL_RANGE } from '../lib/core/clock.ts'
import { Order } from '../lib/core/version-vector.ts'
import { RecordKind } from '../protocol/constants.ts'

// Every key's state is a slot of columns (lib/core/entry.ts): each field must
// read back exactly what was written, whatever the others and the other slots
// hold, through growth and slot reuse.
const STAMPS = [
  0,
  1,
  2 ** 24 - 1,
  2 ** 31 + 3, // past int32
  1_700_000_000_000 * HLC_LOGICAL_RANGE + 999,
  Date.UTC(2255, 0, 1) * HLC_LOGICAL_RANGE, // where the clock's safe range ends
  Number.MAX_SAFE_INTEGER,
]
const KINDS = [RecordKind.SET, RecordKind.DELETE, RecordKind.INVALIDATE]

test('the timestamp, the kind and the flags read back what was written, each independent of the others', () => {
  const t = new EntryTable()
  for (const hlc of STAMPS) {
    for (const kind of KINDS) {
      for (const flag of [false, true]) {
        const s = t.add(kind, hlc, 'w', ['w', 1], 1000)
        t.setHasValue(s, flag)
        t.setDeadQueued(s, !flag)
        assert.is(t.hlc(s), hlc, `hlc ${hlc}`)
        assert.is(t.kind(s), kind)
        assert.is(t.hasValue(s), flag)
        assert.is(t.deadQueued(s), !flag)
        t.assign(s, { key: 'k', kind: RecordKind.DELETE, hlc: STAMPS[STAMPS.length - 1] as number, writer: 'w', vv: ['w', 2] }, 5)
        assert.is(t.hlc(s), STAMPS[STAMPS.length - 1])
        assert.is(t.kind(s), RecordKind.DELETE)
        assert.is(t.hasValue(s), flag, 'has-value kept over a new state')
        assert.is(t.deadQueued(s), !flag, 'dead-queued kept over a new state')
      }
    }
  }
})

test('assign takes over a record\'s timestamp, kind, writer, ttl and vector', () => {
  const t = new EntryTable()
  const s = t.add(RecordKind.SET, 5, 'w', ['w', 1], 1000)
  t.setHasValue(s, true)
  const hlc = 1_763_900_000_123 * HLC_LOGICAL_RANGE + 7
  t.assign(s, { key: 'k', kind: RecordKind.INVALIDATE, hlc, writer: 'v', vv: ['v', 3, 'w', 1] }, 2000)
  assert.is(t.hlc(s), hlc)
  assert.is(t.kind(s), RecordKind.INVALIDATE)
  assert.is(t.hasValue(s), true, 'assign leaves has-value to the store')
  assert.is(t.writer(s), 'v')
  assert.is(t.ttl(s), 2000)
  assert.is(t.expiresAt(s), 1_763_900_000_123 + 2000)
  assert.equal(t.vv(s), ['v', 3, 'w', 1])
  assert.is(t.vectorSize(s), 2)
  assert.is(t.compare(s, ['v', 3, 'w', 2]), Order.AFTER)
  t.assign(s, { key: 'k', kind: RecordKind.SET, hlc: hlc + 1, writer: 'v', vv: ['v', 4] }, 2000)
  assert.equal(t.vv(s), ['v', 4], 'a one-origin vector is kept as its counter and read back whole')
  assert.is(t.vectorSize(s), 1)
  assert.is(t.compare(s, ['v', 4]), Order.EQUAL)
  assert.is(t.compare(s, ['v', 3]), Order.BEFORE)
  assert.is(t.compare(s, ['u', 1, 'v', 3]), Order.CONCURRENT)
})

test('the expiry deadline reads back exact, 0 means not queued, and an overwrite does not move it', () => {
  const t = new EntryTable()
  const ms = 1_763_900_000_000
  const s = t.add(RecordKind.SET, ms * HLC_LOGICAL_RANGE, 'w', ['w', 1], 60_000)
  t.setHasValue(s, true)
  assert.is(t.queuedAt(s), 0, 'not queued')
  t.setQueuedAt(s, t.expiresAt(s))
  assert.is(t.queuedAt(s), ms + 60_000)
  // A later write of the key: the queue still holds the old deadline, which must still match.
  t.assign(s, { key: 'k', kind: RecordKind.SET, hlc: (ms + 5_000) * HLC_LOGICAL_RANGE + 3, writer: 'w', vv: ['w', 2] }, 60_000)
  assert.is(t.queuedAt(s), ms + 60_000, 'the queued deadline stays put')
  assert.is(t.expiresAt(s), ms + 65_000)
  // Deadlines before the write and long after it (ttl past int32 ms) read back too.
  for (const at of [ms - 3_000, ms + 1, ms + 2 ** 31 + 7, ms + 2 ** 40]) {
    t.setQueuedAt(s, at)
    assert.is(t.queuedAt(s), at)
  }
  const long = t.add(RecordKind.SET, ms * HLC_LOGICAL_RANGE, 'w', ['w', 1], 2 ** 35)
  assert.is(t.expiresAt(long), ms + 2 ** 35, 'a ttl past int32 ms is exact')
})

test('the dead phase keeps its own time, untouched by an overwrite, past 2038 too', () => {
  const t = new EntryTable()
  const s = t.add(RecordKind.DELETE, 1_763_900_000_000 * HLC_LOGICAL_RANGE, 'w', ['w', 1], 60_000)
  assert.is(t.deadSince(s), 0, 'not in the GC queue')
  t.setDeadSince(s, 1_763_900_001)
  t.assign(s, { key: 'k', kind: RecordKind.INVALIDATE, hlc: 1_763_900_002_000 * HLC_LOGICAL_RANGE, writer: 'w', vv: ['w', 2] }, 60_000)
  assert.is(t.deadSince(s), 1_763_900_001)
  for (const seconds of [1, 1_000, 2 ** 31 + 5, Date.UTC(2200, 0, 1) / 1000, 0]) {
    t.setDeadSince(s, seconds)
    assert.is(t.deadSince(s), seconds)
  }
})

test('a local write over a slot: no value held, its place in the GC queue and death time kept only if it had one', () => {
  const t = new EntryTable()
  const dead = t.add(RecordKind.DELETE, 10, 'w', ['w', 1], 1000)
  t.setDeadQueued(dead, true)
  t.setDeadSince(dead, 1_700_000_000)
  t.rewrite(dead, RecordKind.SET, 20, 'me', ['me', 1, 'w', 1], 1000)
  assert.ok(t.deadQueued(dead))
  assert.is(t.deadSince(dead), 1_700_000_000)
  assert.is(t.kind(dead), RecordKind.SET)
  assert.equal(t.vv(dead), ['me', 1, 'w', 1])
  const live = t.add(RecordKind.SET, 10, 'w', ['w', 1], 1000)
  t.setHasValue(live, true)
  t.setQueuedAt(live, 99_000)
  t.rewrite(live, RecordKind.INVALIDATE, 20, 'w', ['w', 2], 1000)
  assert.not.ok(t.hasValue(live), 'the store revives it when it stores a value')
  assert.not.ok(t.deadQueued(live))
  assert.is(t.queuedAt(live), 0)
  assert.equal(t.vv(live), ['w', 2])
})

test('every TTL reads back exact: one past the 32-bit column goes beside it, and leaves when rewritten or freed', () => {
  const t = new EntryTable()
  const ms = 1_700_000_000_000
  // 2 ** 32 - 1 is the column's mark for "beside it", so it must go beside it too.
  const ttls = [0, 1, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 1, 1.5, Number.MAX_SAFE_INTEGER]
  const slots = ttls.map((ttl) => t.add(RecordKind.SET, ms * HLC_LOGICAL_RANGE, 'w', ['w', 1], ttl))
  ttls.forEach((ttl, i) => {
    assert.is(t.ttl(slots[i] as number), ttl, `ttl ${ttl}`)
    assert.is(t.expiresAt(slots[i] as number), ms + ttl, `deadline with ttl ${ttl}`)
  })
  assert.is(t.wideTtls, 5)
  // A wide TTL rewritten narrow, and a narrow one rewritten wide.
  t.rewrite(slots[5] as number, RecordKind.SET, ms * HLC_LOGICAL_RANGE, 'w', ['w', 2], 60_000)
  t.assign(slots[1] as number, { key: 'k', kind: RecordKind.SET, hlc: ms * HLC_LOGICAL_RANGE, writer: 'w', vv: ['w', 3] }, 2 ** 45)
  assert.is(t.ttl(slots[5] as number), 60_000)
  assert.is(t.ttl(slots[1] as number), 2 ** 45)
  assert.is(t.wideTtls, 5)
  for (const s of slots) t.free(s)
  assert.is(t.wideTtls, 0, 'a freed slot leaves nothing beside the column')
  const reused = t.add(RecordKind.SET, ms * HLC_LOGICAL_RANGE, 'w', ['w', 4], 5)
  assert.is(t.ttl(reused), 5)
  assert.is(t.wideTtls, 0)
})

test('a placeholder\'s empty vector is held inline: it reads back empty, every record dominates it, and it turns into any vector and back', () => {
  const t = new EntryTable()
  const p = t.add(RecordKind.SET, 0, '', [], 1000)
  assert.equal(t.vv(p), [])
  assert.ok(t.isPlaceholder(p))
  assert.is(t.vectorSize(p), 0)
  assert.is(t.compare(p, ['a', 1]), Order.AFTER, 'any record dominates a placeholder')
  assert.is(t.compare(p, []), Order.EQUAL)
  assert.not.ok(t.exceeds(p, new Map()), 'nothing of it is beyond any state vector')
  assert.equal(t.vectorWith(p, 'me', 3), ['me', 3])
  // A real one-origin state is not a placeholder, nor is a several-origin one; either may become one again.
  t.assign(p, { key: 'k', kind: RecordKind.SET, hlc: 5, writer: 'a', vv: ['a', 1] }, 1000)
  assert.not.ok(t.isPlaceholder(p))
  assert.equal(t.vv(p), ['a', 1])
  t.assign(p, { key: 'k', kind: RecordKind.SET, hlc: 6, writer: 'a', vv: ['a', 2, 'b', 1] }, 1000)
  assert.not.ok(t.isPlaceholder(p))
  assert.is(t.vectorSize(p), 2)
  t.rewrite(p, RecordKind.SET, 0, '', [], 1000)
  assert.ok(t.isPlaceholder(p))
  assert.equal(t.vv(p), [])
  // Placeholders do not count as an origin an answer may owe.
  assert.ok(t.nothingBeyond(new Map([['a', 2], ['b', 1]])))
})

test('slots survive the columns growing, and a freed slot is reused clean', () => {
  const t = new EntryTable()
  const n = 5_000 // past the initial 1,024 slots, several times
  const slots: number[] = []
  for (let i = 0; i < n; i++) {
    const s = t.add(KINDS[i % 3] as 0, i * HLC_LOGICAL_RANGE + i, `w${i % 7}`, i % 5 === 0 ? ['a', i + 1, `w${i % 7}`, 1] : [`w${i % 7}`, i + 1], i + 1)
    t.setQueuedAt(s, i * 1000)
    t.setHasValue(s, i % 2 === 0)
    slots.push(s)
  }
  assert.is(new Set(slots).size, n)
  assert.is(t.size, n)
  assert.ok(t.capacity >= n)
  for (let i = 0; i < n; i++) {
    const s = slots[i] as number
    assert.is(t.hlc(s), i * HLC_LOGICAL_RANGE + i)
    assert.is(t.kind(s), KINDS[i % 3])
    assert.is(t.writer(s), `w${i % 7}`)
    assert.is(t.ttl(s), i + 1)
    assert.is(t.queuedAt(s), i * 1000)
    assert.is(t.hasValue(s), i % 2 === 0)
    assert.equal(t.vv(s), i % 5 === 0 ? ['a', i + 1, `w${i % 7}`, 1] : [`w${i % 7}`, i + 1])
  }
  t.free(slots[17] as number)
  assert.is(t.size, n - 1)
  const again = t.add(RecordKind.SET, 1, 'x', ['x', 1], 7)
  assert.is(again, slots[17], 'a freed slot is used first')
  assert.is(t.size, n)
  assert.not.ok(t.hasValue(again))
  assert.not.ok(t.deadQueued(again))
  assert.is(t.queuedAt(again), 0)
  assert.is(t.writer(again), 'x')
  assert.equal(t.vv(again), ['x', 1])
})

test.run()
