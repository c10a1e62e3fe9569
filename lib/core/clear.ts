/**
 * The namespace clear (SPEC §4.1): `cache.clear()` writes an INVALIDATE of
 * the reserved key CLEAR_KEY, which travels, merges and is repaired like any
 * record. What it means is kept here as one number, the clear horizon: the
 * largest HLC of a clear that won here. A plain maximum, so the order in
 * which clears arrive does not matter (commutative, associative, idempotent).
 */
import { CLEAR_KEY } from '../../protocol/constants.ts'
import type { Store } from './store.ts'

export { CLEAR_KEY }

export class ClearHorizon {
  #at = 0

  /** The HLC of the latest clear applied here; 0 for none. */
  get at (): number {
    return this.#at
  }

  /** A clear record stamped `hlc` won here; returns whether the horizon moved (then the caller sweeps). */
  raise (hlc: number): boolean {
    if (hlc <= this.#at) return false
    this.#at = hlc
    return true
  }

  /** Whether a write stamped `hlc` was made before the latest clear: its value must not be held. One comparison. */
  covers (hlc: number): boolean {
    return hlc < this.#at
  }
}

/**
 * Hands `drop` every key whose value was written before `hlc`, and every
 * loaded one (no replicated write stands for it); local-only values stay (no
 * remote message touches them, SPEC §4 rule 2). Returns how many went.
 */
export function valuesBefore<V extends {}> (store: Store<V>, hlc: number, drop: (key: string) => void): number {
  const table = store.table
  let dropped = 0
  for (const key of [...store.lru.keys()]) {
    if (store.isLocal(key)) continue
    const slot = store.meta.get(key)
    // A loaded value goes whatever its state's time: no write of it stands behind the value (SPEC §4.1).
    if (slot !== undefined && !table.loaded(slot) && table.hlc(slot) >= hlc) continue
    drop(key)
    dropped++
  }
  return dropped
}
