/**
 * A member's state as membership carries it (y-protocols awareness states):
 * what it is, how it is checked before it makes a member, and how an
 * awareness update is checked whole before any of it is applied.
 */
import * as decoding from 'lib0/decoding'
import { ErrorCode, MeshCacheError } from '../errors.ts'

const utf8 = new TextDecoder('utf-8', { fatal: true })
/** More states than this in one update is not a membership message. */
const MAX_STATES_PER_UPDATE = 4096

export interface MemberState {
  origin: string
  nodeId: string
  incarnation: string
  region: string
  namespaces: string[]
  /** The last sequence number this member issued: its own entry of its state vector. */
  seq: number
  /**
   * What the member advertises (`cache.advertise`): name → JSON value.
   * Optional on the wire: an instance of an older version sends none.
   */
  meta?: Record<string, unknown>
  /**
   * Epoch ms, on the member's own clock, of its latest renewal or change.
   * A copy relayed later (a greeting) is judged by it, not by its arrival.
   * Optional on the wire: an instance of an older version sends none.
   */
  renewed?: number
  /**
   * The member's own transport id (the libp2p peer id its peers' `connectedPeers()`
   * list), so that in a partial mesh a direct link can be told from a member
   * heard through a neighbour (`PeerInfo.peer`). Optional on the wire: an
   * instance of an older version sends none.
   */
  transportId?: string
}

export interface PeerInfo extends MemberState {
  /** What the member advertises (`cache.advertise`), `{}` when nothing. */
  meta: Record<string, unknown>
  /** The transport id frames from this member arrive from. */
  peer: string
  /** Local epoch ms when its state was last renewed. */
  lastSeen: number
  /**
   * Whether its connection is open now (`cache.peers()`); where the mesh relays
   * (a partial mesh), whether the neighbour its state came through is, or its
   * renewals kept arriving (the last within 15 s). A live member that is not
   * connected is partitioned away, or gone without a goodbye (killed): its
   * state lasts until it is stale (30 s).
   */
  connected?: boolean
}

export function isMemberState (s: unknown): s is MemberState {
  const m = s as MemberState
  return typeof m === 'object' && m !== null && typeof m.origin === 'string' && typeof m.nodeId === 'string' &&
    typeof m.incarnation === 'string' && typeof m.region === 'string' && Array.isArray(m.namespaces) &&
    m.namespaces.every((n) => typeof n === 'string') && Number.isSafeInteger(m.seq) && m.seq >= 0 &&
    (m.transportId === undefined || (typeof m.transportId === 'string' && m.transportId.length <= MAX_TRANSPORT_ID))
}

/** Longer than any transport id (a libp2p peer id is 52 characters). */
const MAX_TRANSPORT_ID = 200

export function pick (s: MemberState): MemberState & { meta: Record<string, unknown> } {
  // A member's metadata is copied: a caller may change what peers() returned.
  const meta = isPlainObject(s.meta) && Object.keys(s.meta).length !== 0 ? structuredClone(s.meta) : {}
  const info = { origin: s.origin, nodeId: s.nodeId, incarnation: s.incarnation, region: s.region, namespaces: [...s.namespaces], seq: s.seq, meta }
  return s.transportId === undefined ? info : { ...info, transportId: s.transportId }
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Decodes a whole awareness update without applying it:
 *   update := count:varuint • (clientId:varuint • clock:varuint • state:varstring(JSON))*count
 */
export function validateAwarenessUpdate (update: Uint8Array): void {
  const decoder = decoding.createDecoder(update)
  try {
    const n = decoding.readVarUint(decoder)
    if (n > MAX_STATES_PER_UPDATE) throw new Error(`${n} states in one update`)
    for (let i = 0; i < n; i++) {
      decoding.readVarUint(decoder)
      decoding.readVarUint(decoder)
      const len = decoding.readVarUint(decoder)
      if (len > update.length - decoder.pos) throw new Error('state ends past the update')
      JSON.parse(utf8.decode(decoding.readUint8Array(decoder, len)))
    }
    if (decoding.hasContent(decoder)) throw new Error('bytes follow the last state')
  } catch (cause) {
    throw new MeshCacheError(ErrorCode.FRAME_MALFORMED, `awareness update is malformed: ${(cause as Error).message}`, { cause })
  }
}
