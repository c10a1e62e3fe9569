/** SPEC.md §13 and the README quote the PostgreSQL source's defaults: they must be the code's. */
import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { POSTGRES_DEFAULTS as D } from '../../lib/sources/postgres-options.ts'

const spec = readFileSync(new URL('../../SPEC.md', import.meta.url), 'utf8')
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
const section = spec.slice(spec.indexOf('## 13. Change sources'))
const fmt = (n: number): string => n.toLocaleString('en-US')

test('SPEC §13 states the election, retry, acknowledgement and release defaults the code uses', () => {
  assert.ok(section.length > 1000, 'SPEC.md has §13')
  assert.match(section, `\`electionIntervalMs\` (${D.electionIntervalMs} ms)`)
  assert.match(section, `\`retryIntervalMs\` (${D.retryIntervalMs} ms)`)
  assert.match(section, `\`releaseAfterMs\` (${D.releaseAfterMs / 1000} s)`)
})

test("the README's option table gives the code's defaults", () => {
  const rows: Array<[string, string]> = [
    ['lagWarningBytes', `${D.lagWarningBytes / 1024 / 1024} MiB`],
    ['lagWarningMs', fmt(D.lagWarningMs)],
    ['statusIntervalMs', fmt(D.statusIntervalMs)],
    ['retryIntervalMs', fmt(D.retryIntervalMs)],
    ['electionIntervalMs', fmt(D.electionIntervalMs)],
    ['releaseAfterMs', fmt(D.releaseAfterMs)],
    ['ackDelayMs', fmt(D.ackDelayMs)],
    ['maxKeysPerTransaction', fmt(D.maxKeysPerTransaction)],
  ]
  for (const [name, value] of rows) assert.ok(readme.includes(`| \`${name}\` | ${value} |`), `README row for ${name} says ${value}`)
})

test.run()
