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
 * timer fires at the soonest deadline and drops every value that is due, so
 * a value is served until the event loop next runs timers after its
 * deadline (as with lru-cache's default `ttlResolution`, whose cached clock
 * is also reset by a timer). With an injected clock there are no timers:
 * reads check `now()` against the soonest deadline, so tests stay exact.
 *
 * Keys written with `local: true` hold a value that is not any entry's:
 * remote records still merge into the key's metadata (so this instance can
 * answer anti-entropy for every number it counts) but never touch that
 * value.
 */
import { LRUCache } from 'lru-cache'
import { Entry } from './entry.ts'
import { ExpiryQueue } from './expiry-queue.ts'
import { DeadQueue } from './dead-queue.ts'
import { physicalMs } from './clock.ts'
import type { Now } from './clock.ts'

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
 * When a held value expires, and the deadline under which the expiry queue
 * holds its key (0: not queued). An Entry is one for the value its write
 * stored; a Lifetime for any other value.
 */
interface Schedule {
  readonly expiresAt: number
  queuedAt: number
}

/** The lifetime of a value that is not its entry's write: a local-only value or a loaded one. */
class Lifetime implements Schedule {
  expiresAt: number
  queuedAt = 0

  constructor (expiresAt: number) {
    this.expiresAt = expiresAt
  }
}

/** setTimeout's longest delay; a later deadline is simply re-armed when the timer fires. */
const MAX_TIMER_MS = 2 ** 31 - 1

export class Store<V extends {}> {
  readonly lru: LRUCache<string, V>
  readonly meta = new Map<string, Entry>()
  /** Keys of entries without a value, oldest death first (an entry's `deadQueued` says whether it is in). */
  readonly #dead = new DeadQueue()
  /** Entries in the GC queue: the tombstones and other value-less states. */
  #deadCount = 0
  /** Deadlines of values whose lifetime is not their entry's write (local-only and loaded values). */
  readonly #lifetimes = new Map<string, Lifetime>()
  /** Keys whose value was set with `local: true` (a subset of `#lifetimes`). */
  readonly #localKeys = new Set<string>()
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
  readonly #timed: boolean
  #timer: ReturnType<typeof setTimeout> | undefined
  #armedFor = Infinity
  #closed = false

