/** The read guard and the fill's version (lib/tiers/link.ts) against a stub tier (a unit test; l2-cache.test.ts runs them on Redis). */
import { createHash } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { TierLink } from '../../lib/tiers/link.ts'
import { NO_STATE, noTier, type TierHit } from '../../lib/tiers/tier.ts'
import type { VersionVector } from '../../lib/core/version-vector.ts'

type State = { hlc: number, writer: string, removed: boolean, vv: VersionVector }
const s = (hlc: number, writer: string, vv: VersionVector = [writer, 1], removed = false): State => ({ hlc, writer, removed, vv })

function link (hit: TierHit<string>, states: Record<string, State>, floor = 0) {
  const writes: unknown[][] = []
  const tier = { ...noTier, read: async () => hit, write: (...args: unknown[]) => { writes.push(args) } }
  return { writes, l: new TierLink<string>(tier, { state: (k) => states[k], now: () => 7, floor: () => floor }) }
}

/** The state a copy carries: what its writer (or loader) knew of `key` and `bases`, as the link digests it. */
function knownAt (states: Record<string, State>, key: string, bases?: string[]): string {
  return link(hit(0), states).l.begin(key, bases).state
}

function hit (hlc: number, state = NO_STATE, source: 'write' | 'fill' = 'write', bases?: string[]): TierHit<string> {
  return { value: 'v', hlc, writer: 'w', state, source, bases, expiresAt: 1e13 }
}

test('a copy is served where its key and bases are known as its writer knew them', async () => {
  const written = { k: s(10, 'w') }
  assert.ok(await link(hit(10, knownAt(written, 'k')), written).l.read('k', undefined), 'the same write')
  assert.ok(await link(hit(0, knownAt({}, 'k'), 'fill'), {}).l.read('k', undefined), 'a fill of a key no one wrote, read where no one did')
  const based = { k: s(10, 'w'), b: s(4, 'x') }
  assert.ok(await link(hit(10, knownAt(based, 'k', ['b']), 'write', ['b']), based).l.read('k', ['b']), 'with its base')
})

test('a copy is refused when its key or a base is known otherwise here, or a clear is newer', async () => {
  const written = { k: s(10, 'w') }
  const state = knownAt(written, 'k')
  const refused = async (states: Record<string, State>, why: string, h = hit(10, state)): Promise<void> => {
    assert.is(await link(h, states).l.read('k', undefined), undefined, why)
  }
  await refused({ k: s(11, 'x') }, 'a newer write')
  // Concurrent writes merged: the higher (hlc, writer) stays, the vector grows, and in
  // invalidate mode no instance holds either value (the database kept one of them).
  await refused({ k: s(10, 'w', ['v', 1, 'w', 1]) }, 'the same write, merged with a concurrent one')
  await refused({}, 'nothing known of the key here (a fresh instance before anti-entropy)')
  await refused({ k: s(9, 'v') }, 'an older write known here')
  const based = { k: s(10, 'w'), b: s(8, 'x') }
  const withBase = hit(10, knownAt(based, 'k', ['b']), 'fill', ['b'])
  await refused({ k: s(10, 'w'), b: s(9, 'y') }, 'a base changed by a writer whose clock is behind the copy\'s HLC', withBase)
  assert.is(await link(hit(10, state), { ...written, c: s(11, 'x', ['x', 1], true) }).l.read('k', ['c']), undefined, 'a newer base the caller names')
  assert.is(await link(hit(10, state), written, 11).l.read('k', undefined), undefined, 'older than the clear horizon')
  const { l, writes } = link(hit(10, state), { k: s(12, 'x', ['x', 1], true) })
  await l.read('k', undefined)
  assert.equal(writes, [['k', undefined, 0, 12, 'x', undefined, NO_STATE]], 'a known delete is written again, with its own version')
  assert.is(l.stats().noneRefused, 1)
})

test('a write carries the states as they were at the write, though the tier digests them later', () => {
  const states: Record<string, State> = { k: s(10, 'w') }
  const writes: unknown[][] = []
  const tier = { ...noTier, write: (...args: unknown[]) => { writes.push(args) } }
  const l = new TierLink<string>(tier, { state: (k) => states[k], now: () => 7, floor: () => 0 })
  const atWrite = knownAt(states, 'k')
  l.written('k', 'v', 1000, 10, 'w', ['w', 1], undefined)
  states.k = s(10, 'w', ['v', 1, 'w', 1]) // a concurrent write merged before the tier sends ours
  const state = writes[0]?.[6] as () => string
  assert.type(state, 'function')
  assert.is(state(), atWrite)
})

test('a load\'s fill carries the newest write known of its key, its bases and the clear horizon, and their states', () => {
  const states = { k: s(5, 'w'), b: s(9, 'w', ['w', 2], true) }
  const { l } = link(hit(0), states, 3)
  assert.equal(l.begin('k', undefined), { hlc: 5, at: 7, state: knownAt(states, 'k') })
  assert.equal(l.begin('k', ['b']).hlc, 9)
  assert.equal(l.begin('unknown', undefined).hlc, 3)
  assert.is.not(l.begin('k', ['b']).state, l.begin('k', undefined).state, 'the bases count')
  assert.is.not(knownAt({ k: s(5, 'w', ['v', 1, 'w', 1]) }, 'k'), knownAt(states, 'k'), 'the vector counts')
  assert.match(l.begin('k', undefined).state, /^[0-9a-f]{16}$/)
  // SPEC.md §14.3: the first 16 hex digits of SHA-256 of the JSON array, key first, then each base, null for none.
  const spec = createHash('sha256').update(JSON.stringify([[5, 'w', ['w', 1]], [9, 'w', ['w', 2]], null])).digest('hex').slice(0, 16)
  assert.is(l.begin('k', ['b', 'none']).state, spec)
})

test.run()
