/**
 * A member's advertised metadata (`cache.advertise`, SPEC §8): what it may
 * hold, checked before it changes anything. Apart from membership.ts, which
 * carries it but never looks inside.
 */
import { ErrorCode, MeshCacheError } from '../errors.ts'

/**
 * The most an instance's advertised metadata may take, as UTF-8 JSON: it
 * rides in every announcement (each renewal and each greeting), so it must
 * stay small beside the rest of the state.
 */
export const MAX_META_BYTES = 2048

/**
 * `meta` with `name` set to `value` (removed when `value` is undefined), as
 * it will travel: a JSON copy, so later changes to the caller's object do not
 * leak into announcements. Throws E_INVALID_ARGUMENT, changing nothing, for
 * a bad name, a value JSON cannot carry, or a total over MAX_META_BYTES.
 */
export function withMeta (meta: Record<string, unknown>, name: string, value: unknown): Record<string, unknown> {
  if (typeof name !== 'string' || name.length === 0) {
    throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `advertise: name must be a non-empty string, got ${typeof name === 'string' ? 'an empty string' : typeof name}`)
  }
  const next = { ...meta }
  if (value === undefined) {
    delete next[name]
    return next
  }
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch (cause) {
    throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `advertise: value of ${JSON.stringify(name)} is not JSON-serializable: ${(cause as Error).message}`, { cause })
  }
  if (json === undefined) throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `advertise: value of ${JSON.stringify(name)} is not JSON-serializable (${typeof value})`)
  next[name] = JSON.parse(json)
  const bytes = Buffer.byteLength(JSON.stringify(next))
  if (bytes > MAX_META_BYTES) {
    throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `advertise: metadata would take ${bytes} bytes with ${JSON.stringify(name)}, over the ${MAX_META_BYTES}-byte limit`)
  }
  return next
}
