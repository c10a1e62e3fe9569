/** Per-origin receive state: gaps, and the retirement of departed origins (SPEC §5, §7). */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SequenceTracker } from '../lib/sequence-tracker.ts'

test('a number past contiguous + 1 is a gap until the numbers below it arrive', () => {
  const t = new SequenceTracker()
  t.mark('o', 1, 0)
  t.mark('o', 3, 0)
  assert.ok(t.hasGap('o'))
  assert.is(t.contiguous('o'), 1)
  t.mark('o', 2, 0)
  assert.not.ok(t.hasGap('o'))
  assert.is(t.contiguous('o'), 3)
})

test('only a new number counts as activity: repeating the last one does not keep an origin', () => {
  const t = new SequenceTracker()
  for (let n = 1; n <= 5; n++) t.mark('o', n, 0)
  t.advance('o', 5, 900) // a peer repeats o's last number
  assert.is(t.forgetSilent(500, new Set(), 1000), 1, 'silent since 0')
  assert.is(t.size, 0)
  assert.equal([...t.retired], [['o', 5]])
})

test('a retired origin is not brought back by its old numbers, and is by a new one, without a gap', () => {
  const t = new SequenceTracker()
  t.mark('o', 1, 0)
  t.mark('o', 2, 0)
  t.forgetSilent(10, new Set(), 15)
  t.advance('o', 2, 20) // a peer that has not retired it yet reports its last number
  t.mark('o', 1, 20) // a duplicate arrives late
  assert.is(t.size, 0, 'still retired')
  assert.is(t.stateVector().size, 0)
  t.mark('o', 3, 30) // o is back (a partition longer than the horizon)
  assert.is(t.size, 1)
  assert.is(t.contiguous('o'), 3, 'numbered on from where it left')
  assert.not.ok(t.hasGap('o'))
  assert.is(t.retired.size, 0)
})

// Found by test/retirement.test.ts: the retirement record goes as soon as no
// vector names the origin, and peers that retire it later still repeat its
// last number in their state vectors. Taken as news, that number made the
// origin "first heard of" again here, to be retired a horizon later, and so
// on: every replica passed the departed origin around for ever.
test('a retired origin whose record went (no vector names it) is not taken back from a peer repeating its last number', () => {
  const t = new SequenceTracker()
  for (let n = 1; n <= 4; n++) t.mark('gone', n, 0)
  t.forgetSilent(10, new Set(), 100)
  t.retainRetired(new Set()) // its entries are forgotten: no vector names it
  assert.is(t.retired.size, 0)
  t.advance('gone', 4, 200) // a peer that has not retired it yet
  t.mark('gone', 3, 200) // a late duplicate of its own frame
  assert.is(t.size, 0, 'still not tracked: old news')
  assert.is(t.forgetSilent(250, new Set(), 300), 0, 'nothing to retire again')
  t.advance('gone', 6, 400) // a new number: back after a partition longer than the horizon
  assert.is(t.contiguous('gone'), 6)
  t.mark('gone', 7, 410)
  assert.is(t.contiguous('gone'), 7)
  assert.not.ok(t.hasGap('gone'))
})

test('live members are kept; retired origins go once no vector names them', () => {
  const t = new SequenceTracker()
  t.mark('live', 1, 0)
  t.mark('gone', 1, 0)
  t.mark('also-gone', 4, 0)
  t.forgetSilent(10, new Set(['live']), 100)
  assert.equal([...t.stateVector().keys()], ['live'])
  assert.equal([...t.retired.keys()].sort(), ['also-gone', 'gone'])
  t.retainRetired(new Set(['live', 'gone']))
  assert.equal([...t.retired.keys()], ['gone'])
})

test('forgotten counters outlive retirement: kept while named or recent, and when the origin comes back', () => {
  const t = new SequenceTracker()
  for (let n = 1; n <= 3; n++) t.mark('gone', n, 0)
  for (let n = 1; n <= 2; n++) t.mark('back', n, 0)
  t.forgetSilent(10, new Set(), 100)
  assert.equal([...t.forgotten].sort(), [['back', 2], ['gone', 3]])
  t.mark('back', 3, 150) // back after a partition longer than the horizon
  assert.is(t.retired.has('back'), false, 'no longer retired')
  assert.is(t.forgotten.get('back'), 2, 'but its entries up to 2 are still old writes')
  t.retainRetired(new Set())
  t.retainForgotten(new Set(['gone']), 200)
  assert.equal([...t.forgotten.keys()], ['gone'], 'an unnamed one forgotten before the cut-off goes; a named one stays')
  t.retainForgotten(new Set(), 100)
  assert.equal([...t.forgotten.keys()], ['gone'], 'forgotten at the cut-off itself: kept')
  t.retainForgotten(new Set(), 101)
  assert.is(t.forgotten.size, 0)
})

test.run()
