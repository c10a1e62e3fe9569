/**
 * The merge rule (lib/core/merge.ts, SPEC §4), exhaustively over small
 * histories: every causal history of up to 3 writes by 3 origins and up to
 * 4 writes by 2 origins (each write made after seeing any subset of the
 * earlier ones, its HLC one or two ticks past what it saw, so equal HLCs of
 * concurrent writes occur and the writer id breaks the tie), delivered in
 * every order, then every record delivered again. Each step's outcome is
 * checked against a reference model (origin → counter maps), and the final
 * state against what SPEC §4 promises: the highest (hlc, writer) write with
 * the join of every vector, whatever the order.
 *
 * The state is a real slot of an EntryTable (its inline one-origin vector
 * included), and each outcome is carried out as the replica does
 * (lib/core/replica.ts #apply).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { RecordKind, type RecordKindValue } from '../protocol/constants.ts'
import type { WireRecord } from '../protocol/record.ts'
import { HLC_LOGICAL_RANGE } from '../lib/core/clock.ts'
import { EntryTable } from '../lib/core/entry.ts'
import { SlotState } from '../lib/core/slot-state.ts'
import { changesState, mergedVector, mergeOutcome, Outcome, recordWins, valueFate, ValueFate, wins, type OutcomeValue } from '../lib/core/merge.ts'
import { vectorToString, type VersionVector } from '../lib/core/version-vector.ts'

const NOW = 1_000_000
const HORIZON = 1_000_000
const KINDS: RecordKindValue[] = [RecordKind.SET, RecordKind.DELETE, RecordKind.INVALIDATE]

type Counters = Map<string, number>

function toVector (m: Counters): VersionVector {
  return [...m].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).flat()
}

function toMap (vv: VersionVector): Counters {
  const m: Counters = new Map()
  for (let i = 0; i < vv.length; i += 2) m.set(vv[i] as string, vv[i + 1] as number)
  return m
}

function join (a: Counters, b: Counters): Counters {
  const m = new Map(a)
  for (const [o, c] of b) m.set(o, Math.max(c, m.get(o) ?? 0))
  return m
}

/** Whether every counter of `a` is ≤ `b`'s. */
function leq (a: Counters, b: Counters): boolean {
  for (const [o, c] of a) if (c > (b.get(o) ?? 0)) return false
  return true
}

/** Every causal history of `writes` writes by `origins` origins, as lists of records. */
function histories (origins: string[], writes: number): WireRecord[][] {
  const out: WireRecord[][] = []
  const extend = (done: WireRecord[], vectors: Counters[]): void => {
    out.push(done)
    if (done.length === writes) return
    const j = done.length
    for (const writer of origins) {
      for (let seen = 0; seen < 2 ** j; seen++) {
        // An origin always knows its own earlier writes.
        let ok = true
        for (let i = 0; i < j; i++) if ((done[i] as WireRecord).writer === writer && (seen & (1 << i)) === 0) ok = false
        if (!ok) continue
        let vv: Counters = new Map()
        let base = 0
        for (let i = 0; i < j; i++) {
          if ((seen & (1 << i)) === 0) continue
          vv = join(vv, vectors[i] as Counters)
          base = Math.max(base, (done[i] as WireRecord).hlc)
        }
        vv.set(writer, (vv.get(writer) ?? 0) + 1)
        for (const tick of [1, 2]) {
          const hlc = base === 0 ? NOW * HLC_LOGICAL_RANGE + tick : base + tick
          const r: WireRecord = { key: 'k', kind: KINDS[j % 3] as RecordKindValue, hlc, writer, vv: toVector(vv) }
          extend([...done, r], [...vectors, vv])
        }
      }
    }
  }
  extend([], [])
  return out.filter((h) => h.length > 0)
}

function permutations<T> (xs: T[]): T[][] {
  if (xs.length <= 1) return [xs]
  const out: T[][] = []
  xs.forEach((x, i) => {
    for (const rest of permutations([...xs.slice(0, i), ...xs.slice(i + 1)])) out.push([x, ...rest])
  })
  return out
}

/** A record's state in a table of its own, as the replica's #apply makes it for a new key. */
function stateOf (r: WireRecord): SlotState {
  const table = new EntryTable()
  return new SlotState(table, table.add(r.kind, r.hlc, r.writer, r.vv, 1000))
}

/** The outcome SPEC §4 prescribes, from the reference model. */
function expected (s: SlotState | undefined, r: WireRecord): OutcomeValue {
  if (s === undefined) return Outcome.NEW
  const mine = toMap(s.vv)
  const theirs = toMap(r.vv)
  if (leq(theirs, mine)) return Outcome.DUPLICATE
  if (leq(mine, theirs)) return Outcome.DOMINATES
  return r.hlc > s.hlc || (r.hlc === s.hlc && r.writer > s.writer) ? Outcome.CONFLICT_WON : Outcome.CONFLICT_LOST
}

/** Carries an outcome out on the entry, as the replica's #apply does. */
function carryOut (s: SlotState | undefined, r: WireRecord, outcome: OutcomeValue): SlotState | undefined {
  if (outcome === Outcome.NEW) return stateOf(r)
  if (s === undefined || !changesState(outcome)) return s
  const merged = mergedVector(outcome, s, r)
  if (recordWins(outcome)) s.table.assign(s.slot, r, 1000)
  s.table.setVv(s.slot, merged)
  return s
}

