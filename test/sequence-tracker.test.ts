/** Per-origin receive state: gaps, and the retirement of departed origins (SPEC §5, §7). */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SequenceTracker } from '../lib/core/sequence-tracker.ts'

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

// Found by `npm run soak` with kill -9 restarts every ~17 s (horizon 25 s):
// each fresh incarnation learnt departed origins from the previous one's
// state vector and tracked them a horizon, long enough to hand them to the
// next; a soak process tracked up to 20 origins for 10 live incarnations.
test('an origin known only from a peer\'s state vector is not reported on, unless a live member or its number moves', () => {
  const t = new SequenceTracker()
  t.mark('direct', 1, 0) // its own frame reached us
  t.advance('heard', 4, 0) // only a peer's state vector named it
  t.advance('member', 2, 0)
  assert.equal([...t.stateVector()].sort(), [['direct', 1], ['heard', 4], ['member', 2]], 'all tracked, and asked for in step 1')
  assert.equal([...t.reportedStateVector(new Set(['member']))].sort(), [['direct', 1], ['member', 2]], 'the answer leaves out what we only heard of')
  t.advance('heard', 4, 10) // repeated: no news
  assert.not.ok(t.reportedStateVector(new Set()).has('heard'))
  t.advance('heard', 5, 20) // a new number: it is writing somewhere
  assert.is(t.reportedStateVector(new Set()).get('heard'), 5)
  t.advance('other', 1, 30)
  t.mark('other', 2, 30) // its own frame
  assert.is(t.reportedStateVector(new Set()).get('other'), 2)
})

// Found by test/retirement.test.ts: entries of an origin this instance never
// tracked (its frames never came here, no peer reported it) were never
// forgotten, nor entries above the numbers its frames brought.
test('entries of an origin only named by vectors are forgotten a horizon after the highest was first named', () => {
  const t = new SequenceTracker()
  t.noteNamed('ghost', 3, 0)
  t.noteNamed('ghost', 2, 50)
  assert.is(t.size, 0, 'named, not tracked')
  assert.is(t.forgetSilent(0, new Set(), 60), 0, 'not silent for a horizon yet')
  t.noteNamed('ghost', 5, 100) // a higher number: activity
  assert.is(t.forgetSilent(80, new Set(), 150), 0)
  assert.is(t.forgetSilent(80, new Set(['ghost']), 300), 0, 'a live member is kept')
  assert.is(t.forgetSilent(120, new Set(), 300), 1)
  assert.equal([...t.forgotten], [['ghost', 5]])
  t.noteNamed('ghost', 4, 310) // at or below the forgotten counter: nothing
  assert.is(t.forgetSilent(1000, new Set(), 1000), 0)
})

test('a retired origin is forgotten up to the highest number known in any form', () => {
  const t = new SequenceTracker()
  t.mark('o', 1, 0)
  t.mark('o', 3, 0) // 2 never came
  t.noteNamed('o', 6, 0) // a vector names its 6th write
  assert.is(t.forgetSilent(10, new Set(), 20), 1)
  assert.equal([...t.retired], [['o', 6]])
  assert.equal([...t.forgotten], [['o', 6]])
  t.mark('o', 5, 30) // old news
  assert.is(t.size, 0)
})

test('numbers named before an origin was tracked count at its retirement', () => {
  const t = new SequenceTracker()
  t.noteNamed('o', 9, 0) // a repaired record names its 9th write
  t.mark('o', 1, 0) // then its own frame: tracked from here
  assert.is(t.forgetSilent(10, new Set(), 20), 1)
  assert.equal([...t.forgotten], [['o', 9]], 'forgotten up to 9, not 1')
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


test('canonical maps an origin id to itself and adds nothing: a refused frame leaves no trace', () => {
  const t = new SequenceTracker()
  assert.is(t.canonical('new~1'), 'new~1')
  assert.is(t.size, 0)
  assert.not.ok(t.tracks('new~1'))
  t.mark('o~1', 1, 0)
  t.noteNamed('n~1', 4, 0)
  // Equal strings built apart (as a decoder builds them) map to the ids held for tracked and named origins.
  assert.is(t.canonical(['o', '~1'].join('')), 'o~1')
  assert.is(t.canonical(['n', '~1'].join('')), 'n~1')
  assert.is(t.size, 1)
})

test.run()
