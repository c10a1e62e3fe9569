/**
 * Local storage: values in a bare lru-cache (so a read costs exactly one
 * LRU lookup and nothing else), replicated metadata in a Map beside it, a
 * queue of entries that hold no value (tombstones, remote writes in
 * invalidate mode, expired or evicted copies) in the order they lost it,
 * for the GC sweep, and an expiry queue that drops each value at its
 * deadline.
 *
 * Expiry is not checked on reads: lru-cache's own TTL costs two typed-array
 * reads per `get`, which at 100k keys made a hit ~1.5× a bare LRU. Instead a
 * timer (expiry-timer.ts) fires at the soonest deadline and drops every
 * value that is due, so a value is served until the event loop next runs
 * timers after its deadline (as with lru-cache's default `ttlResolution`,
 * whose cached clock is also reset by a timer). With an injected clock there
 * are no timers: reads check `now()` against the soonest deadline, so tests
 * stay exact.
 *
 * Keys written with `local: true` hold a value that is not any entry's:
 * remote records still merge into the key's metadata (so this instance can
 * answer anti-entropy for every number it counts) but never touch that
 * value.
 */
import { LRUCache } from 'lru-cache'
import type { RecordKindValue } from '../../protocol/constants.ts'
import { EntryTable, type Slot } from './entry.ts'
import { ExpiryQueue } from './expiry-queue.ts'
import { ExpiryTimer } from './expiry-timer.ts'
import { DeadStates } from './dead-states.ts'
import { KeyIndex } from './key-index.ts'
import type { Now } from './clock.ts'
import type { VersionVector } from './version-vector.ts'

export type EvictReason = 'remote' | 'local' | 'ttl' | 'capacity' | 'repair'

export interface EvictEvent {
  key: string
  reason: EvictReason
}

export interface StoreOptions {
  max: number
  now: Now
  /** The clock was injected: check deadlines on reads instead of arming timers (see above). */
  exactClock: boolean
  /** Called for every value that leaves the LRU, with why. */
  onEvict: (key: string, reason: EvictReason) => void
}

/**
 * The lifetime of a local-only value (`set` with `local: true`): when it
 * expires, and the deadline under which the expiry queue holds it (0: not
 * queued). Its key may have no state, or lose it to the GC sweep while the
 * value lives, so the queue names it by a number of its own. A written or
 * loaded value's are in its state's slot (EntryTable: `expiresAt`,
 * `queuedAt`, `loaded`).
 */
class Lifetime {
  readonly key: string
  /** Its number in `Store.#lifetimeByNumber`; the expiry queue names it as -number - 1 (a slot is >= 0). */
  readonly number: number
  expiresAt: number
  queuedAt = 0

  constructor (key: string, number: number, expiresAt: number) {
    this.key = key
    this.number = number
    this.expiresAt = expiresAt
  }
}

export class Store<V extends {}> {
  readonly lru: LRUCache<string, V>
  /**
   * Each key's slot in `table`: the map holds a small integer per key, no object (entry.ts says why),
   * split over several Maps so that its growth never rehashes every key in one go (key-map.ts).
   */
  readonly meta = new KeyIndex()
  /** The replicated state of every key in `meta`. */
  readonly table = new EntryTable()
  /** States without a value, oldest death first, and their sweep (dead-states.ts). */
  readonly #dead: DeadStates
  /** The local-only values' lifetimes, by key: its keys are those whose value was set with `local: true`. */
  readonly #lifetimes = new Map<string, Lifetime>()
  /** The same lifetimes by number, what the expiry queue holds of them; numbers of dropped ones are reused. */
  readonly #lifetimeByNumber: Array<Lifetime | undefined> = []
  readonly #freeLifetimeNumbers: number[] = []
  readonly #expiry = new ExpiryQueue()
  readonly #now: Now
  readonly #onEvict: (key: string, reason: EvictReason) => void
  /**
   * Values that left, to report once lru-cache has finished removing them:
   * its `dispose` runs before, and a listener reading or writing the key then
   * would see the old value, or have its write deleted under it. (Its
   * `disposeAfter` is not flushed after a capacity eviction when
   * `noDisposeOnSet` is on.)
   */
  readonly #left: Array<[string, EvictReason]> = []
  /** Set while this module deletes a value itself, so dispose knows the reason. */
  #deleting: EvictReason | undefined
  /** Drops values at their deadline (none with an injected clock). */
  readonly #timer: ExpiryTimer
  /** Set by `close`: a chunked walk of the store stops. */
  #closed = false

