/**
 * One slot of the entry table seen as a state of the merge rule (merge.ts's
 * MergeState and MergedState), reading its columns on demand. The table keeps
 * one and re-points it (`EntryTable.at`), so a merge allocates nothing.
 */
import type { RecordKindValue } from '../../protocol/constants.ts'
import type { EntryTable, Slot } from './entry.ts'
import type { MergedState, MergeState } from './merge.ts'
import type { OrderValue, VersionVector } from './version-vector.ts'

/** A slot seen as one state (MergeState, MergedState): `EntryTable.at`, or its own for tests. */
export class SlotState implements MergeState, MergedState {
  readonly table: EntryTable
  slot: Slot

  constructor (table: EntryTable, slot: Slot) {
    this.table = table
    this.slot = slot
  }

  get hlc (): number { return this.table.hlc(this.slot) }
  get writer (): string { return this.table.writer(this.slot) }
  get kind (): RecordKindValue { return this.table.kind(this.slot) }
  get vv (): VersionVector { return this.table.vv(this.slot) }
  get expiresAt (): number { return this.table.expiresAt(this.slot) }
  compare (vv: VersionVector): OrderValue { return this.table.compare(this.slot, vv) }
}
