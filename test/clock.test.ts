/**
 * The hybrid logical clock, on the injected test clock (no sleeping). The
 * randomised run is seeded and prints its replay command on failure:
 * SEED=n ./node_modules/.bin/node test/clock.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as prng from 'lib0/prng'
import { HLC_LOGICAL_RANGE, HybridClock, physicalMs } from '../lib/core/clock.ts'
import { createTestClock } from '../lib/testing/index.ts'

const SEED = Number(process.env.SEED ?? 0xc10c)
const REPLAY = `SEED=${SEED} ./node_modules/.bin/node test/clock.test.ts`
const DRIFT = 5_000

function setup (start = 1_700_000_000_000): { wall: ReturnType<typeof createTestClock>, hlc: HybridClock } {
  const wall = createTestClock(start)
  return { wall, hlc: new HybridClock(wall.now, DRIFT) }
}

test('a tick on a fresh millisecond is the wall clock with logical 0', () => {
  const { wall, hlc } = setup()
  assert.is(hlc.peek(), 0)
  assert.is(hlc.tick(), wall.now() * HLC_LOGICAL_RANGE)
  wall.advance(1)
  assert.is(hlc.tick(), wall.now() * HLC_LOGICAL_RANGE)
  assert.is(physicalMs(hlc.peek()), wall.now())
})

test('ticks within one millisecond count up the logical part', () => {
  const { wall, hlc } = setup()
  const base = wall.now() * HLC_LOGICAL_RANGE
  for (let i = 0; i < 10; i++) assert.is(hlc.tick(), base + i)
  assert.is(physicalMs(hlc.peek()), wall.now())
})

test('monotonic when the wall clock stands still or steps back', () => {
  const { wall, hlc } = setup()
  let last = hlc.tick()
  for (const step of [0, -1, -1000, 0, 3, -2, -60_000]) {
    wall.advance(step)
    const t = hlc.tick()
    assert.ok(t > last, `tick ${t} after ${last}, wall moved ${step} ms`)
    last = t
  }
})

test('past 1000 events in one millisecond it runs ahead of the wall, stays monotonic, and rejoins the wall', () => {
  const { wall, hlc } = setup()
  const now = wall.now()
  let last = 0
  for (let i = 0; i < 3500; i++) {
    const t = hlc.tick()
    assert.ok(t > last, `event ${i}: ${t} after ${last}`)
    last = t
  }
  assert.is(last, now * HLC_LOGICAL_RANGE + 3499)
  assert.is(physicalMs(last), now + 3, 'ran 3 ms ahead of a stopped wall clock')
  wall.advance(2)
  assert.ok(hlc.tick() > last, 'wall still behind: keeps counting')
  wall.advance(10)
  assert.is(hlc.tick(), wall.now() * HLC_LOGICAL_RANGE, 'wall ahead again: back on the wall clock')
})

test('follows a remote timestamp ahead of it, so the next local event is later', () => {
  const { wall, hlc } = setup()
  hlc.tick()
  const remote = (wall.now() + 1_000) * HLC_LOGICAL_RANGE + 17
  hlc.observe(remote)
  assert.is(hlc.peek(), remote)
  const t = hlc.tick()
  assert.ok(t > remote)
  assert.is(t, remote + 1)
})

test('ignores a remote timestamp behind it', () => {
  const { wall, hlc } = setup()
  wall.advance(10)
  const t = hlc.tick()
  hlc.observe(t - 5)
  hlc.observe(0)
  assert.is(hlc.peek(), t)
})

test('observe judges the drift against the wall-clock reading it is given, else reads the clock', () => {
  const { wall, hlc } = setup()
  const t = hlc.tick()
  const ahead = (wall.now() + DRIFT + 10) * HLC_LOGICAL_RANGE
  hlc.observe(ahead, wall.now())
  assert.is(hlc.peek(), t, 'beyond the drift of the reading given')
  hlc.observe(ahead, wall.now() + 10)
  assert.is(hlc.peek(), ahead, 'within the drift of a later reading (a frame\'s, shared by its records)')
  const further = ahead + 20 * HLC_LOGICAL_RANGE
  hlc.observe(further)
  assert.is(hlc.peek(), ahead, 'without a reading, the clock\'s own: 20 ms further is beyond it')
})

test('refuses to follow a remote timestamp more than maxDrift ahead of the wall; exactly maxDrift is followed', () => {
  const { wall, hlc } = setup()
  const t = hlc.tick()
  assert.is(hlc.observe((wall.now() + DRIFT + 1) * HLC_LOGICAL_RANGE), false, 'refused: the caller reports it')
  assert.is(hlc.peek(), t, 'one millisecond beyond the drift: not followed')
  assert.is(hlc.observe(Number.MAX_SAFE_INTEGER), false)
  assert.is(hlc.peek(), t, 'a broken clock from the year 2255')
  assert.is(hlc.tick(), t + 1)
  assert.is(hlc.observe(t), true, 'behind the clock: nothing to follow, nothing to report')
  const edge = (wall.now() + DRIFT) * HLC_LOGICAL_RANGE + 999
  assert.is(hlc.observe(edge), true)
  assert.is(hlc.peek(), edge, 'at the drift limit: followed')
  wall.advance(DRIFT + 1)
  const far = (wall.now() + DRIFT) * HLC_LOGICAL_RANGE
  hlc.observe(far)
  assert.is(hlc.peek(), far, 'the limit moves with the wall clock')
})

test('maxDrift 0 follows only timestamps within the current wall millisecond', () => {
  const wall = createTestClock()
  const hlc = new HybridClock(wall.now, 0)
  hlc.observe(wall.now() * HLC_LOGICAL_RANGE + 999)
  assert.is(hlc.peek(), wall.now() * HLC_LOGICAL_RANGE + 999)
  hlc.observe((wall.now() + 1) * HLC_LOGICAL_RANGE)
  assert.is(hlc.peek(), wall.now() * HLC_LOGICAL_RANGE + 999)
})

test('seeded: three skewed clocks exchanging timestamps keep causality and never go back', () => {
  const gen = prng.create(SEED)
  const base = createTestClock()
  const skew = [0, -2_000, 3_000]
  const clocks = skew.map((s) => new HybridClock(() => base.now() + s, DRIFT))
  const issued: number[][] = [[], [], []]
  try {
    for (let step = 0; step < 20_000; step++) {
      const i = prng.int32(gen, 0, 2)
      const c = clocks[i] as HybridClock
      const r = prng.real53(gen)
      if (r < 0.2) base.advance(prng.int32(gen, 0, 3))
      else if (r < 0.6) {
        const before = c.peek()
        const t = c.tick()
        assert.ok(t > before, `clock ${i}: tick ${t} not after ${before}`)
        issued[i]!.push(t)
      } else {
        const j = prng.int32(gen, 0, 2)
        const seen = clocks[j]!.peek()
        const before = c.peek()
        c.observe(seen)
        const t = c.tick()
        // Skews stay within DRIFT, so the remote timestamp is always followed: causality holds.
        assert.ok(t > seen && t > before, `clock ${i} ticked ${t} after observing ${seen} from clock ${j}`)
      }
    }
  } catch (error) {
    console.error(`clock: seeded run failed with seed ${SEED}; replay: ${REPLAY}`)
    ;(error as Error).message += `\n    seed ${SEED}; replay: ${REPLAY}`
    throw error
  }
  for (const ts of issued) assert.ok(ts.length > 1000 && ts.every((t, k) => k === 0 || t > (ts[k - 1] as number)))
})

test('the packed timestamp stays a safe integer for any epoch millisecond before 2255', () => {
  const ms = Date.UTC(2255, 0, 1)
  assert.ok(Number.isSafeInteger(ms * HLC_LOGICAL_RANGE + HLC_LOGICAL_RANGE - 1))
  assert.is(physicalMs(ms * HLC_LOGICAL_RANGE + 999), ms)
  assert.is(HLC_LOGICAL_RANGE, 1000)
})

test.run()