  constructor (options: StoreOptions) {
    this.#now = options.now
    this.#dead = new DeadStates(this.meta, this.table, options.now, (horizon, chunk) => { this.collect(horizon, chunk) })
    this.#onEvict = options.onEvict
    this.#timer = new ExpiryTimer(!options.exactClock, options.now, () => this.expireDue())
    this.lru = new LRUCache<string, V>({
      max: options.max,
      dispose: (_value, key, reason) => this.#disposed(key, reason),
      // Replacing a value is not a disposal here, and this spares lru-cache a
      // look at the old value on every overwrite.
      noDisposeOnSet: true,
    })
  }

  /** Items in the expiry queue, stale hints included (bounded: see #compactIfStale). */
  get queuedDeadlines (): number {
    return this.#expiry.size
  }

  /** The soonest deadline of a held value (Infinity for none); reads compare an injected clock with it. */
  get nextExpiry (): number {
    return this.#expiry.next
  }

  /** Stores the value written by the state in `slot` (a local set or a remote record); it expires at that state's `expiresAt`. */
  setWritten (key: string, value: V, slot: Slot): void {
    this.lru.set(key, value)
    if (this.#lifetimes.size !== 0) this.#dropLifetime(key)
    this.#revive(slot)
    this.table.setLoaded(slot, false)
    this.#scheduleWritten(slot)
    if (this.#left.length !== 0) this.#reportLeft()
  }

  /**
   * Stores a loaded value until `expiresAt`, hanging on the key's state in `slot`: any newer record drops it.
   * Its deadline is the slot's (`queuedAt`, with the LOADED flag), not an object of its own: most values of an
   * invalidate-mode cache are loaded ones.
   */
  setLoaded (key: string, value: V, expiresAt: number, slot: Slot): void {
    this.lru.set(key, value)
    if (this.#lifetimes.size !== 0) this.#dropLifetime(key)
    this.#revive(slot)
    const table = this.table
    table.setLoaded(slot, true)
    // Pushed again whenever the deadline moves: the item under the old one goes stale.
    if (table.queuedAt(slot) !== expiresAt) {
      table.setQueuedAt(slot, expiresAt)
      this.#enqueue(slot, expiresAt)
    }
    if (this.#left.length !== 0) this.#reportLeft()
  }

  /**
   * Stores a local-only value until `expiresAt`. The key's entry, if any,
   * stays as its replicated state without a value.
   */
  setLocal (key: string, value: V, expiresAt: number): void {
    this.lru.set(key, value)
    const slot = this.meta.get(key)
    if (slot !== undefined) this.markDead(slot)
    this.#setLifetime(key, expiresAt)
    if (this.#left.length !== 0) this.#reportLeft()
  }

  /** Whether the value of `key` was set with `local: true` (one size check when no key was). */
  isLocal (key: string): boolean {
    return this.#lifetimes.size !== 0 && this.#lifetimes.has(key)
  }

  /** The value the state in `slot` wrote, if this store holds it (not a loaded or local-only value in its place). */
  writtenValue (key: string, slot: Slot): V | undefined {
    // a local-only value leaves its key's state without one (setLocal)
    if (!this.table.hasValue(slot) || this.table.loaded(slot)) return undefined
    return this.lru.peek(key)
  }

  /** With an injected clock, reads call this: it drops what is due by `now()`, so a read never serves an expired value. */
  expireIfDue (): void {
    const now = this.#now()
    if (now >= this.#expiry.next) this.expireDue(now)
  }

  /** Drops every value whose deadline has passed; returns how many went. */
  expireDue (now = this.#now()): number {
    const queue = this.#expiry
    const table = this.table
    let n = 0
    while (queue.next <= now) {
      const at = queue.next
      const ref = queue.pop() as number
      if (this.#queuedAtOf(ref) !== at) continue // a stale hint
      // The value was written again since: wait for its new deadline.
      let key: string
      if (ref < 0) {
        const life = this.#lifetimeByNumber[-ref - 1] as Lifetime
        if (life.expiresAt > now) {
          queue.push(life.queuedAt = life.expiresAt, ref)
          continue
        }
        key = life.key
      } else if (table.loaded(ref)) {
        key = this.meta.keyOf(ref) // a loaded value's deadline is the one it was queued under
      } else {
        const expiresAt = table.expiresAt(ref)
        if (expiresAt > now) {
          table.setQueuedAt(ref, expiresAt)
          queue.push(expiresAt, ref)
          continue
        }
        key = this.meta.keyOf(ref)
      }
      if (this.dropValue(key, 'ttl')) n++
    }
    this.#timer.arm(queue.next)
    return n
  }

  /** Whether `close` was called (a chunked walk of the store stops). */
  get closed (): boolean {
    return this.#closed
  }

  /** Stops the expiry timer, and a chunked sweep still going. */
  close (): void {
    this.#closed = true
    this.#dead.close()
    this.#timer.close()
  }

  /** Drops the value of `key`, if any; returns whether there was one. */
  dropValue (key: string, reason: EvictReason): boolean {
    if (!this.lru.has(key)) return false
    this.#deleting = reason
    this.lru.delete(key)
    this.#deleting = undefined
    this.#reportLeft()
    return true
  }

  /**
   * Drops the value of `key`, if one may be held, and queues its state
   * (`slot`) as dead. Returns whether a value was held. `mayHoldValue: false`
   * skips the LRU when the caller knows nothing is there.
   */
  bury (key: string, slot: Slot, reason: EvictReason, mayHoldValue = true): boolean {
    // Dropping a held value marks the state dead on the way (dispose).
    const had = mayHoldValue && this.dropValue(key, reason)
    if (!had) this.markDead(slot)
    return had
  }

  /** Records the state in `slot` as holding no value (queued for the GC sweep). */
  markDead (slot: Slot): void {
    this.table.setHasValue(slot, false)
    this.#dead.add(slot)
  }

  /** How many entries hold no value (tombstones included). */
  get tombstones (): number {
    return this.#dead.size
  }

  /** A new key's state (no value held, in no queue); returns its slot. */
  addState (key: string, kind: RecordKindValue, hlc: number, writer: string, vv: VersionVector, ttl: number): Slot {
    const slot = this.table.add(kind, hlc, writer, vv, ttl)
    this.meta.set(key, slot)
    return slot
  }

  /**
   * A local write's state for `key`, in the key's slot if it has one. The
   * state holds no value until the caller stores one, and a key already in
   * the GC queue keeps its place and death time: the queue stays ordered by
   * death, and collect() still waits until the newer write itself is past
   * the horizon before dropping it. `slot`: the key's, when the caller has
   * already looked it up (undefined: it has none).
   */
  writeState (key: string, kind: RecordKindValue, hlc: number, writer: string, vv: VersionVector, ttl: number, slot = this.meta.get(key)): Slot {
    if (slot === undefined) return this.addState(key, kind, hlc, writer, vv, ttl)
    this.table.rewrite(slot, kind, hlc, writer, vv, ttl)
    return slot
  }

  /** Drops `key`'s state (and its place in the GC queue); returns whether it had one. Its slot is reused. */
  forget (key: string): boolean {
    const slot = this.meta.get(key)
    if (slot === undefined) return false
    this.meta.deleteSlot(slot)
    this.#dead.forget(slot)
    this.table.free(slot)
    return true
  }

  /**
   * Drops dead entries older than `horizon`, after the values due (the
   * sweep's rule and its chunks: dead-states.ts). Returns how many went in
   * this call; with `chunk`, the rest follows in later event-loop turns.
   */
  collect (horizon: number, chunk = Infinity): number {
    this.expireDue()
    return this.#dead.sweep(horizon, chunk)
  }

  #setLifetime (key: string, expiresAt: number): void {
    let life = this.#lifetimes.get(key)
    if (life === undefined) {
      const number = this.#freeLifetimeNumbers.pop() ?? this.#lifetimeByNumber.length
      this.#lifetimes.set(key, life = new Lifetime(key, number, expiresAt))
      this.#lifetimeByNumber[number] = life
    } else life.expiresAt = expiresAt
    // Makes sure the queue holds `key` by its deadline. A deadline that moved
    // later needs nothing: the earlier item is pushed again when it comes due.
    if (life.queuedAt !== 0 && life.queuedAt <= expiresAt) return
    life.queuedAt = expiresAt
    this.#enqueue(-life.number - 1, expiresAt)
  }

  /** As #setLifetime's end, for a value its key's write stored. */
  #scheduleWritten (slot: Slot): void {
    const table = this.table
    const at = table.expiresAt(slot)
    const queued = table.queuedAt(slot)
    if (queued !== 0 && queued <= at) return
    table.setQueuedAt(slot, at)
    this.#enqueue(slot, at)
  }

  /** The state of a key about to hold a value: out of the GC queue, and not queued for expiry under its dead phase. */
  #revive (slot: Slot): void {
    const table = this.table
    if (table.hasValue(slot)) return
    table.setHasValue(slot, true)
    table.setQueuedAt(slot, 0)
    this.#dead.revive(slot) // its slot in the GC queue goes stale
  }

  /**
   * The deadline under which the expiry queue holds what `ref` names (0:
   * none), undefined when it names nothing that holds a value: a local-only
   * value's lifetime (ref < 0), or the state in slot `ref` holding a value
   * (its write's, or a loaded one).
   */
  #queuedAtOf (ref: number): number | undefined {
    if (ref < 0) return this.#lifetimeByNumber[-ref - 1]?.queuedAt
    return this.table.hasValue(ref) ? this.table.queuedAt(ref) : undefined
  }

  /** Lets `key`'s lifetime go, if it has one (its queue item goes stale, and its number may be reused). */
  #dropLifetime (key: string): void {
    const life = this.#lifetimes.get(key)
    if (life === undefined) return
    this.#lifetimes.delete(key)
    this.#lifetimeByNumber[life.number] = undefined
    this.#freeLifetimeNumbers.push(life.number)
  }

  /** Pushes `ref` under `at` (its schedule already says so), arming the timer if it is the soonest. */
  #enqueue (ref: number, at: number): void {
    this.#compactIfStale()
    this.#expiry.push(at, ref)
    if (at < this.#timer.armedFor) this.#timer.arm(this.#expiry.next)
  }

  /**
   * Stale hints (values dropped or rewritten before their deadline) are
   * normally cleared as they come due; a workload that drops and rewrites
   * hot keys faster than that would grow the queue, so past twice the held
   * values it is rebuilt from the live items in O(n).
   */
  #compactIfStale (): void {
    if (this.#expiry.size <= 2 * this.lru.size + 1024) return
    this.#expiry.retain((at, ref) => this.#queuedAtOf(ref) === at)
  }

  #disposed (key: string, reason: LRUCache.DisposeReason): void {
    if (reason === 'set') return // a replaced value (only when set over a value without noDisposeOnSet; kept as a guard)
    const why: EvictReason = reason === 'delete' ? (this.#deleting ?? 'local') : reason === 'evict' ? 'capacity' : 'ttl'
    if (this.#lifetimes.size !== 0) this.#dropLifetime(key)
    const slot = this.meta.get(key)
    if (slot !== undefined) this.markDead(slot)
    this.#compactIfStale() // its queue item is now a stale hint
    this.#left.push([key, why])
  }

  /** Reports values that left, now that lru-cache is done; a listener may use the store again. */
  #reportLeft (): void {
    let next: [string, EvictReason] | undefined
    while ((next = this.#left.shift()) !== undefined) this.#onEvict(next[0], next[1])
  }
}
