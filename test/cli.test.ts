/**
 * The repo's own scripts (benches, seed runs, soak, demo, dashboard) answer
 * `--help` with their usage and a mistyped option with a line naming it and
 * the usage (test/helpers/cli.ts), never with a stack trace or by running
 * anyway. The npm scripts are read from package.json, so a new one is
 * checked without being listed here.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { numberOption, readCli } from './helpers/cli.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const OPTIONS = { seeds: { type: 'string', default: '10' }, first: { type: 'boolean', default: false } } as const

test('readCli: values with their defaults, and the given ones', () => {
  const given = readCli('usage: x', OPTIONS, ['--seeds', '5', '--first'])
  assert.ok(given.ok)
  if (given.ok) assert.equal({ seeds: given.values.seeds, first: given.values.first }, { seeds: '5', first: true })
  const defaults = readCli('usage: x', OPTIONS, [])
  assert.ok(defaults.ok)
  if (defaults.ok) assert.equal({ seeds: defaults.values.seeds, first: defaults.values.first }, { seeds: '10', first: false })
})

test('readCli: --help and -h give the usage and exit code 0', () => {
  for (const flag of ['--help', '-h']) {
    assert.equal(readCli('usage: x [--seeds N]', OPTIONS, ['--seeds', '3', flag]), { ok: false, exitCode: 0, text: 'usage: x [--seeds N]\n' })
  }
})

test('readCli: an unknown option, a missing value or a stray argument is named, with the usage, exit code 2', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--sedes', '5'], /Unknown option '--sedes'/],
    [['--seeds'], /'--seeds <value>' argument missing/],
    [['5'], /Unexpected argument '5'/],
    [['--first=yes'], /--first/],
  ]
  for (const [args, named] of cases) {
    const r = readCli('usage: x', OPTIONS, args)
    assert.is(r.ok, false, args.join(' '))
    if (!r.ok) {
      assert.is(r.exitCode, 2, args.join(' '))
      assert.match(r.text, named)
      assert.ok(r.text.endsWith('usage: x\n'), r.text)
    }
  }
})

test('numberOption: a number of at least min, an integer unless told otherwise, or a TypeError naming script and option', () => {
  assert.is(numberOption('s', 'pairs', '12', 1), 12)
  assert.is(numberOption('s', 'warmup', '2.5', 0, false), 2.5)
  assert.is(numberOption('s', 'prime', '0', 0, false), 0)
  assert.throws(() => numberOption('s', 'pairs', '0', 1), (e: unknown) => e instanceof TypeError && e.message === 's: --pairs must be an integer >= 1, got 0')
  assert.throws(() => numberOption('s', 'pairs', '1.5', 1), /--pairs must be an integer >= 1, got 1\.5/)
  assert.throws(() => numberOption('s', 'seconds', 'abc', 1, false), /--seconds must be a number >= 1, got abc/)
  assert.throws(() => numberOption('s', 'seconds', 'Infinity', 1, false), /--seconds must be a number >= 1/)
})

test('readCli refuses a config that defines --help itself', () => {
  assert.throws(() => readCli('usage: x', { help: { type: 'string' } }, []), /added by readCli/)
})

/** Every `node …` npm script except the test runner, plus the benches run with `node` directly. */
function scripts (): Array<{ name: string, args: string[] }> {
  const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { scripts: Record<string, string> }
  const out: Array<{ name: string, args: string[] }> = []
  for (const [name, command] of Object.entries(pkg.scripts)) {
    const words = command.split(' ')
    if (words[0] !== 'node' || words.length < 2 || command.includes('&&') || words.includes('-e')) continue
    if (name.startsWith('example:')) continue // examples take no options
    out.push({ name: `npm run ${name}`, args: words.slice(1) })
  }
  for (const file of ['bench/scale/hops.ts', 'bench/scale/acks.ts', 'bench/core/receive-gc.ts', 'bench/core/sweep-stall.ts', 'bench/core/key-index-growth.ts']) {
    out.push({ name: `node ${file}`, args: [file] })
  }
  return out
}

function run (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : (typeof error.code === 'number' ? error.code : null), stdout, stderr })
    })
  })
}

test('every script: --help prints its usage (exit 0), an unknown option is named with the usage (exit 2)', async () => {
  const all = scripts()
  assert.ok(all.length >= 14, `found ${all.length} scripts`)
  const failures: string[] = []
  // Four at a time: each is a Node process loading TypeScript.
  for (let i = 0; i < all.length; i += 4) {
    await Promise.all(all.slice(i, i + 4).map(async ({ name, args }) => {
      const help = await run([...args, '--help'])
      if (help.code !== 0 || !help.stdout.startsWith('usage: ')) failures.push(`${name} --help: exit ${help.code}, stdout ${JSON.stringify(help.stdout.slice(0, 120))}, stderr ${JSON.stringify(help.stderr.slice(0, 200))}`)
      const bad = await run([...args, '--no-such-option'])
      if (bad.code !== 2 || !bad.stderr.includes('--no-such-option') || !bad.stderr.includes('usage: ') || bad.stderr.includes('    at ')) {
        failures.push(`${name} --no-such-option: exit ${bad.code}, stderr ${JSON.stringify(bad.stderr.slice(0, 300))}`)
      }
    }))
  }
  assert.equal(failures, [])
})

test('check:mesh-seeds refuses a region count it cannot lay out, naming --regions, before running anything', async () => {
  for (const regions of ['1', '5', '-2', '1.5']) {
    const r = await run(['test/check-mesh-seeds.ts', `--regions=${regions}`])
    assert.is(r.code, 2, `--regions ${regions}`)
    assert.match(r.stderr, /--regions must be 0, or 2 to a third of --instances \(4\)/)
    assert.ok(r.stderr.includes('usage: ') && !r.stdout.includes('seed '), r.stderr)
  }
})

test('check:mesh-seeds refuses --full with --regions, naming both, before running anything', async () => {
  const r = await run(['test/check-mesh-seeds.ts', '--full', '--regions=2'])
  assert.is(r.code, 2)
  assert.match(r.stderr, /--full and --regions cannot be given together/)
  assert.ok(r.stderr.includes('usage: ') && !r.stdout.includes('seed '), r.stderr)
})

test.run()
