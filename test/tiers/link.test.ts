/** The read guard and the fill's version (lib/tiers/link.ts) against a stub tier (a unit test; l2-cache.test.ts runs them on Redis). */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { TierLink } from '../../lib/tiers/link.ts'
import { noTier, type TierHit } from '../../lib/tiers/tier.ts'

function link (hit: TierHit<string>, states: Record<string, { hlc: number, writer: string, removed: boolean }>, floor = 0) {
  const writes: unknown[][] = []
  const tier = { ...noTier, read: async () => hit, write: (...args: unknown[]) => { writes.push(args) } }
  return { writes, l: new TierLink<string>(tier, { state: (k) => states[k], now: () => 7, floor: () => floor }) }
}
const hit = (hlc: number, source: 'write' | 'fill' = 'write', bases?: string[]): TierHit<string> => ({ value: 'v', hlc, writer: 'w', source, bases, expiresAt: 1e13 })

test('a copy is refused when a newer write of its key, of its bases, or a clear is known', async () => {
  assert.ok(await link(hit(10), {}).l.read('k', undefined))
  assert.ok(await link(hit(10), { k: { hlc: 10, writer: 'w', removed: false } }).l.read('k', undefined), 'the same write')
  assert.is(await link(hit(10), { k: { hlc: 11, writer: 'x', removed: false } }).l.read('k', undefined), undefined)
  assert.is(await link(hit(10), { k: { hlc: 10, writer: 'x', removed: false } }).l.read('k', undefined), undefined, 'tie: the larger writer wins')
  assert.is(await link(hit(10, 'fill', ['b']), { b: { hlc: 11, writer: 'x', removed: true } }).l.read('k', undefined), undefined, 'a base of the copy')
  assert.is(await link(hit(10), { c: { hlc: 11, writer: 'x', removed: true } }).l.read('k', ['c']), undefined, 'a base the caller names')
  assert.is(await link(hit(10), {}, 11).l.read('k', undefined), undefined, 'older than the clear horizon')
  const { l, writes } = link(hit(10), { k: { hlc: 12, writer: 'x', removed: true } })
  await l.read('k', undefined)
  assert.equal(writes, [['k', undefined, 0, 12, 'x', undefined]], 'a known delete is written again, with its own version')
  assert.is(l.stats().noneRefused, 1)
})

test('a load\'s fill carries the newest write known of its key, its bases and the clear horizon', () => {
  const { l } = link(hit(0), { k: { hlc: 5, writer: 'w', removed: false }, b: { hlc: 9, writer: 'w', removed: true } }, 3)
  assert.equal(l.begin('k', undefined), { hlc: 5, at: 7 })
  assert.equal(l.begin('k', ['b']), { hlc: 9, at: 7 })
  assert.equal(l.begin('unknown', undefined), { hlc: 3, at: 7 })
})

test.run()
