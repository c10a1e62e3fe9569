/**
 * meshcache/testing refuses what would quietly weaken a user's test: a
 * misspelt network option (the test would run unseeded, or without the
 * faults it meant to inject, and still pass), a rate outside 0..1, a bad
 * seed or latency, and a test clock set to NaN or an infinity (a TTL check
 * against NaN never expires anything). Each refusal changes nothing.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ErrorCode } from '../lib/index.ts'
import { createMemoryNetwork, createTestClock } from '../lib/testing/index.ts'
import { throwsCode } from './helpers/assert-code.ts'

test('the memory network refuses a misspelt or out-of-range option, with a suggestion', () => {
  throwsCode(() => createMemoryNetwork({ sed: 1 } as never), ErrorCode.INVALID_OPTION, /^option `sed` is not an option; did you mean `seed`\?/)
  throwsCode(() => createMemoryNetwork({ droprate: 0.1 } as never), ErrorCode.INVALID_OPTION, /did you mean `dropRate`/)
  throwsCode(() => createMemoryNetwork({ dropRate: 2 }), ErrorCode.INVALID_OPTION, /^option `dropRate` must be a probability from 0 to 1, got 2$/)
  throwsCode(() => createMemoryNetwork({ duplicateRate: Number.NaN }), ErrorCode.INVALID_OPTION, /`duplicateRate` must be a probability/)
  throwsCode(() => createMemoryNetwork({ seed: 'x' } as never), ErrorCode.INVALID_OPTION, /^option `seed` must be an integer, got x$/)
  throwsCode(() => createMemoryNetwork({ seed: 1.5 }), ErrorCode.INVALID_OPTION, /`seed` must be an integer/)
  throwsCode(() => createMemoryNetwork({ latency: [3, 1] }), ErrorCode.INVALID_OPTION, /^option `latency` must be \[min, max\] in ms with 0 <= min <= max, got \[3,1\]$/)
  throwsCode(() => createMemoryNetwork({ latency: [-1, 1] }), ErrorCode.INVALID_OPTION, /`latency`/)
  throwsCode(() => createMemoryNetwork({ auto: 'yes' } as never), ErrorCode.INVALID_OPTION, /`auto` must be a boolean/)
  throwsCode(() => createMemoryNetwork(null as never), ErrorCode.INVALID_OPTION, /`options` must be an object/)
  // What it accepts.
  createMemoryNetwork()
  createMemoryNetwork({ seed: 2 ** 30, dropRate: 0, duplicateRate: 1, auto: false, latency: [0, 0], links: [['a', 'b']], spread: true })
})

test('setFaults refuses a bad rate or name and changes neither rate', async () => {
  const net = createMemoryNetwork({ seed: 3 })
  const handler = { onFrame: () => {}, onPeerUp: () => {}, onPeerDown: () => {} }
  const [from] = await Promise.all([net.transport('a').join('ns', handler), net.transport('b').join('ns', handler)])
  net.setFaults({ dropRate: 0.25 })
  throwsCode(() => net.setFaults({ dropRate: 0.5, duplicateRate: 3 }), ErrorCode.INVALID_OPTION, /`duplicateRate` must be a probability from 0 to 1, got 3/)
  throwsCode(() => net.setFaults({ droprate: 0 } as never), ErrorCode.INVALID_OPTION, /did you mean `dropRate`/)
  throwsCode(() => net.setFaults({ dropRate: -0.1 }), ErrorCode.INVALID_OPTION, /`dropRate`/)
  // The refused calls left 0.25 in force (the first would have set 0.5 before failing on the second rate):
  // of 400 frames about a quarter is lost, and none duplicated (seeded, so exact on replay).
  for (let i = 0; i < 400; i++) from.broadcast(new Uint8Array([1, i & 0xff]))
  await net.flush()
  assert.ok(net.stats.dropped > 60 && net.stats.dropped < 140, `${net.stats.dropped} of 400 lost at the rate set before the refused calls`)
  assert.is(net.stats.duplicated, 0)
})

test('partition refuses a group that is not an array of names, and dropWhere a rule that is not a function; neither changes the network', async () => {
  const net = createMemoryNetwork({ seed: 4 })
  net.transport('a')
  net.transport('b')
  throwsCode(() => net.partition(['a'], 'b' as never), ErrorCode.INVALID_ARGUMENT, /^partition: each group must be an array of node names, got \[\["a"\],"b"\]$/)
  throwsCode(() => net.partition(['a', 5 as never]), ErrorCode.INVALID_ARGUMENT, /^partition:/)
  assert.ok(net.reachable('a', 'b'), 'still one group')
  throwsCode(() => net.dropWhere(true as never), ErrorCode.INVALID_ARGUMENT, /^dropWhere: the rule must be a function/)
  net.partition(['a'], ['b'])
  assert.not.ok(net.reachable('a', 'b'), 'a good partition still applies')
})

test('the test clock refuses NaN and infinities, and keeps its time', () => {
  throwsCode(() => createTestClock(Number.NaN), ErrorCode.INVALID_ARGUMENT, /^createTestClock: start must be a finite number of ms, got NaN$/)
  throwsCode(() => createTestClock('1' as never), ErrorCode.INVALID_ARGUMENT, /start must be a finite number/)
  const clock = createTestClock(1_000)
  clock.advance(500)
  throwsCode(() => clock.advance(Number.POSITIVE_INFINITY), ErrorCode.INVALID_ARGUMENT, /^advance must be a finite number of ms/)
  throwsCode(() => clock.set(Number.NaN), ErrorCode.INVALID_ARGUMENT, /^set must be a finite number of ms, got NaN$/)
  assert.is(clock.now(), 1_500, 'the refused calls left the time as it was')
  clock.advance(-200)
  assert.is(clock.now(), 1_300, 'a wall clock may step back (NTP): advance() takes a negative step')
  clock.set(100)
  assert.is(clock.now(), 100, 'set() may jump back')
})

test.run()
