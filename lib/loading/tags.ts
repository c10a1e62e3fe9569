/**
 * Tags are keys: `invalidateTag(t)` invalidates the internal key
 * `tagKey(t)`, which every tagged value lists as a base. The invalidation
 * therefore travels through the ordinary protocol (sequence numbers,
 * anti-entropy, tombstones) and cascades on every receiver like any base.
 *
 * Keys starting with U+0000 are reserved for such internal keys: users can
 * neither write nor depend on them by name, so a tag never collides with a key.
 */
import { checkKey } from '../arguments.ts'
import { ErrorCode, MeshCacheError } from '../errors.ts'

/** Every internal key starts with this character (U+0000). */
export const RESERVED_PREFIX = '\u0000'
/** Internal keys of tags: the reserved prefix, `tag:`, then the tag. */
export const TAG_PREFIX = '\u0000tag:'

export function isReservedKey (key: string): boolean {
  return key.charCodeAt(0) === 0
}

/** Throws E_INVALID_ARGUMENT for a key users may not name (reserved prefix). */
export function assertUserKey (key: unknown): void {
  if (typeof key === 'string' && key.charCodeAt(0) === 0) {
    throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `key ${JSON.stringify(key)} starts with U+0000, which is reserved for internal keys`)
  }
}

/** The internal key of `tag`; throws E_INVALID_ARGUMENT for a tag that is not a non-empty string. */
export function tagKey (tag: unknown): string {
  if (typeof tag !== 'string' || tag.length === 0) {
    throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `a tag must be a non-empty string, got ${JSON.stringify(tag) ?? String(tag)}`)
  }
  checkKey(tag, Infinity, 'tag') // a tag travels in a key: UTF-8 (the length is checked on the key)
  return TAG_PREFIX + tag
}

/** The tag of an internal tag key, or undefined for any other key. */
export function tagOf (key: string): string | undefined {
  return key.startsWith(TAG_PREFIX) ? key.slice(TAG_PREFIX.length) : undefined
}
