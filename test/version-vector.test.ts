/**
 * Version vector laws on seeded random vectors, checked against a reference
 * model (origin → counter maps, absent = 0). A failure prints its seed and
 * the command that replays it: SEED=n ./node_modules/.bin/node test/version-vector.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as prng from 'lib0/prng'
import {
  EMPTY_VECTOR, Order, compareVectors, mergeVectors, vectorExceeds, vectorGet, vectorToString, vectorWith, vectorWithout, vectorsEqual,
  type OrderValue, type VersionVector,
} from '../lib/core/version-vector.ts'

const SEED = Number(process.env.SEED ?? 0x5eed)
const RUNS = Number(process.env.RUNS ?? 3000)
const REPLAY = `SEED=${SEED} ./node_modules/.bin/node test/version-vector.test.ts`
/** Few origins and small counters, so equal, dominated and concurrent pairs are all common. */
const ORIGINS = ['a~1', 'a~2', 'b~1', 'c~1', 'n10~x', 'n2~x', 'Z~0']

function randomVector (gen: prng.PRNG): VersionVector {
  const m = new Map<string, number>()
  for (const o of ORIGINS) if (prng.real53(gen) < 0.45) m.set(o, prng.int32(gen, 1, 4))
  return fromMap(m)
}

function fromMap (m: Map<string, number>): VersionVector {
  return [...m].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).flat()
}

function toMap (vv: VersionVector): Map<string, number> {
  const m = new Map<string, number>()
  for (let i = 0; i < vv.length; i += 2) m.set(vv[i] as string, vv[i + 1] as number)
  return m
}

/** The reference order: pointwise ≤ in both directions. */
function refCompare (a: VersionVector, b: VersionVector): OrderValue {
  const ma = toMap(a)
  const mb = toMap(b)
  let aAhead = false
  let bAhead = false
  for (const o of new Set([...ma.keys(), ...mb.keys()])) {
    const x = ma.get(o) ?? 0
    const y = mb.get(o) ?? 0
    if (x > y) aAhead = true
    if (y > x) bAhead = true
  }
  return aAhead && bAhead ? Order.CONCURRENT : aAhead ? Order.AFTER : bAhead ? Order.BEFORE : Order.EQUAL
}

function refMerge (a: VersionVector, b: VersionVector): VersionVector {
  const m = toMap(a)
  for (const [o, c] of toMap(b)) m.set(o, Math.max(m.get(o) ?? 0, c))
  return fromMap(m)
}

function flip (o: OrderValue): OrderValue {
  return o === Order.BEFORE ? Order.AFTER : o === Order.AFTER ? Order.BEFORE : o
}

function assertCanonical (vv: VersionVector, label: string): void {
  assert.ok(vv.length % 2 === 0, `${label}: odd length`)
  for (let i = 0; i < vv.length; i += 2) {
    assert.type(vv[i], 'string', label)
    assert.ok(Number.isSafeInteger(vv[i + 1]) && (vv[i + 1] as number) >= 1, `${label}: counter ${String(vv[i + 1])}`)
    if (i > 0) assert.ok((vv[i - 2] as string) < (vv[i] as string), `${label}: ${vectorToString(vv)} not ascending`)
  }
}

/** Runs `body` RUNS times on one seeded generator; a failure names the seed, the run and the replay command. */
function property (name: string, body: (gen: prng.PRNG, run: number) => void): void {
  test(name, () => {
    const gen = prng.create(SEED)
    for (let run = 0; run < RUNS; run++) {
      try {
        body(gen, run)
      } catch (error) {
        const e = error as Error
        e.message = `${e.message}\n    seed ${SEED}, run ${run}; replay: ${REPLAY}`
        console.error(`version-vector: "${name}" failed with seed ${SEED} (run ${run}); replay: ${REPLAY}`)
        throw e
      }
    }
  })
}

property('compare agrees with the pointwise reference order', (gen) => {
  const a = randomVector(gen)
  const b = randomVector(gen)
  assert.is(compareVectors(a, b), refCompare(a, b), `${vectorToString(a)} vs ${vectorToString(b)}`)
})

property('compare is antisymmetric and reflexive; EQUAL exactly when the vectors are equal', (gen) => {
  const a = randomVector(gen)
  const b = randomVector(gen)
  const ab = compareVectors(a, b)
  assert.is(compareVectors(b, a), flip(ab), `${vectorToString(a)} vs ${vectorToString(b)}`)
  assert.is(compareVectors(a, a), Order.EQUAL)
  assert.is(compareVectors(a, a.slice()), Order.EQUAL)
  assert.is(ab === Order.EQUAL, vectorsEqual(a, b))
})

property('compare is transitive', (gen) => {
  const a = randomVector(gen)
  const b = mergeVectors(a, randomVector(gen))
  const c = mergeVectors(b, randomVector(gen))
  const le = (x: VersionVector, y: VersionVector): boolean => {
    const o = compareVectors(x, y)
    return o === Order.BEFORE || o === Order.EQUAL
  }
  assert.ok(le(a, b) && le(b, c) && le(a, c), `${vectorToString(a)} ≤ ${vectorToString(b)} ≤ ${vectorToString(c)}`)
  const x = randomVector(gen)
  const y = randomVector(gen)
  const z = randomVector(gen)
  if (le(x, y) && le(y, z)) assert.ok(le(x, z), `${vectorToString(x)} ≤ ${vectorToString(y)} ≤ ${vectorToString(z)}`)
})