function deliver (order: WireRecord[], label: string, state?: SlotState): SlotState | undefined {
  for (const r of order) {
    const outcome = mergeOutcome(state, r, NOW, HORIZON)
    const want = expected(state, r)
    if (outcome !== want) {
      assert.unreachable(`${label}: record ${r.writer}@${r.hlc} ${vectorToString(r.vv)} on ${state === undefined ? 'nothing' : vectorToString(state.vv)}: outcome ${outcome}, expected ${want}`)
    }
    state = carryOut(state, r, outcome)
  }
  return state
}

function describe (h: WireRecord[]): string {
  return h.map((r) => `${r.writer}@${r.hlc % 1000}${vectorToString(r.vv)}`).join(' ')
}

function checkHistory (h: WireRecord[]): number {
  let best = h[0] as WireRecord
  let vv: Counters = new Map()
  for (const r of h) {
    if (wins(r.hlc, r.writer, best.hlc, best.writer)) best = r
    vv = join(vv, toMap(r.vv))
  }
  const want = vectorToString(toVector(vv))
  let runs = 0
  for (const order of permutations(h)) {
    const label = `history [${describe(h)}], order [${describe(order)}]`
    const s = deliver(order, label) as SlotState
    assert.is(s.hlc, best.hlc, `${label}: winner hlc`)
    assert.is(s.writer, best.writer, `${label}: winner writer`)
    assert.is(s.kind, best.kind, `${label}: winner kind`)
    assert.is(vectorToString(s.vv), want, `${label}: vector is the join`)
    // Idempotent: every record again, in any order, is a duplicate and changes nothing.
    for (const r of order) assert.is(mergeOutcome(s, r, NOW, HORIZON), Outcome.DUPLICATE, `${label}: redelivery of ${r.writer}@${r.hlc}`)
    runs++
  }
  return runs
}

test('every order of every history of up to 3 writes by 3 origins converges to the winner with the joined vector', () => {
  const all = histories(['a~1', 'b~1', 'c~1'], 3)
  let runs = 0
  for (const h of all) runs += checkHistory(h)
  assert.ok(all.some((h) => h.length === 3 && h.every((r) => r.vv.length === 2)), 'fully concurrent histories were generated')
  assert.is(runs, 6030, 'deliveries: every order of every history')
})

test('every order of every history of up to 4 writes by 2 origins converges likewise', () => {
  const all = histories(['n1~a', 'n2~b'], 4)
  let runs = 0
  for (const h of all) runs += checkHistory(h)
  assert.is(runs, 63_508, 'deliveries: every order of every history')
})

test('equal HLCs of concurrent writes are broken by the writer id, in both directions', () => {
  const hlc = NOW * HLC_LOGICAL_RANGE + 1
  const a: WireRecord = { key: 'k', kind: RecordKind.SET, hlc, writer: 'a~1', vv: ['a~1', 1] }
  const b: WireRecord = { key: 'k', kind: RecordKind.DELETE, hlc, writer: 'b~1', vv: ['b~1', 1] }
  assert.is(mergeOutcome(stateOf(a), b, NOW, HORIZON), Outcome.CONFLICT_WON)
  assert.is(mergeOutcome(stateOf(b), a, NOW, HORIZON), Outcome.CONFLICT_LOST)
  assert.equal(mergedVector(Outcome.CONFLICT_LOST, stateOf(b), a), ['a~1', 1, 'b~1', 1])
})

test('a record older than the horizon is expired, whatever the state', () => {
  const old: WireRecord = { key: 'k', kind: RecordKind.SET, hlc: (NOW - HORIZON - 1) * HLC_LOGICAL_RANGE, writer: 'a~1', vv: ['a~1', 5] }
  assert.is(mergeOutcome(undefined, old, NOW, HORIZON), Outcome.EXPIRED)
  assert.is(mergeOutcome(stateOf({ ...old, vv: ['a~1', 1] }), old, NOW, HORIZON), Outcome.EXPIRED)
  const edge = { ...old, hlc: (NOW - HORIZON) * HLC_LOGICAL_RANGE }
  assert.is(mergeOutcome(undefined, edge, NOW, HORIZON), Outcome.NEW, 'exactly horizon-old still applies')
  assert.not.ok(changesState(Outcome.EXPIRED))
})

test('the value held for a key follows SPEC §4 rule 5 for every outcome, mode and record', () => {
  const outcomes = Object.values(Outcome)
  let checked = 0
  for (const outcome of outcomes) {
    for (const replicate of [false, true]) {
      for (const localOnly of [false, true]) {
        for (const kind of KINDS) {
          for (const hasValue of [false, true]) {
            for (const expiresAt of [NOW - 1, NOW, NOW + 1]) {
              for (const sameWrite of [false, true]) {
                const fate = valueFate(outcome, replicate, localOnly, { kind, expiresAt }, hasValue, NOW, sameWrite)
                let want: number
                if (outcome === Outcome.EXPIRED || outcome === Outcome.DUPLICATE || localOnly) want = ValueFate.UNTOUCHED
                else if (!replicate) want = ValueFate.DROP // invalidate mode: a miss is always correct
                else if (outcome === Outcome.CONFLICT_LOST) want = ValueFate.KEEP
                // The write held here, come back with a longer vector: the same value.
                else if (outcome === Outcome.DOMINATES && sameWrite) want = ValueFate.KEEP
                else want = kind === RecordKind.SET && hasValue && expiresAt > NOW ? ValueFate.REPLACE : ValueFate.DROP
                assert.is(fate, want, `outcome ${outcome}, replicate ${replicate}, local ${localOnly}, kind ${kind}, value ${hasValue}, expiresAt ${expiresAt - NOW}, same write ${sameWrite}`)
                checked++
              }
            }
          }
        }
      }
    }
  }
  assert.is(checked, outcomes.length * 2 * 2 * 3 * 2 * 3 * 2)
})

test.run()
