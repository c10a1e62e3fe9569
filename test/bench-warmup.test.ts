/**
 * The warm-up's tools: bench/mesh/warmup.ts's table (each phase's p50 and its ratio to the floor's phase of the
 * same round), bench/mesh/tier-up.ts's reading of V8's trace, bench:mesh's per-rate warm-up, refused when it
 * does not match the rates, and bench:paired's order of phases, summary of its pairs and refusals.
 */
import { spawnSync } from 'node:child_process'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { warmupTable } from '../bench/mesh/warmup.ts'
import { tierUps } from '../bench/mesh/tier-up.ts'
import { phaseOrder } from '../bench/mesh/paired.ts'
import { pairedSummary, roundsLine } from '../bench/mesh/stats.ts'

test('warmupTable: medians over rounds, and each ratio against the floor of its own round', () => {
  const p50 = new Map([
    ['libp2p-stream', [[0.2, 0.1], [0.4, 0.1], [0.3, 0.1]]],
    ['meshcache', [[0.3, 0.11], [0.4, 0.12], [0.6, 0.13]]],
  ])
  const lines = warmupTable(p50, 4).split('\n')
  assert.match(lines[0] ?? '', /^system\s+4 s\s+8 s$/)
  assert.match(lines[2] ?? '', /^libp2p-stream p50 ms\s+0\.300\s+0\.100$/)
  assert.match(lines[3] ?? '', /^meshcache p50 ms\s+0\.400\s+0\.120$/)
  // Round ratios 1.5, 1.0, 2.0 (median 1.5; the ratio of the medians would read 1.33) and 1.1, 1.2, 1.3.
  assert.match(lines[4] ?? '', /^meshcache \/ floor\s+1\.50x\s+1\.20x$/)
  assert.throws(() => warmupTable(new Map([['meshcache', [[1]]]]), 4), /no libp2p-stream rows/)
})

test('tierUps: the writes made when each function first got code of a tier, later installs ignored', () => {
  const log = [
    '@@ 0',
    '[completed compiling 0x1 <JSFunction #apply (sfi = 0x2)> (target MAGLEV) - took 0.000, 1.3, 0.041 ms]',
    '@@ 250',
    '[compiling method 0x1 <JSFunction #apply (sfi = 0x2)> (target TURBOFAN_JS), mode: ConcurrencyMode::kConcurrent]',
    '@@ 500',
    '[completed compiling 0x1 <JSFunction #apply (sfi = 0x2)> (target TURBOFAN_JS) - took 0.030, 4.854, 0.103 ms]',
    '[completed optimizing 0x1 <JSFunction #apply (sfi = 0x2)> (target TURBOFAN_JS)]',
    '[completed optimizing 0x3 <JSFunction get (sfi = 0x4)> (target TURBOFAN_JS)]',
    '@@ 750',
    '[completed optimizing 0x1 <JSFunction #apply (sfi = 0x2)> (target TURBOFAN_JS)]',
  ].join('\n')
  assert.equal([...tierUps(log, 'TURBOFAN_JS')], [['#apply', 500], ['get', 500]])
  assert.equal([...tierUps(log, 'MAGLEV')], [['#apply', 0]])
})

test('bench:mesh refuses a --warmup list that does not match --rate, before starting anything', () => {
  const run = spawnSync(process.execPath, ['bench/mesh/run.ts', '--systems', 'meshcache', '--rate', '1000,200', '--warmup', '1,2,3'], { encoding: 'utf8' })
  assert.is.not(run.status, 0)
  assert.match(run.stderr, /--warmup takes one value, or one per rate \(2\), got 1,2,3/)
  assert.not.match(run.stdout, /starting/)
})


test('pairedSummary: each pair its own ratio, their median, mean and standard error, and the pairs within the target', () => {
  const summary = pairedSummary([{ base: 0.2, system: 0.22 }, { base: 0.1, system: 0.13 }, { base: 0.25, system: 0.3 }, { base: 0.16, system: 0.16 }], 1.2)
  assert.equal(summary.ratios.map((r) => Number(r.toFixed(6))), [1.1, 1.3, 1.2, 1])
  assert.ok(Math.abs(summary.median - 1.15) < 1e-9)
  assert.ok(Math.abs(summary.mean - 1.15) < 1e-9)
  // The sample standard deviation of 1.1, 1.3, 1.2, 1.0 is 0.1291; over √4.
  assert.ok(Math.abs(summary.se - 0.0645497) < 1e-6)
  assert.equal(summary.within, 3) // 1.2 itself counts
  assert.throws(() => pairedSummary([], 1.2), /no pairs/)
  assert.throws(() => pairedSummary([{ base: 0, system: 0.1 }], 1.2), /positive baseline/)
})

test('roundsLine: bench:mesh prints every round\'s ratio, their median and mean ± standard error, and the rounds within the target', () => {
  const summary = pairedSummary([{ base: 0.2, system: 0.22 }, { base: 0.1, system: 0.13 }, { base: 0.25, system: 0.3 }, { base: 0.16, system: 0.16 }], 1.2)
  assert.is(roundsLine('meshcache p50/floor at 1,000/s', summary, 1.2),
    'meshcache p50/floor at 1,000/s: 1.10x, 1.30x, 1.20x, 1.00x (median 1.15x, mean 1.150 ± 0.065 s.e.); <= 1.20x in 3 of 4')
  // One round: no spread to state.
  assert.is(roundsLine('x p99/floor at 20,000/s', pairedSummary([{ base: 1, system: 3.5 }], 3), 3), 'x p99/floor at 20,000/s: 3.50x; <= 3.00x in 0 of 1')
})

test('phaseOrder: two systems alternate; more rotate, each system in each place once over as many sets', () => {
  assert.equal([0, 1, 2, 3].map((i) => phaseOrder(2, i)), [[0, 1], [1, 0], [0, 1], [1, 0]])
  for (const n of [3, 4]) {
    const sets = Array.from({ length: n }, (_, i) => phaseOrder(n, i))
    for (const order of sets) assert.equal([...order].sort(), Array.from({ length: n }, (_, k) => k), `set of ${n}: every system once`)
    for (let place = 0; place < n; place++) assert.is(new Set(sets.map((order) => order[place])).size, n, `place ${place} of ${n}: every system once`)
    assert.equal(phaseOrder(n, n), sets[0], 'the rotation repeats')
  }
  assert.throws(() => phaseOrder(1, 0), /at least 2 systems/)
  assert.throws(() => phaseOrder(3, -1), /set number >= 0/)
})

test('bench:paired refuses bad options before starting any process', () => {
  for (const [args, message] of [
    [['--systems', 'meshcache'], /a baseline and at least one other system, each once/],
    [['--systems', 'meshcache,meshcache'], /a baseline and at least one other system, each once/],
    [['--systems', 'libp2p-stream,meshcache,libp2p-stream'], /a baseline and at least one other system, each once/],
    [['--systems', 'libp2p-stream,nosuch'], /no bench\/mesh\/systems\/nosuch\.ts/],
    [['--quantile', 'p90'], /--quantile must be p50 or p99/],
    [['--pairs', '0'], /--pairs must be an integer >= 1/],
  ] as const) {
    const run = spawnSync(process.execPath, ['bench/mesh/paired.ts', ...args], { encoding: 'utf8', timeout: 30_000 })
    assert.not.equal(run.status, 0, args.join(' '))
    assert.match(run.stderr, message, args.join(' '))
  }
})

test.run()
