/** SPEC.md §14 and the Redis tier agree: every constant row, and the record grammar's examples. */
import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as options from '../../lib/tiers/redis-options.ts'
import { RECORD_FORMAT, decodeRecord, encodeRecord } from '../../lib/tiers/redis-record.ts'
import { NO_STATE } from '../../lib/tiers/tier.ts'

const spec = readFileSync(new URL('../../SPEC.md', import.meta.url), 'utf8')

test('every constant of SPEC.md §14.6 is the code\'s', () => {
  const start = spec.indexOf('### 14.6 Constants')
  assert.ok(start >= 0, 'SPEC.md has §14.6')
  const rows = [...spec.slice(start).matchAll(/^\| ([A-Z_]+) \| ([^|]+) \|/gm)].map((m) => [m[1] as string, (m[2] as string).trim()])
  assert.is(rows.length, 6)
  const code: Record<string, unknown> = { ...options, RECORD_FORMAT }
  for (const [name, value] of rows) assert.is(String(code[name as string]), value, `${name} in SPEC.md`)
})

test('a record is laid out as §14.1 says, and decodes back', () => {
  const state = '0123456789abcdef'
  const bytes = encodeRecord('w', 1_764_680_000_000_123, 'node-a~mk2x', state, ['base', '\u0000tag:t'], 1_764_680_060_000, new TextEncoder().encode('{"v":1}'))
  const text = Buffer.from(bytes).toString('utf8')
  assert.is(text, `2w1764680000000123${'0b'}node-a~mk2x${state}${'00000b'}base\u001f\u0000tag:t${'1764680060000'}{"v":1}`)
  const r = decodeRecord(bytes)
  assert.equal({ ...r, payload: Buffer.from(r!.payload).toString() }, { kind: 'w', hlc: 1_764_680_000_000_123, writer: 'node-a~mk2x', state, bases: ['base', '\u0000tag:t'], expiresAt: 1_764_680_060_000, payload: '{"v":1}' })
  const tomb = encodeRecord('t', 5, 'w', NO_STATE, undefined, 0, undefined)
  assert.is(Buffer.from(tomb).toString(), '2t000000000000000501w00000000000000000000000000000000000')
  assert.throws(() => encodeRecord('w', 5, 'w', 'not-hex-digits!!', undefined, 0, undefined), /state/)
  const formatOne = '1t000000000000000501w0000000000000000000' // this layout without its state: an older release's record, a miss
  for (const bad of ['', formatOne, '2w0000000000000005', '2x000000000000000501w00000000000000000000000000000000000', '2t00000000000000x501w00000000000000000000000000000000000',
    '2t000000000000000509w00000000000000000000000000000000000', '2t000000000000000501w000000000000000x000000000000000000000', '2t000000000000000501w000000000000000000000000000000000x0', '2t000000000000000501w0000000000000000000000000000000000']) {
    assert.is(decodeRecord(Buffer.from(bad)), undefined, JSON.stringify(bad))
  }
})

test.run()
