/**
 * Normative numbers of the meshcache wire protocol. SPEC.md quotes these same
 * constants, and the repository's spec test checks that the two agree.
 */

/** The version every frame starts with. A new layout gets a new number. */
export const PROTOCOL_VERSION = 1

/** Message types: the varuint after the version. */
export const MessageType = {
  /** One origin's updates, in sequence order. */
  UPDATES: 0,
  /** Anti-entropy step 1: the sender's state vector. */
  SYNC_STEP1: 1,
  /** Anti-entropy step 2: the records the requester lacks, plus the responder's state vector. */
  SYNC_STEP2: 2,
  /** Membership: a y-protocols awareness update. */
  AWARENESS: 3,
  /** "Confirm when you have applied my writes up to this number" (whenReplicated). */
  ACK_REQUEST: 4,
  /** The answer: the receiver's contiguous sequence of the asking origin. */
  ACK: 5,
  /** A partial mesh's announcement to neighbours: the sender's state vector, or what moved of it. */
  DIGEST: 6,
  /** whenReplicated in a partial mesh: ACK_REQUEST passed on hop by hop to members that are not neighbours (§5.1). */
  RELAY_ACK_REQUEST: 7,
  /** The answer to a RELAY_ACK_REQUEST: the members that applied the writes, sent back the way it came. */
  RELAY_ACK: 8,
} as const
export type MessageTypeValue = (typeof MessageType)[keyof typeof MessageType]

/** UTF-8 bytes in one member (transport) id of a RELAY_ACK; a libp2p peer id has 52 or 53. */
export const MAX_MEMBER_ID_BYTES = 256

/** What a record says happened to its key: the low bits of its flags byte. */
export const RecordKind = {
  /** The key was written. */
  SET: 0,
  /** The key was deleted. */
  DELETE: 1,
  /** Copies of the key were dropped without a new value. */
  INVALIDATE: 2,
} as const
export type RecordKindValue = (typeof RecordKind)[keyof typeof RecordKind]

/** Mask of the kind within a record's flags byte. */
export const KIND_MASK = 0x0f
/** Flag bit: the record carries `ttl • value` (replicate mode, SET only). */
export const FLAG_VALUE = 0x10
/**
 * Flag bit: the sender's state of the key had its vector folded to the bound
 * (SPEC §4, vector bounds), so the vector may lack entries of writes the
 * receiver lacks too. Added within version 1 (SPEC §3.5).
 */
export const FLAG_FOLDED = 0x20
/** Every other bit of the flags byte must be zero. */
export const FLAGS_KNOWN = KIND_MASK | FLAG_VALUE | FLAG_FOLDED

/** Decoding limits. A frame that exceeds one is refused whole with E_FRAME_TOO_LARGE. */
export interface DecodeLimits {
  /** Bytes in one frame. */
  maxFrameBytes: number
  /** UTF-8 bytes in one key. */
  maxKeyBytes: number
  /** Bytes in one replicated value. */
  maxValueBytes: number
  /** Records in one UPDATES or SYNC_STEP2 frame. */
  maxRecords: number
  /** Entries in one origin table or state vector. */
  maxOrigins: number
  /** Entries in one record's version vector. */
  maxVectorEntries: number
  /** UTF-8 bytes in one origin id. */
  maxOriginBytes: number
}

/**
 * Defaults. 1 MiB frames stay well under the 4 MiB cap of libp2p's
 * length-prefixed streams (it-length-prefixed's cap), with room for the transport envelope.
 */
export const DEFAULT_LIMITS: Readonly<DecodeLimits> = Object.freeze({
  maxFrameBytes: 1 << 20,
  maxKeyBytes: 4096,
  maxValueBytes: 512 * 1024,
  maxRecords: 65_536,
  maxOrigins: 4096,
  maxVectorEntries: 256,
  maxOriginBytes: 128,
})

/** Frames a sender builds are kept under this many bytes (the sender splits batches). */
export const TARGET_FRAME_BYTES = 256 * 1024

/**
 * The reserved key whose record is a namespace clear (`cache.clear()`): an
 * INVALIDATE of this key at HLC h drops, on every instance, every key whose
 * winning write is older than h, and keeps out any such write that arrives
 * later. It travels, merges and is repaired like any record (SPEC.md §4.1).
 * U+0000 starts every internal key; users cannot write one.
 */
export const CLEAR_KEY = '\u0000clear'
