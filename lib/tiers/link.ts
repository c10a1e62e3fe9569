/**
 * How a cache uses a tier (lib/tiers/tier.ts), kept out of `MeshCache`: the
 * write-through of local writes, the read guard, and the fill of loaded
 * values. SPEC.md §14 has the rules.
 *
 * The read guard: a value found in the tier is used only if what is known
 * here of its key and of each of its bases (tags included) is what its
 * writer or loader knew: the same states, compared as a digest of each one's
 * HLC, writer and version vector (`state`). Every instance hears of every
 * write through the mesh and keeps its state for the tombstone horizon
 * (maxTtl + maxClockSkew), longer than any tier copy lives (a tier's ttl is
 * at most maxTtl), so a tier copy that a write outdated is refused here even
 * before (or without) the writer's own write-through reaching the tier.
 *
 * Not an order of versions: a write whose HLC is lower than the copy's can
 * still be later news (two instances writing the key concurrently, whose
 * merged state keeps the higher HLC and has no value anywhere in invalidate
 * mode; a base changed by an instance whose clock is behind). A state that
 * differs in any way refuses the copy, and a miss is always correct.
 */
import { hash } from 'node:crypto'
import { isReservedKey } from '../loading/tags.ts'
import type { VersionVector } from '../core/version-vector.ts'
import { NO_STATE, type Tier, type TierHit, type TierHost } from './tier.ts'

/** What the link needs from the cache. */
export interface LinkHost {
  /** `key`'s replicated state here (a write, delete or invalidation), if any. */
  state: (key: string) => { hlc: number, writer: string, removed: boolean, vv: VersionVector } | undefined
  now: () => number
  /**
   * The namespace's clear horizon: every write older is gone (0 while no
   * clear was made). A tier copy older than it is refused like one older
   * than a write of its key.
   */
  floor: () => number
}

/** When a load began: its fill carries this version, and this digest of the states it was read after. */
export interface LoadStart {
  hlc: number
  at: number
  state: string
}

export class TierLink<V> {
  readonly tier: Tier<V>
  readonly #host: LinkHost
  /** Values the tier returned that the read guard refused (a newer write known here). */
  refused = 0

  constructor (tier: Tier<V>, host: LinkHost) {
    this.tier = tier
    this.#host = host
  }

  /** A local `set` (never a load), whose state is now (hlc, writer, vv): written through, asynchronously. */
  written (key: string, value: V, ttl: number, hlc: number, writer: string, vv: VersionVector, bases: string[] | undefined): void {
    // The states now (a record merged in the meantime is not what the value was written over); their
    // digest when the tier sends the write, after the caller's run.
    const known = this.#knownAll(key, bases, [hlc, writer, vv])
    this.tier.write(key, value, ttl, hlc, writer, bases, () => digest(known))
  }

  /**
   * A local delete or invalidation (cascades included): a tombstone. Tag keys
   * and other internal keys are never stored in the tier (a tag's
   * invalidation reaches tier copies through the read guard, by their bases).
   */
  removed (key: string, hlc: number, writer: string): void {
    if (isReservedKey(key)) return
    this.tier.write(key, undefined, 0, hlc, writer, undefined, NO_STATE)
  }

  /** A local clear of the namespace (at `hlc`): the tier drops what it holds, best effort (the floor guards reads). */
  cleared (hlc: number): void {
    this.tier.clear?.(hlc)
  }

