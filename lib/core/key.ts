/**
 * Key validity, in one place: every API that names a key (set, delete,
 * invalidate, getOrLoad, dependsOn, tags) checks it here, before any state
 * changes. SPEC §3.4: keys travel as UTF-8 and a receiver refuses invalid
 * UTF-8, so a key that cannot be encoded exactly is refused at the API.
 */
import { ErrorCode, MeshCacheError } from '../errors.ts'

/**
 * A lone surrogate (an unpaired UTF-16 half) has no UTF-8 form: the encoder
 * would send U+FFFD, and peers would act on another key (`'k\uD800'` would
 * evict `'k\uFFFD'` there and leave its own copy alone).
 */
const LONE_SURROGATE = /\p{Cs}/u

/** Throws E_INVALID_ARGUMENT unless `key` is a string with a UTF-8 form of at most `maxBytes` bytes. */
export function checkKey (key: unknown, maxBytes: number, what = 'key'): asserts key is string {
  if (typeof key !== 'string') throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `${what} must be a string, got ${typeof key}`)
  if (key.length * 3 > maxBytes && Buffer.byteLength(key) > maxBytes) {
    throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `${what} of ${Buffer.byteLength(key)} bytes exceeds maxKeyBytes ${maxBytes}`)
  }
  if (LONE_SURROGATE.test(key)) {
    throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `${what} ${JSON.stringify(key)} contains a lone surrogate: it has no UTF-8 form and would reach peers as another key (U+FFFD)`)
  }
}
