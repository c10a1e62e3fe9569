/**
 * `libp2p-stream-minimal` (the bound's frames and hand-fused path) with
 * meshcache's own state in place of its Map: lib/core/store.ts, that is the
 * key index off the heap, the entry table's columns, the tombstone queue and
 * the lru-cache of values, the layout that meets the metadata target and
 * keeps the GC out of the p99 at 20,000 writes/s. The path above it stays the
 * bound's: no envelope, routing, generic decoder, sequence tracker class,
 * replica layers or event emitter of meshcache's.
 *
 * Beside `libp2p-stream-minimal` and `meshcache` in one run: whether
 * meshcache's layout, reached by a short path, meets both latency targets of
 * issue 21, and so what a rewrite of the path alone would reach.
 */
import { Store } from '../../../lib/core/store.ts'
import { Order, mergeVectors, type VersionVector } from '../../../lib/core/version-vector.ts'
import { RecordKind } from '../../../protocol/constants.ts'
import { BoundReplica, minimalSystem } from './libp2p-stream-minimal.ts'

/** As the bench's caches: long enough that no tombstone is collected during a run. */
const TTL = 10 * 60_000

/** The bound's path over meshcache's Store (the writer's own origin id made a string once, as meshcache's are). */
export class StoreReplica extends BoundReplica {
  readonly store = new Store<string>({ max: 100_000, now: Date.now, exactClock: false, onEvict: () => {} })
  readonly #names = new Map<number, string>()

  bury (key: string, origin: number, counter: number, hlc: number, source: string): boolean {
    let writer = this.#names.get(origin)
    if (writer === undefined) this.#names.set(origin, writer = `o${origin}`)
    return this.buryAs(key, writer, counter, hlc, source)
  }

  /** `bury` by the writer's origin id (libp2p-stream-minimal-codec.ts reads it from meshcache's frame). */
  buryAs (key: string, writer: string, counter: number, hlc: number, source: string): boolean {
    const store = this.store
    let vv: VersionVector = [writer, counter]
    let slot = store.meta.get(key)
    if (slot === undefined) {
      slot = store.addState(key, RecordKind.INVALIDATE, hlc, writer, vv, TTL)
    } else {
      const order = store.table.compare(slot, vv)
      if (order === Order.BEFORE || order === Order.EQUAL) return false
      if (order === Order.CONCURRENT) {
        vv = mergeVectors(store.table.vv(slot), vv)
        const theirs = store.table.hlc(slot)
        if (hlc < theirs || (hlc === theirs && writer < store.table.writer(slot))) {
          store.table.setVv(slot, vv)
          return true
        }
      }
      store.writeState(key, RecordKind.INVALIDATE, hlc, writer, vv, TTL, slot)
    }
    store.bury(key, slot, source === 'local' ? 'local' : 'remote')
    this.events.emit('change', { key, source })
    return true
  }
}

export const system = minimalSystem('libp2p-stream-minimal-store', 0, () => new StoreReplica())
