/** §4 of issue 19: gaps and repairs reach the `logger` option (pino-shaped: obj, then msg). */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { MeshCache } from '../../lib/index.ts'
import { cluster } from '../helpers/cluster.ts'
import { toComponentLogger, type MeshLogger } from '../../lib/observe/logger.ts'

type Line = { level: string, obj: Record<string, unknown>, msg: string }
function recorder (): { lines: Line[], logger: Record<'trace' | 'debug' | 'info' | 'warn' | 'error', (obj?: object | string, msg?: string) => void> } {
  const lines: Line[] = []
  const at = (level: string) => (obj?: object | string, msg?: string) => {
    if (typeof obj === 'string' || obj === undefined) lines.push({ level, obj: {}, msg: obj ?? '' })
    else lines.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? '' })
  }
  return { lines, logger: { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } }
}

test('a lost update shows as a gap, then a repair, in the injected logger', async () => {
  const { lines, logger } = recorder()
  const c = await cluster<string>(2, { mode: 'replicate', logger })
  try {
    const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
    await c.net.flush()
    c.net.setFaults({ dropRate: 1 }) // the frame is lost, the connection stays (no reconnection sync)
    a.set('k1', 'lost')
    await c.net.flush()
    c.net.setFaults({ dropRate: 0 })
    a.set('k2', 'next') // its frame shows b the gap
    await c.net.flush()
    assert.is(b.get('k1'), 'lost', 'repaired')
    const gap = lines.find((l) => l.msg.startsWith('gap in an origin'))
    assert.ok(gap !== undefined, 'the gap is logged')
    assert.is(gap.level, 'info')
    assert.is(gap.obj.origin, a.origin)
    const repair = lines.find((l) => l.msg.startsWith('anti-entropy repaired'))
    assert.ok(repair !== undefined, 'the repair is logged')
    assert.ok((repair.obj.records as number) >= 1)
  } finally {
    await c.close()
  }
})

test('a clear is logged where it is made and where it arrives, with what it dropped', async () => {
  const { lines, logger } = recorder()
  const c = await cluster<string>(2, { mode: 'replicate', logger })
  try {
    const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
    a.set('k1', 'v1')
    a.set('k2', 'v2')
    await c.net.flush()
    a.clear()
    await c.net.flush()
    assert.is(b.get('k1'), undefined)
    const cleared = lines.filter((l) => l.msg === 'namespace cleared')
    assert.is(cleared.length, 2, 'one line on each instance')
    assert.ok(cleared.every((l) => l.level === 'info' && l.obj.dropped === 2), JSON.stringify(cleared))
    assert.equal(cleared.map((l) => l.obj.source).sort(), ['local', 'remote'])
  } finally {
    await c.close()
  }
})

test('the libp2p transport\'s lines arrive formatted: its %p, %a and %e specifiers filled in, not left in the text', () => {
  const lines: Array<{ obj: unknown, msg: string | undefined }> = []
  const keep = (obj: unknown, msg?: string): void => { lines.push({ obj, msg }) }
  const logger: MeshLogger = { trace: keep, debug: keep, info: keep, warn: keep, error: keep }
  const log = toComponentLogger(logger).forComponent('libp2p:tcp')
  const peer = { toString: () => '12D3KooWExample' }
  const address = { toString: () => '/ip4/127.0.0.1/tcp/4001' }
  log('dialing %p on %a', peer, address)
  log.error('dial to %a failed: %e (100%% of %d tries)', address, new Error('refused'), 3)
  log.trace('plain %s', 'text')
  assert.equal(lines.map((l) => l.obj), [{ component: 'libp2p:tcp' }, { component: 'libp2p:tcp' }, { component: 'libp2p:tcp' }])
  assert.is(lines[0]?.msg, 'dialing 12D3KooWExample on /ip4/127.0.0.1/tcp/4001')
  // An error prints with its stack, as libp2p's own %e does in the `debug` logger.
  assert.match(lines[1]?.msg ?? '', /^dial to \/ip4\/127\.0\.0\.1\/tcp\/4001 failed: Error: refused\n\s+at [\s\S]+ \(100% of 3 tries\)$/)
  assert.is(lines[2]?.msg, 'plain text')
})

test.run()