  constructor (options: StoreOptions) {
    this.#now = options.now
    this.#onEvict = options.onEvict
    this.#timed = !options.exactClock
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

  /** Stores the value written by `entry` (a local set or a remote record); it expires at `entry.expiresAt`. */
  setWritten (key: string, value: V, entry: Entry): void {
    this.lru.set(key, value)
    this.#lifetimes.delete(key)
    if (this.#localKeys.size !== 0) this.#localKeys.delete(key)
    this.#revive(key, entry)
    this.#schedule(key, entry)
    if (this.#left.length !== 0) this.#reportLeft()
  }

  /** Stores a loaded value until `expiresAt`, hanging on the key's entry: any newer record drops it. */
  setLoaded (key: string, value: V, expiresAt: number, entry: Entry): void {
    this.lru.set(key, value)
    this.#localKeys.delete(key)
    this.#revive(key, entry)
    entry.queuedAt = 0 // the lifetime below schedules this value
    this.#setLifetime(key, expiresAt)
    if (this.#left.length !== 0) this.#reportLeft()
  }

  /**
   * Stores a local-only value until `expiresAt`. The key's entry, if any,
   * stays as its replicated state without a value.
   */
  setLocal (key: string, value: V, expiresAt: number): void {
    this.lru.set(key, value)
    this.#localKeys.add(key)
    const entry = this.meta.get(key)
    if (entry !== undefined) this.markDead(key, entry)
    this.#setLifetime(key, expiresAt)
    if (this.#left.length !== 0) this.#reportLeft()
  }

  /** Whether the value of `key` was set with `local: true` (one size check when no key was). */
  isLocal (key: string): boolean {
    return this.#localKeys.size !== 0 && this.#localKeys.has(key)
  }

  /** The value `entry` wrote, if this store holds it (not a loaded or local-only value in its place). */
  writtenValue (key: string, entry: Entry): V | undefined {
    if (!entry.hasValue || this.#lifetimes.has(key)) return undefined
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
    let n = 0
    while (queue.next <= now) {
      const at = queue.next
      const key = queue.pop() as string
      const schedule = this.#scheduleOf(key)
      if (schedule === undefined || schedule.queuedAt !== at) continue // a stale hint
      if (schedule.expiresAt > now) {
        // the value was written again since: wait for its new deadline
        schedule.queuedAt = schedule.expiresAt
        queue.push(schedule.expiresAt, key)
        continue
      }
      if (this.dropValue(key, 'ttl')) n++
    }
    if (this.#timed) this.#arm()
    return n
  }

  /** Stops the expiry timer. */
  close (): void {
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
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
   * Drops the value of `key`, if one may be held, and queues `entry` as the
   * key's dead state. Returns whether a value was held. `mayHoldValue: false`
   * skips the LRU when the caller knows nothing is there.
   */
  bury (key: string, entry: Entry, reason: EvictReason, mayHoldValue = true): boolean {
    // Dropping a held value marks the entry dead on the way (dispose).
    const had = mayHoldValue && this.dropValue(key, reason)
    if (!had) this.markDead(key, entry)
    return had
  }

  /** Records `entry` as the state of `key`, holding no value. */
  markDead (key: string, entry: Entry): void {
    entry.hasValue = false
    if (entry.deadQueued) return
    entry.deadSince = Math.ceil(this.#now() / 1000)
    entry.deadQueued = true
    this.#deadCount++
    if (this.#dead.slots > 2 * this.#deadCount + 1024) this.#dead.retain((k, at) => this.#isQueuedAt(k, at))
    this.#dead.push(key, entry.deadSince)
  }

  /** How many entries hold no value (tombstones included). */
  get tombstones (): number {
    return this.#deadCount
  }

  /**
   * Puts a new state object for `key` in place of `previous` (its state until
   * now, if any). A newer state of a key already queued takes its place and
   * its death time: the queue stays ordered by death, and collect() still
   * waits until the newer write itself is past the horizon before dropping it.
   */
  replaceEntry (key: string, previous: Entry | undefined, entry: Entry): void {
    this.meta.set(key, entry)
    if (previous === undefined || !previous.deadQueued) return
    entry.hasValue = false
    entry.deadSince = previous.deadSince
    entry.deadQueued = true
  }

  /** Drops `key`'s state (and its place in the GC queue); returns whether it had one. */
  forget (key: string): boolean {
    const entry = this.meta.get(key)
    if (entry === undefined) return false
    this.meta.delete(key)
    if (entry.deadQueued) this.#deadCount--
    return true
  }

  /** Whether a GC queue slot (key, death time) is still its key's: a revived, forgotten or re-queued key leaves a stale one. */
  #isQueuedAt (key: string, seconds: number): boolean {
    const entry = this.meta.get(key)
    return entry !== undefined && entry.deadQueued && entry.deadSince === seconds
  }

  /**
   * Drops dead entries older than `horizon`: no copy of anything they
   * dominate can still be alive anywhere, since every copy expires within
   * `maxTtl` of its write. Returns how many went.
   */
  collect (horizon: number): number {
    const now = this.#now()
    this.expireDue(now)
    const cutoff = now - horizon
    const cutoffSeconds = Math.floor(cutoff / 1000)
    const dead = this.#dead
    // Slots re-queued below go to the back: each slot is looked at once.
    let n = 0
    for (let budget = dead.slots; budget > 0 && dead.firstAt <= cutoffSeconds; budget--) {
      const key = dead.firstKey as string
      const seconds = dead.firstAt
      dead.shift()
      if (!this.#isQueuedAt(key, seconds)) continue // a stale slot
      const entry = this.meta.get(key) as Entry
      // The write itself must be past the horizon: this is the safety rule
      // (deadSince, rounded up to seconds, only orders the queue).
      if (physicalMs(entry.hlc) > cutoff) {
        entry.deadSince = Math.ceil(now / 1000)
        dead.push(key, entry.deadSince)
        continue
      }
      this.meta.delete(key)
      this.#deadCount--
      n++
    }
    return n
  }

  #setLifetime (key: string, expiresAt: number): void {
    let life = this.#lifetimes.get(key)
    if (life === undefined) this.#lifetimes.set(key, life = new Lifetime(expiresAt))
    else life.expiresAt = expiresAt
    this.#schedule(key, life)
  }

  /** The entry of a key about to hold a value: out of the GC queue, and not queued for expiry under its dead phase. */
  #revive (key: string, entry: Entry): void {
    if (entry.hasValue) return
    entry.hasValue = true
    entry.queuedAt = 0
    // Its slot in the GC queue goes stale.
    if (entry.deadQueued) {
      entry.deadQueued = false
      this.#deadCount--
    }
  }

  /** The schedule of the value `key` holds: its lifetime if it has one, else its entry's, if the entry holds it. */
  #scheduleOf (key: string): Schedule | undefined {
    const life = this.#lifetimes.get(key)
    if (life !== undefined) return life
    const entry = this.meta.get(key)
    return entry !== undefined && entry.hasValue ? entry : undefined
  }

  /**
   * Makes sure the queue holds `key` by its deadline. A deadline that moved
   * later needs nothing: the earlier item is pushed again when it comes due.
   */
  #schedule (key: string, s: Schedule): void {
    const at = s.expiresAt
    const queued = s.queuedAt // derived from the entry's timestamp: read once
    if (queued !== 0 && queued <= at) return
    s.queuedAt = at
    this.#compactIfStale()
    this.#expiry.push(at, key)
    if (this.#timed && at < this.#armedFor) this.#arm()
  }

  /** Arms the timer for the soonest deadline, unless it is armed for that already. */
  #arm (): void {
    const next = this.#expiry.next
    if (this.#closed || next === this.#armedFor) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#armedFor = next
    if (next === Infinity) return
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next - this.#now()))
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#armedFor = Infinity
      this.expireDue()
    }, delay)
    this.#timer.unref()
  }

  /**
   * Stale hints (values dropped or rewritten before their deadline) are
   * normally cleared as they come due; a workload that drops and rewrites
   * hot keys faster than that would grow the queue, so past twice the held
   * values it is rebuilt from the live items in O(n).
   */
  #compactIfStale (): void {
    if (this.#expiry.size <= 2 * this.lru.size + 1024) return
    this.#expiry.retain((at, key) => this.#scheduleOf(key)?.queuedAt === at)
  }

  #disposed (key: string, reason: LRUCache.DisposeReason): void {
    if (reason === 'set') return // a replaced value (only when set over a value without noDisposeOnSet; kept as a guard)
    const why: EvictReason = reason === 'delete' ? (this.#deleting ?? 'local') : reason === 'evict' ? 'capacity' : 'ttl'
    this.#lifetimes.delete(key)
    this.#localKeys.delete(key)
    const entry = this.meta.get(key)
    if (entry !== undefined) this.markDead(key, entry)
    this.#compactIfStale() // its queue item is now a stale hint
    this.#left.push([key, why])
  }

  /** Reports values that left, now that lru-cache is done; a listener may use the store again. */
  #reportLeft (): void {
    let next: [string, EvictReason] | undefined
    while ((next = this.#left.shift()) !== undefined) this.#onEvict(next[0], next[1])
  }
}
