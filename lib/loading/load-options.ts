/**
 * The options of one `getOrLoad` call: their public types, and their
 * checking and defaults, resolved once per call into the settings a flight
 * carries. Kept apart from the flights (loader.ts) because this is argument
 * plumbing: it throws E_INVALID_ARGUMENT before any flight starts and knows
 * nothing of how a load runs.
 */
import { ErrorCode, MeshCacheError } from '../errors.ts'
import { resolveBases } from './dependencies.ts'
import { optionNames } from '../core/suggest.ts'

export interface LoadContext {
  /** Aborted when every caller waiting on this load aborted (never for a refresh that serves a stale value). */
  signal: AbortSignal
}

/**
 * Reads `key` from the source of truth. Returning `undefined` (or `null`)
 * means "not found": nothing is stored unless `negativeTtl` asks for it.
 */
export type LoadFunction<R> = (key: string, context: LoadContext) => R | PromiseLike<R>

export interface LoadOptions {
  /**
   * Milliseconds the loaded value is fresh. With `grace`, the value stays
   * `ttl + grace` in the cache, which must not exceed `maxTtl`.
   * @default the cache's `ttl`
   */
  ttl?: number | undefined
  /**
   * Stale-while-revalidate: milliseconds after `ttl` during which
   * `getOrLoad` still serves the old value while exactly one refresh runs.
   * `get()` also returns the value during this window (it lives in the L1
   * for `ttl + grace`); any write or invalidation still evicts it at once.
   * @default 0 (no grace)
   */
  grace?: number | undefined
  /**
   * With a stale value in its grace window: how long to wait for the
   * refresh before serving the stale value (the refresh goes on, and its
   * result is stored when it lands, unless the race guard forbids it).
   * Without a stale value it does not apply. @default 0 (serve stale at once)
   */
  softTimeout?: number | undefined
  /**
   * Hard timeout in ms: this caller gets E_LOAD_TIMEOUT. The load itself
   * goes on for other callers and is stored when it lands.
   * @default none
   */
  timeout?: number | undefined
  /**
   * Aborts this caller's wait with E_LOAD_ABORTED. Other callers are not
   * affected; the load is cancelled (its context signal aborted, its result
   * not stored) only when every caller that joined it aborted.
   */
  signal?: AbortSignal | undefined
  /**
   * Milliseconds to remember that the loader found nothing (it returned
   * `undefined` or `null`); during them `getOrLoad` resolves `undefined`
   * without calling the loader. A write or invalidation of the key or of
   * one of its bases ends it. @default 0 (off)
   */
  negativeTtl?: number | undefined
  /** Keys the loaded value is derived from: a change of any evicts it (see `SetOptions.dependsOn`). */
  dependsOn?: string[] | undefined
  /** Tags of the loaded value: `invalidateTag(t)` evicts it on every instance. */
  tags?: string[] | undefined
}

/** Every option name, for refusing unknown ones with a suggestion. */
export const LOAD_OPTION_NAMES = optionNames<LoadOptions>()(['ttl', 'grace', 'softTimeout', 'timeout', 'signal', 'negativeTtl', 'dependsOn', 'tags'])

/** What resolving the options needs from the cache. */
export interface LoadLimits {
  maxTtl: number
  maxKeyBytes: number
  /** Validates a ttl (1 to maxTtl) and applies the default. */
  checkTtl: (ttl: number | undefined) => number
}

/** One call's options, checked and defaulted. */
export interface LoadSettings {
  ttl: number
  grace: number
  softTimeout: number
  timeout: number | undefined
  signal: AbortSignal | undefined
  negativeTtl: number
  bases: string[] | undefined
}

export function resolveLoadSettings (o: LoadOptions | undefined, host: LoadLimits): LoadSettings {
  if (o === undefined) {
    return { ttl: host.checkTtl(undefined), grace: 0, softTimeout: 0, timeout: undefined, signal: undefined, negativeTtl: 0, bases: undefined }
  }
  const ttl = host.checkTtl(o.ttl)
  const grace = ms('grace', o.grace, 0, true)
  if (ttl + grace > host.maxTtl) {
    throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `ttl + grace (${ttl} + ${grace}) exceeds maxTtl (${host.maxTtl}): every copy must expire within maxTtl; raise the cache's maxTtl`)
  }
  const timeout = o.timeout === undefined ? undefined : timerMs('timeout', o.timeout, 0, false)
  const signal = o.signal
  if (signal !== undefined && (typeof signal !== 'object' || signal === null || typeof signal.addEventListener !== 'function')) {
    throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, '`signal` must be an AbortSignal')
  }
  const negativeTtl = ms('negativeTtl', o.negativeTtl, 0, true)
  if (negativeTtl > host.maxTtl) throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `negativeTtl (${negativeTtl}) exceeds maxTtl (${host.maxTtl})`)
  return {
    ttl,
    grace,
    softTimeout: timerMs('softTimeout', o.softTimeout, 0, true),
    timeout,
    signal,
    negativeTtl,
    bases: resolveBases(o.dependsOn, o.tags, host.maxKeyBytes),
  }
}

function ms (name: string, value: unknown, fallback: number, allowZero: boolean): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || (!allowZero && value === 0)) {
    throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `\`${name}\` must be a ${allowZero ? 'non-negative' : 'positive'} integer of ms, got ${String(value)}`)
  }
  return value
}

/** setTimeout's longest delay: Node arms a longer one for 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** A delay a caller's wait arms a timer for (flight.ts). */
function timerMs (name: string, value: unknown, fallback: number, allowZero: boolean): number {
  const n = ms(name, value, fallback, allowZero)
  if (n > MAX_TIMER_MS) throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `\`${name}\` must be at most ${MAX_TIMER_MS} ms (the longest timer Node can arm), got ${n}`)
  return n
}