property('merge is the pointwise maximum, canonical, commutative, associative and idempotent', (gen) => {
  const a = randomVector(gen)
  const b = randomVector(gen)
  const c = randomVector(gen)
  const ab = mergeVectors(a, b)
  assertCanonical(ab, 'merge')
  assert.equal(ab, refMerge(a, b), 'pointwise max')
  assert.equal(mergeVectors(b, a), ab, 'commutative')
  assert.equal(mergeVectors(mergeVectors(a, b), c), mergeVectors(a, mergeVectors(b, c)), 'associative')
  assert.equal(mergeVectors(a, a), a, 'idempotent')
  assert.equal(mergeVectors(a, EMPTY_VECTOR), a, 'empty is the identity')
  assert.equal(mergeVectors(ab, b), ab, 'absorbs what it merged')
})

property('merge dominates both inputs, and equals one of them exactly when that one dominates', (gen) => {
  const a = randomVector(gen)
  const b = randomVector(gen)
  const m = mergeVectors(a, b)
  for (const x of [a, b]) {
    const o = compareVectors(m, x)
    assert.ok(o === Order.AFTER || o === Order.EQUAL, `merge ${vectorToString(m)} vs ${vectorToString(x)}: ${o}`)
  }
  const ab = compareVectors(a, b)
  assert.is(vectorsEqual(m, a), ab === Order.AFTER || ab === Order.EQUAL)
  assert.is(ab === Order.CONCURRENT, !vectorsEqual(m, a) && !vectorsEqual(m, b))
})

property('merge does not modify its inputs', (gen) => {
  const a = randomVector(gen)
  const b = randomVector(gen)
  const a0 = a.slice()
  const b0 = b.slice()
  mergeVectors(a, b)
  compareVectors(a, b)
  assert.equal([a, b], [a0, b0])
})

property('vectorWith raises one entry, keeps the rest, stays canonical and never goes back', (gen) => {
  const a = randomVector(gen)
  const origin = prng.oneOf(gen, ORIGINS)
  const counter = prng.int32(gen, 1, 6)
  const w = vectorWith(a, origin, counter)
  assertCanonical(w, 'vectorWith')
  const expected = toMap(a)
  expected.set(origin, Math.max(expected.get(origin) ?? 0, counter))
  assert.equal(w, fromMap(expected))
  assert.is(vectorGet(w, origin), Math.max(vectorGet(a, origin), counter))
  const o = compareVectors(w, a)
  assert.ok(o === Order.AFTER || o === Order.EQUAL)
})

property('vectorWithout drops exactly the covered entries except keep\'s, stays canonical, and allocates nothing when none goes', (gen) => {
  const a = randomVector(gen)
  const forgotten = toMap(randomVector(gen))
  const keep = prng.oneOf(gen, ORIGINS)
  const w = vectorWithout(a, forgotten, keep)
  assertCanonical(w, 'vectorWithout')
  const expected = [...toMap(a)].filter(([o, c]) => o === keep || c > (forgotten.get(o) ?? 0))
  assert.equal(w, fromMap(new Map(expected)), `${vectorToString(a)} without ${JSON.stringify([...forgotten])} keeping ${keep}`)
  if (expected.length * 2 === a.length) assert.ok(w === a, 'the same array when nothing is dropped')
})

property('vectorExceeds is "some entry above the state vector"', (gen) => {
  const a = randomVector(gen)
  const sv = toMap(randomVector(gen))
  if (prng.bool(gen)) sv.set(prng.oneOf(gen, ORIGINS), 0)
  const expected = [...toMap(a)].some(([o, c]) => c > (sv.get(o) ?? 0))
  assert.is(vectorExceeds(a, sv), expected, `${vectorToString(a)} vs ${JSON.stringify([...sv])}`)
})

test('fixed cases: empty vectors, absent entries, concurrent writers', () => {
  assert.is(compareVectors([], []), Order.EQUAL)
  assert.is(compareVectors(['a', 1], []), Order.AFTER)
  assert.is(compareVectors([], ['a', 1]), Order.BEFORE)
  assert.is(compareVectors(['a', 2, 'b', 1], ['a', 1, 'b', 2]), Order.CONCURRENT)
  assert.is(compareVectors(['a', 1], ['b', 1]), Order.CONCURRENT)
  assert.is(compareVectors(['a', 1, 'b', 1], ['b', 1]), Order.AFTER)
  assert.equal(mergeVectors(['a', 2, 'c', 1], ['b', 5, 'c', 3]), ['a', 2, 'b', 5, 'c', 3])
  assert.is(vectorGet(['a', 2], 'b'), 0)
  assert.equal(vectorWith([], 'b', 1), ['b', 1])
  assert.equal(vectorWith(['a', 1, 'c', 1], 'b', 4), ['a', 1, 'b', 4, 'c', 1])
  assert.equal(vectorWith(['a', 5], 'a', 3), ['a', 5], 'a counter never goes back')
  assert.is(vectorToString(['a', 1, 'b', 2]), '{a:1,b:2}')
  assert.ok(Object.isFrozen(EMPTY_VECTOR))
})

test.run()