  /**
   * A load begins. Its fill will carry, as its version, the newest write of
   * the key or of its bases known here now: the loader reads the source
   * after every write up to it, and nothing is known of later ones. (Not the
   * clock: two instances' clocks within one millisecond order events by
   * their logical counters, so a load begun before a write could carry a
   * larger timestamp than the write's.) And the digest of those states.
   */
  begin (key: string, bases: string[] | undefined): LoadStart {
    const known = this.#knownAll(key, bases)
    let basis = this.#host.floor()
    for (const k of known) if (k !== null && k[0] > basis) basis = k[0]
    return { hlc: basis, at: this.#host.now(), state: digest(known) }
  }

  /** The tier's value of `key` if the read guard accepts it (`bases`: the caller's, checked with the value's own). */
  read (key: string, bases: string[] | undefined): Promise<TierHit<V> | undefined> {
    return this.tier.read(key).then((hit) => hit === undefined ? undefined : this.#guard(key, bases, hit))
  }

  #guard (key: string, bases: string[] | undefined, hit: TierHit<V>): TierHit<V> | undefined {
    if (hit.hlc < this.#host.floor()) {
      this.refused++
      return undefined
    }
    if (hit.state !== this.#state(key, hit.bases)) {
      this.refused++
      // Repair on behalf of the writer: its tombstone (same version) may still be queued on its side.
      const own = this.#host.state(key)
      if (own !== undefined && own.removed && newer(own, hit)) this.tier.write(key, undefined, 0, own.hlc, own.writer, undefined, NO_STATE)
      return undefined
    }
    // The caller's bases, where they are not the copy's own (those are in its state).
    if (this.#baseNewer(bases, hit)) {
      this.refused++
      return undefined
    }
    return hit
  }

  /** A digest of the states known here of `key` and of each of `bases`, in order (absent ones too). */
  #state (key: string, bases: string[] | undefined): string {
    return digest(this.#knownAll(key, bases))
  }

  /** The key's state (`own`, when the caller holds it) and its bases', in order. */
  #knownAll (key: string, bases: string[] | undefined, own: Known = this.#known(key)): Known[] {
    const known = [own]
    if (bases !== undefined) for (const b of bases) known.push(this.#known(b))
    return known
  }

  #known (key: string): Known {
    const s = this.#host.state(key)
    return s === undefined ? null : [s.hlc, s.writer, s.vv]
  }

  #baseNewer (bases: string[] | undefined, hit: TierHit<V>): boolean {
    if (bases === undefined) return false
    for (const b of bases) {
      const s = this.#host.state(b)
      if (s !== undefined && newer(s, hit)) return true
    }
    return false
  }

  /** A loaded value (the loader ran, the race guard kept it): filled where the tier holds nothing. */
  fill (key: string, value: V, expiresAt: number, started: LoadStart, bases: string[] | undefined): void {
    if (isReservedKey(key)) return
    this.tier.fill(key, value, expiresAt, started.hlc, started.at, bases, started.state)
  }

  stats (): Record<string, number | string> {
    return { ...this.tier.stats(), [`${this.tier.name}Refused`]: this.refused }
  }
}

/** A key's state as the digest reads it (its vector is never changed in place: a change replaces it), or none. */
type Known = [number, string, VersionVector] | null

/** By count: the digest of keys none of which has a state here (a key only ever loaded, the common read-through case). */
const noneKnown: string[] = []

function digest (known: Known[]): string {
  if (known.every((k) => k === null)) return noneKnown[known.length] ??= hashOf(known)
  return hashOf(known)
}

function hashOf (known: Known[]): string {
  return hash('sha256', JSON.stringify(known), 'hex').slice(0, NO_STATE.length)
}

/** Whether a write known here is newer than the tier's copy, as the mesh orders writes: (hlc, writer). */
function newer (state: { hlc: number, writer: string }, hit: TierHit<unknown>): boolean {
  return state.hlc > hit.hlc || (state.hlc === hit.hlc && state.writer > hit.writer && hit.source === 'write')
}

/**
 * Attaches `tier` to a cache: lends it what it needs (`tier.attach`) and
 * returns the link the cache reads and writes through. One call, so a cache
 * cannot hold a link to a tier it never attached.
 */
export function attachTier<V> (tier: Tier<V>, host: TierHost<V> & LinkHost): TierLink<V> {
  tier.attach({ namespace: host.namespace, codec: host.codec, now: host.now, maxTtl: host.maxTtl, onFailure: host.onFailure })
  return new TierLink(tier, { state: host.state, now: host.now, floor: host.floor })
}
