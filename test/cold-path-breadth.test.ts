/**
 * bench/mesh/cold-path.ts --breadth counts the JavaScript functions each side of a write calls every time (V8's
 * precise coverage): deterministic, so the counts of one build repeat exactly, and meshcache's path is wider
 * than the floor's on both sides. Timed, `--minimal` runs each system in a process of its own beside the floor.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const script = fileURLToPath(new URL('../bench/mesh/cold-path.ts', import.meta.url))

function breadth (): Map<string, number[]> {
  const out = execFileSync(process.execPath, [script, '--breadth', '--writes', '500'], { encoding: 'utf8' })
  const rows = new Map<string, number[]>()
  for (const line of out.split('\n')) {
    const m = /^(floor|meshcache)\s+(\d+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)$/.exec(line.trim())
    if (m !== null) rows.set(m[1] as string, m.slice(2).map(Number))
  }
  return rows
}

test('--breadth: a row per system, the same counts twice, meshcache wider than the floor', () => {
  const first = breadth()
  assert.equal([...first.keys()], ['floor', 'meshcache'])
  const [floorWriter, , floorReceiver] = first.get('floor') as number[]
  const [writer, , receiver] = first.get('meshcache') as number[]
  assert.ok((writer as number) > (floorWriter as number) && (receiver as number) > (floorReceiver as number), JSON.stringify([...first]))
  assert.equal(breadth(), first, 'coverage counts do not depend on timing')
})

test('--minimal, timed: each system in a process of its own, its row after its own floor\'s', () => {
  const out = execFileSync(process.execPath, [script, '--minimal', '--writes', '500'], { encoding: 'utf8' })
  const rows = out.split('\n').filter((line) => /^\S.*\s[\d.]+x$/.test(line)).map((line) => line.split(/\s{2,}/)[0])
  const systems = ['minimal', 'minimal-store', 'minimal-codec', 'minimal-lone', 'meshcache']
  assert.equal(rows, systems.flatMap((name) => ['(its floor)', name]), out)
  assert.match(out, /each system in a process of its own/)
})

test('--only refuses a system it does not know, and goes only with --minimal', () => {
  for (const extra of [['--minimal', '--only', 'redis'], ['--only', 'meshcache']]) {
    const run = spawnSync(process.execPath, [script, ...extra], { encoding: 'utf8' })
    assert.is(run.status, 2, run.stderr)
    assert.match(run.stderr, /--only \S+: takes --minimal and one of minimal, minimal-store, minimal-codec, minimal-lone, meshcache/)
  }
})

test('--minimal, timed, refuses --against and --steps, which compare or split meshcache alone', () => {
  for (const extra of [['--against', '.'], ['--steps']]) {
    const run = spawnSync(process.execPath, [script, '--minimal', ...extra], { encoding: 'utf8' })
    assert.is(run.status, 2, run.stderr)
    assert.match(run.stderr, /--minimal times the bounds and meshcache each in a process of its own/)
  }
})

test.run()
