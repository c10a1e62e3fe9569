/**
 * The clock-skew monitor (lib/observe/clock-skew.ts): every sighting counted,
 * each origin and kind of sighting reported at most once a minute, its
 * memory of reports bounded.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ClockSkew, CLOCK_SKEW_REPORT_EVERY_MS, type ClockSkewEvent } from '../../lib/observe/clock-skew.ts'

function monitor () {
  let clock = 1_000_000
  const events: ClockSkewEvent[] = []
  const skew = new ClockSkew(5_000, (e) => events.push(e), () => clock)
  return { skew, events, advance: (ms: number) => { clock += ms } }
}

test('reports an origin once per kind of sighting a minute, and counts every sighting', () => {
  const { skew, events, advance } = monitor()
  skew.ahead('b~1', 20_000.4, 'record')
  skew.ahead('b~1', 21_000, 'record')
  skew.ahead('b~1', 20_000, 'membership')
  skew.ahead('c~1', 9_000, 'record')
  assert.equal(events, [
    { origin: 'b~1', aheadMs: 20_000, maxClockSkew: 5_000, seenIn: 'record' },
    { origin: 'b~1', aheadMs: 20_000, maxClockSkew: 5_000, seenIn: 'membership' },
    { origin: 'c~1', aheadMs: 9_000, maxClockSkew: 5_000, seenIn: 'record' },
  ])
  assert.is(skew.seen, 4)
  advance(CLOCK_SKEW_REPORT_EVERY_MS - 1)
  skew.ahead('b~1', 22_000, 'record')
  assert.is(events.length, 3, 'not again within the minute')
  advance(1)
  skew.ahead('b~1', 23_000, 'record')
  assert.equal(events.at(-1), { origin: 'b~1', aheadMs: 23_000, maxClockSkew: 5_000, seenIn: 'record' }, 'a minute on: again')
  assert.is(skew.seen, 6)
})

test('remembers at most 1024 reports: past it, those older than a minute go first, then the oldest', () => {
  const { skew, events, advance } = monitor()
  for (let i = 0; i < 1024; i++) skew.ahead(`old${i}~1`, 6_000, 'record')
  advance(CLOCK_SKEW_REPORT_EVERY_MS)
  for (let i = 0; i < 1024; i++) skew.ahead(`new${i}~1`, 6_000, 'record')
  assert.is(events.length, 2048, 'every origin reported once')
  skew.ahead('new0~1', 6_000, 'record')
  assert.is(events.length, 2048, 'the newer reports were kept: no repeat within the minute')
  skew.ahead('another~1', 6_000, 'record') // full of reports within the minute: the oldest goes
  skew.ahead('new0~1', 6_000, 'record')
  assert.is(events.length, 2050, 'the oldest report was dropped, so that origin is reported again')
  skew.ahead('new2~1', 6_000, 'record') // new0's return pushed new1 out; new2 is still remembered
  assert.is(events.length, 2050, 'a later one is still remembered')
  skew.ahead('new1~1', 6_000, 'record')
  assert.is(events.length, 2051, 'the one pushed out is reported again')
})

test.run()
