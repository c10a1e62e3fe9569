/**
 * SPEC.md and the code must agree: every constant row, every limit, every
 * error code, and the worked example frame are checked here (and that the
 * README names every error code).
 */
import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as protocol from '../protocol/index.ts'
import { HLC_LOGICAL_RANGE } from '../lib/core/clock.ts'
import { ErrorCode } from '../lib/errors.ts'
import * as envelope from '../lib/net/libp2p/envelope.ts'
import { ASK_AGAIN_MAX_MS, ASK_AGAIN_MS, GROUP_MS } from '../lib/sync/replication-waits.ts'
import { encodeLoneWrite } from '../lib/net/libp2p/lone-envelope.ts'
import { encodeLone } from '../protocol/lone.ts'

const spec = readFileSync(new URL('../SPEC.md', import.meta.url), 'utf8')

/** Rows `| NAME | value | …` of the markdown tables in a section. */
function rows (heading: string): Array<[string, string]> {
  const start = spec.indexOf(heading)
  assert.ok(start >= 0, `SPEC.md has a section ${heading}`)
  const end = spec.indexOf('\n### ', start + heading.length)
  const section = spec.slice(start, end < 0 ? undefined : end)
  return [...section.matchAll(/^\| ([A-Za-z0-9_.]+) \| ([^|]+) \|/gm)]
    .map((m) => [m[1] as string, (m[2] as string).trim()] as [string, string])
    .filter(([name]) => name !== 'constant' && name !== 'limit' && name !== 'code')
}

const code: Record<string, unknown> = { ...protocol, HLC_LOGICAL_RANGE }

function lookup (path: string): unknown {
  return path.split('.').reduce<any>((o, k) => o?.[k], code)
}

test('every constant in SPEC.md §3.2 is the code\'s constant', () => {
  const found = rows('### 3.2 Constants')
  assert.ok(found.length >= 12)
  for (const [name, value] of found) assert.is(lookup(name), Number(value), `${name} in SPEC.md`)
  // and the other way: every message type and record kind of the code is in the spec
  for (const [k, v] of Object.entries(protocol.MessageType)) assert.ok(found.some(([n, x]) => n === `MessageType.${k}` && Number(x) === v), `MessageType.${k} missing from SPEC.md`)
  for (const [k, v] of Object.entries(protocol.RecordKind)) assert.ok(found.some(([n, x]) => n === `RecordKind.${k}` && Number(x) === v), `RecordKind.${k} missing from SPEC.md`)
})

test('every decoding limit in SPEC.md §3.3 is the code\'s default', () => {
  const found = rows('### 3.3 Decoding limits')
  assert.is(found.length, Object.keys(protocol.DEFAULT_LIMITS).length)
  for (const [name, value] of found) assert.is(lookup(name), Number(value), `${name} in SPEC.md`)
})

test('the error codes in SPEC.md §3.4 exist in the code', () => {
  const codes = [...spec.matchAll(/^\| (E_[A-Z_]+) \|/gm)].map((m) => m[1])
  assert.ok(codes.length >= 6)
  for (const c of codes) assert.ok(Object.values(ErrorCode).includes(c as never), `${c} is not an ErrorCode`)
})

test('the README names every error code the code raises (E_FRAME_* as one)', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  for (const c of Object.values(ErrorCode)) {
    const named = c.startsWith('E_FRAME_') ? '`E_FRAME_*`' : `\`${c}\``
    assert.ok(readme.includes(named), `README.md does not name ${c}`)
  }
})

test('SPEC.md §4.1 names the reserved clear key the code uses', () => {
  const named = /`CLEAR_KEY` =\n?\s*`"(.+?)"`/.exec(spec)?.[1]
  assert.ok(named, 'SPEC.md gives CLEAR_KEY')
  assert.is(JSON.parse(`"${named}"`), protocol.CLEAR_KEY)
})

test('the grammar names every message type', () => {
  for (const name of Object.keys(protocol.MessageType)) assert.match(spec, new RegExp(`\\(type ${name}\\)`))
})

test('the example frame of §3.6 decodes to what the spec says', () => {
  const hex = /### 3\.6 Example[\s\S]*?```\n([0-9a-f ]+)\n```/.exec(spec)?.[1]
  assert.ok(hex, 'SPEC.md §3.6 has a hex frame')
  const bytes = Uint8Array.from(hex.trim().split(/\s+/).map((b) => parseInt(b, 16)))
  const msg = protocol.decodeFrame(bytes)
  assert.equal(msg, {
    type: protocol.MessageType.UPDATES,
    origin: 'a~1',
    firstSeq: 1,
    records: [{ key: 'k', kind: protocol.RecordKind.SET, hlc: 1700000000000000, writer: 'a~1', vv: ['a~1', 1] }],
  })
  assert.equal(protocol.encodeFrame(msg), bytes, 'and encodes back to the same bytes')
})

test('every envelope type of the libp2p transport is in SPEC.md §11\'s grammar, with its number', () => {
  const types = Object.entries(envelope).filter(([name]) => name.startsWith('MSG_'))
  assert.ok(types.length >= 7)
  for (const [name, value] of types) {
    const line = new RegExp(`^${name.slice(4)}\\(${value as number}\\) *:=`, 'm')
    assert.match(spec, line, `${name} = ${value as number} in SPEC.md's envelope grammar`)
  }
})

test('SPEC.md §5.1 gives whenReplicated\'s waves and asking again the code\'s figures', () => {
  const section = spec.slice(spec.indexOf('### 5.1 '), spec.indexOf('\n## 6. '))
  assert.match(section, new RegExp(`GROUP_MS = ${GROUP_MS} ms`))
  assert.match(section, new RegExp(`${ASK_AGAIN_MS / 1000} s after the first request \\(ASK_AGAIN_MS\\), then every ${ASK_AGAIN_MAX_MS / 1000} s \\(ASK_AGAIN_MAX_MS`))
})

test('SPEC.md §11\'s lone-write sizes are the encoders\': the frame, its DATA envelope, and LONE', () => {
  const origin = 'a1b2c3d4~0123456789ab' // a cache's origin id: 8 + 1 + 12 characters
  const seq = 12_345
  const hlc = Date.now() * HLC_LOGICAL_RANGE
  const frame = encodeLone(origin, seq, { key: 'user:12345', kind: protocol.RecordKind.INVALIDATE, hlc, writer: origin, vv: [origin, seq] })
  const data = (envelope.encodeFrame(1, frame)[0] as Uint8Array).length
  const lone = encodeLoneWrite(1, seq, 'user:12345', protocol.RecordKind.INVALIDATE, hlc).length
  assert.ok(spec.includes(`${frame.length} bytes for \`user:12345\` from a cache's 21-character origin id`), `the frame: ${frame.length} bytes`)
  assert.ok(spec.includes(`${lone} bytes for that write with its envelope where DATA carried ${data}`), `LONE ${lone}, DATA ${data}`)
})

test.run()
