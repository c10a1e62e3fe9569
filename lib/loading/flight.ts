/**
 * One load in the air (a flight) and the wait of each caller on it. A
 * flight is shared by every caller that missed on its key; each caller
 * with a timeout, a signal or a soft timeout waits on it through its own
 * promise, so leaving (timeout, abort, stale served) never ends the load
 * for the others. The bookkeeping of flights per key and the race guard
 * stay in loader.ts.
 */
import { ErrorCode, MeshCacheError } from '../errors.ts'
import type { LoadSettings } from './load-options.ts'
import type { TierLoadStart } from './loader.ts'

export class Flight {
  readonly key: string
  readonly s: LoadSettings
  /** Made when the loader is called (a flight the tier answers needs none: an AbortController costs ~1 µs). */
  #controller: AbortController | undefined
  promise: Promise<unknown> = Promise.resolve()
  /** Set by the race guard or by a full abort: the result is returned but not stored. */
  stale = false
  /** Some caller cannot abort (it passed no signal), or a refresh serves a stale value. */
  firm = false
  joined = 0
  aborted = 0
  /** Its bases are pinned in the dependency graph (until #unhook). */
  pinned = false
  /** With a tier: what its fill carries (SPEC §14.3). */
  started: TierLoadStart | undefined
  /** The value came from the tier (nothing to fill): it lives at most to `tierExpiresAt` (ms), the tier copy's own end. */
  fromTier = false
  tierExpiresAt = 0
  /** Every caller aborted (#abort). */
  cancelled = false
  /**
   * When the loader was called: every lifetime of its result counts from
   * here, not from when it lands (SPEC §7, loads): a value read before a
   * write must expire within `ttl` of that read, or it could outlive the
   * write's tombstone and be served after the write was refused as expired.
   */
  readonly startedAt: number

  constructor (key: string, s: LoadSettings, startedAt: number) {
    this.key = key
    this.s = s
    this.startedAt = startedAt
  }

  get controller (): AbortController {
    return (this.#controller ??= new AbortController())
  }
}

/**
 * A caller with a timeout, a signal or a soft timeout: its own promise over
 * the flight's. `onStaleServed` counts a stale value served at the soft
 * timeout; `onAllAborted` runs when every caller that could abort did and
 * none holds the flight firm (the loader is then cancelled).
 */
export function waitFor<V> (flight: Flight, s: LoadSettings, stale: V | undefined, onStaleServed: () => void, onAllAborted: (reason: unknown) => void): Promise<unknown> {
  const { signal, timeout } = s
  if (signal === undefined) flight.firm = true
  else flight.joined++
  return new Promise((resolve, reject) => {
    let done = false
    let hard: NodeJS.Timeout | undefined
    let soft: NodeJS.Timeout | undefined
    const finish = (): void => {
      done = true
      if (hard !== undefined) clearTimeout(hard)
      if (soft !== undefined) clearTimeout(soft)
      signal?.removeEventListener('abort', onAbort)
    }
    const onAbort = (): void => {
      if (done) return
      finish()
      reject(abortedError(flight.key, signal as AbortSignal))
      if (++flight.aborted === flight.joined && !flight.firm) onAllAborted((signal as AbortSignal).reason)
    }
    flight.promise.then(
      (value) => { if (!done) { finish(); resolve(value) } },
      (error: unknown) => { if (!done) { finish(); reject(error) } },
    )
    if (timeout !== undefined) {
      hard = setTimeout(() => {
        if (done) return
        finish()
        reject(new MeshCacheError(ErrorCode.LOAD_TIMEOUT, `loading key ${JSON.stringify(flight.key)} took more than ${timeout} ms`))
      }, timeout)
    }
    if (stale !== undefined && s.softTimeout > 0) {
      soft = setTimeout(() => {
        if (done) return
        finish()
        onStaleServed()
        resolve(stale)
      }, s.softTimeout)
    }
    signal?.addEventListener('abort', onAbort)
  })
}

export function abortedError (key: string, signal: AbortSignal): MeshCacheError {
  return new MeshCacheError(ErrorCode.LOAD_ABORTED, `loading key ${JSON.stringify(key)} was aborted`, { cause: signal.reason })
}
