/**
 * Every error meshcache raises is a `MeshCacheError` with a stable `code`
 * (an `E_…` string that never changes meaning) and, where one exists, the
 * underlying `cause`. Match on `code`, not on the message.
 */

export const ErrorCode = {
  /** An option passed to a factory is missing or out of range. */
  INVALID_OPTION: 'E_INVALID_OPTION',
  /** A key or value given to the cache API is not acceptable (type, size). */
  INVALID_ARGUMENT: 'E_INVALID_ARGUMENT',
  /** The cache was used after `close()`. */
  CLOSED: 'E_CLOSED',
  /** A frame ended before a field it declares. */
  FRAME_TRUNCATED: 'E_FRAME_TRUNCATED',
  /** A frame (or a field in it) exceeds a decoding limit. */
  FRAME_TOO_LARGE: 'E_FRAME_TOO_LARGE',
  /** A frame's protocol version is not one this code speaks. */
  FRAME_VERSION: 'E_FRAME_VERSION',
  /** A frame's message type is unknown. */
  FRAME_TYPE: 'E_FRAME_TYPE',
  /** A frame decodes but breaks a rule of the protocol (bad reference, bad sequence, trailing bytes…). */
  FRAME_MALFORMED: 'E_FRAME_MALFORMED',
  /**
   * A value to replicate is larger than `limits.maxValueBytes` once encoded:
   * no peer would accept it (replicate mode only; the message names key, size and limit).
   */
  VALUE_TOO_LARGE: 'E_VALUE_TOO_LARGE',
  /** A replicated value could not be encoded or decoded by the value codec. */
  VALUE_CODEC: 'E_VALUE_CODEC',
  /** The transport could not start or join. */
  TRANSPORT: 'E_TRANSPORT',
  /** A loader exceeded its hard timeout. */
  LOAD_TIMEOUT: 'E_LOAD_TIMEOUT',
  /** A load was aborted through its AbortSignal. */
  LOAD_ABORTED: 'E_LOAD_ABORTED',
  /** A dependency edge would close a cycle. */
  DEPENDENCY_CYCLE: 'E_DEPENDENCY_CYCLE',
  /** The runtime is too old (Node < 22): libp2p would start and silently never connect. */
  UNSUPPORTED_RUNTIME: 'E_UNSUPPORTED_RUNTIME',
  /**
   * A feature's optional peer dependency is not installed (`redis` for `l2`
   * and meshcache/redis; `pg`, `pg-logical-replication` for meshcache/postgres):
   * the message names the package and the command.
   */
  MISSING_DEPENDENCY: 'E_MISSING_DEPENDENCY',
  /** A peer could not be reached or refused the handshake (`peer:error` events). */
  PEER_UNREACHABLE: 'E_PEER_UNREACHABLE',
  /** A connection failed in the handshake in a way a different pre-shared key causes. */
  PSK_MISMATCH: 'E_PSK_MISMATCH',
  /** The node at an address has another peer id than its `/p2p/` part says. */
  PEER_ID_MISMATCH: 'E_PEER_ID_MISMATCH',
  /** `ready()` timed out before enough peers connected. */
  READY_TIMEOUT: 'E_READY_TIMEOUT',
  /** `whenReplicated()` timed out before every peer confirmed. */
  REPLICATION_TIMEOUT: 'E_REPLICATION_TIMEOUT',
  /** A change source could not reach its database (connection refused, unknown host, timeout). */
  SOURCE_CONNECT: 'E_SOURCE_CONNECT',
  /** A change source's database refused its credentials (wrong password, unknown role, no hba entry). */
  SOURCE_AUTH: 'E_SOURCE_AUTH',
  /** The database is not configured to stream changes (PostgreSQL: `wal_level` is not `logical`). */
  SOURCE_CONFIG: 'E_SOURCE_CONFIG',
  /** A table a change source maps does not exist. */
  SOURCE_TABLE: 'E_SOURCE_TABLE',
  /** The role lacks a privilege the change source needs (PostgreSQL: REPLICATION, or creating the publication). */
  SOURCE_PRIVILEGE: 'E_SOURCE_PRIVILEGE',
  /** Any other failure of a change source at start, with the database's error as `cause`. */
  SOURCE_FAILED: 'E_SOURCE_FAILED',
} as const

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode]

export class MeshCacheError extends Error {
  static override name = 'MeshCacheError'
  readonly code: ErrorCodeValue

  constructor (code: ErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'MeshCacheError'
    this.code = code
  }
}

/** Shorthand used by option validation: throws E_INVALID_OPTION naming the option. */
export function invalidOption (name: string, problem: string): never {
  throw new MeshCacheError(ErrorCode.INVALID_OPTION, `option \`${name}\` ${problem}`)
}
