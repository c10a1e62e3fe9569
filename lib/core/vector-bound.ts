/**
 * The vector bound (SPEC §4, vector bounds): a key's vector holds at most
 * `max` entries, so every receiver with the same limits accepts every record.
 * Past it a vector is folded (version-vector.ts `foldVector`), and the key's
 * state is marked folded: a folded entry may have been the only trace of a
 * write another instance lacks, so answers send a marked state whatever the
 * requester's state vector (records-beyond.ts), flagged FLAG_FOLDED, and a
 * receiver in invalidate mode does not take it for a mere duplicate: it drops
 * what it holds for the key (`covered`).
 */
import type { WireRecord } from '../../protocol/record.ts'
import type { EntryTable, Slot } from './entry.ts'
import { Outcome, type OutcomeValue } from './merge.ts'
import { compareVectors, foldVector, Order, type VersionVector } from './version-vector.ts'

export class VectorBound {
  /** The most entries a vector may hold: what every receiver accepts, in a record and in a frame's origin table. */
  readonly max: number
  readonly #origin: string
  readonly #members: () => ReadonlySet<string>

  constructor (max: number, origin: string, members: () => ReadonlySet<string>) {
    this.max = max
    this.#origin = origin
    this.#members = members
  }

  /** `vv` within the bound; the live members' entries go last, `writer`'s never. */
  fold (vv: VersionVector, writer: string): VersionVector {
    if (vv.length / 2 <= this.max) return vv
    const live = new Set(this.#members())
    live.add(this.#origin)
    return foldVector(vv, this.max, writer, live)
  }

  /**
   * After record `r` changed `slot`'s state (`outcome`): folds a vector past
   * the bound, or keeps the mark of a folded record whose vector the state
   * now holds, or clears the mark when an unfolded record dominated the
   * state (another replica's whole state, beyond the folded one).
   */
  merged (table: EntryTable, slot: Slot, r: WireRecord, outcome: OutcomeValue): void {
    if (table.vectorSize(slot) > this.max) {
      table.setVv(slot, this.fold(table.vv(slot), table.writer(slot)))
      table.setFolded(slot)
    } else if (r.folded === true) {
      table.setFolded(slot)
    } else if (outcome === Outcome.DOMINATES) {
      table.clearFolded(slot)
    }
  }

  /**
   * A folded record that `slot`'s state covers (a duplicate by the vectors):
   * its sender's fold may have dropped the only entry of a write this
   * instance lacks (a conflict's loser, a delete), so the caller drops what
   * is held here for the key in invalidate mode: the value, a remembered "not
   * found", a load in flight (a miss is always correct). A state
   * equal to it is marked, so this instance's answers pass the warning on.
   */
  covered (table: EntryTable, slot: Slot, r: WireRecord): void {
    if (compareVectors(table.vv(slot), r.vv) === Order.EQUAL) table.setFolded(slot)
  }
}
