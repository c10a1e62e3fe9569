/**
 * A replica's garbage collection (SPEC §7), run every `gcInterval`: expired
 * values and tombstones older than the horizon leave the store, origins gone
 * silent retire, and retired origins' vector entries are forgotten.
 */
import type { ResolvedOptions } from '../options.ts'
import type { SequenceTracker } from './sequence-tracker.ts'
import type { Store } from './store.ts'

/**
 * Drops expired values, tombstones older than the horizon, and origins gone silent that are not in `live`.
 * `chunk`: the tombstones looked at per event-loop turn, the rest in later turns (Store.collect); all at once by default.
 */
export function collectGarbage<V extends {}> (store: Store<V>, tracker: SequenceTracker, options: Pick<ResolvedOptions<V>, 'now' | 'horizon' | 'gcInterval'>, live: ReadonlySet<string>, chunk = Infinity): void {
  store.collect(options.horizon, chunk)
  const now = options.now()
  tracker.forgetSilent(now - options.horizon, live, now)
  if (tracker.retired.size === 0 && tracker.forgotten.size === 0) return
  const named = forgetRetired(store, tracker.forgotten)
  // Forgotten entries no longer count toward what an answer may owe (EntryTable.nothingBeyond).
  store.table.recountHighest((visit) => { store.meta.forEachSlot(visit) })
  tracker.retainRetired(named)
  // Every peer forgets an origin within about two horizons of us (SPEC §7).
  tracker.retainForgotten(named, now - 2 * options.horizon - options.gcInterval)
}

/**
 * Drops the vector entries of `forgotten` origins from every key (SPEC §7: a
 * retired origin's writes are older than the horizon, so its entries order
 * nothing that is still alive anywhere) and returns every origin some
 * vector still names. One pass over the metadata, run only while some
 * origin is retired or forgotten.
 */
function forgetRetired<V extends {}> (store: Store<V>, forgotten: ReadonlyMap<string, number>): Set<string> {
  const named = new Set<string>()
  const table = store.table
  store.meta.forEachSlot((e) => { // by slot: nothing allocated per key (see records-beyond.ts)
    // A one-origin vector is kept inline (EntryTable): its origin is the writer, no array to build.
    if (table.vectorSize(e) === 1) {
      named.add(table.writer(e))
      return
    }
    table.forget(e, forgotten)
    const vv = table.vv(e)
    for (let i = 0; i < vv.length; i += 2) named.add(vv[i] as string)
  })
  return named
}
