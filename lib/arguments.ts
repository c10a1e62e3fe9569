/**
 * Checks of the arguments the public API takes, shared by MeshCache and the
 * loader: each throws E_INVALID_ARGUMENT naming the problem, before any
 * state changes.
 */
import { ErrorCode, MeshCacheError } from './errors.ts'
import { assertUserKey } from './loading/tags.ts'
import { firstUnknown, optionNames } from './core/suggest.ts'
import type { SetOptions } from './cache.ts'

/**
 * A key (or what travels as one: a `dependsOn` key, a tag): a string with a
 * UTF-8 form of at most `limit` bytes. The one key check of the API.
 */
export function checkKey (key: string, limit: number, what = 'key'): void {
  if (typeof key !== 'string') throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `${what} must be a string, got ${typeof key}`)
  if (key === '') throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `${what} must not be empty`)
  // Measured only when it could be over: a UTF-16 unit is at most 3 UTF-8 bytes.
  if (key.length * 3 > limit && Buffer.byteLength(key) > limit) {
    throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `${what} of ${Buffer.byteLength(key)} bytes exceeds maxKeyBytes ${limit}`)
  }
  // A lone surrogate (an unpaired UTF-16 half) has no UTF-8 form: the encoder would send U+FFFD, and peers would
  // act on another key (`'k\uD800'` would evict `'k\uFFFD'` there and leave its own copy alone). SPEC §3.4.
  // isWellFormed is that test, and answers a one-byte string at once, where a regex ran on every write's key.
  if (!key.isWellFormed()) {
    throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `${what} ${JSON.stringify(key)} contains a lone surrogate: it has no UTF-8 form and would reach peers as another key (U+FFFD)`)
  }
}

/** A ttl: absent (the default), or an integer from 1 to `maxTtl`. */
export function checkTtl (ttl: number | undefined, fallback: number, maxTtl: number): number {
  if (ttl === undefined) return fallback
  if (!Number.isSafeInteger(ttl) || ttl <= 0 || ttl > maxTtl) {
    throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `ttl must be an integer from 1 to maxTtl (${maxTtl}), got ${String(ttl)}`)
  }
  return ttl
}

/**
 * A call's options: absent, or an object (null or a number there is a
 * caller's mistake, not "no options") of `known` names only: a misspelt one
 * (`{ tll: 5_000 }`) would leave its default in force, silently.
 */
export function checkOptionsArgument (method: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return
  if (typeof options !== 'object' || options === null) {
    throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `${method}: options must be an object, got ${options === null ? 'null' : typeof options}`)
  }
  const unknown = firstUnknown(options, known)
  if (unknown === undefined) return
  const { name, guess } = unknown
  throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT,
    `${method}: \`${name}\` is not an option${guess === undefined ? '' : `; did you mean \`${guess}\`?`} (the options are ${known.join(', ')})`)
}

/** `ready`'s options. */
export interface ReadyOptions {
  /** Peers to wait for. @default 1 */
  peers?: number | undefined
  /** Milliseconds before E_READY_TIMEOUT. @default 10_000 */
  timeout?: number | undefined
}

/** The options of `whenReplicated` and `close`. */
export interface TimeoutOptions {
  /** Milliseconds to wait (whenReplicated: 5,000, then E_REPLICATION_TIMEOUT; close: 2,000, then a warning). */
  timeout?: number | undefined
}

/** The options of `set`, `ready`, `whenReplicated` and `close` (getOrLoad's: load-options.ts). */
export const SET_OPTION_NAMES = optionNames<SetOptions>()(['ttl', 'local', 'dependsOn', 'tags'])
export const READY_OPTION_NAMES = optionNames<ReadyOptions>()(['peers', 'timeout'])
export const TIMEOUT_OPTION_NAMES = optionNames<TimeoutOptions>()(['timeout'])

/**
 * `set`'s arguments, all checked before any state changes: a user key, a
 * value (`undefined` and `null` are not values: `delete` removes a key),
 * the options object, `local` and `ttl`. Returns the ttl to use.
 */
export function checkSetArguments (key: string, value: unknown, options: { ttl?: number | undefined, local?: boolean | undefined } | undefined, limits: { maxKeyBytes: number, ttl: number, maxTtl: number }): number {
  checkKey(key, limits.maxKeyBytes)
  assertUserKey(key)
  if (value === undefined || value === null) {
    throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `value of key ${JSON.stringify(key)} is ${String(value)}: use delete() to remove a key`)
  }
  checkOptionsArgument('set', options, SET_OPTION_NAMES)
  const local = options?.local
  if (local !== undefined && typeof local !== 'boolean') throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `set: \`local\` must be a boolean, got ${JSON.stringify(local) ?? typeof local}`)
  return checkTtl(options?.ttl, limits.ttl, limits.maxTtl)
}

/** A `timeout` option of `method`: absent (`fallback`), or a positive integer of ms. */
export function checkTimeout (method: string, timeout: number | undefined, fallback: number): number {
  const ms = timeout ?? fallback
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `${method}: timeout must be a positive integer of ms, got ${String(ms)}`)
  return ms
}
