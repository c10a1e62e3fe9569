/**
 * The replicated state of one key: what the CRDT merges. The value itself
 * lives in the LRU (so a read is one LRU lookup); this is the metadata.
 */
import type { RecordKindValue } from '../protocol/constants.ts'
import type { WireRecord } from '../protocol/record.ts'
import type { VersionVector } from './version-vector.ts'

export class Entry {
  kind: RecordKindValue
  hlc: number
  writer: string
  vv: VersionVector
  /** Lifetime of the value in ms, counted from the write's physical time. */
  ttl: number
  /** Whether the LRU holds a value for this state. */
  hasValue: boolean
  /** When (local ms) the entry lost its value, for the GC queue; 0 while it has one. */
  deadSince: number

  constructor (kind: RecordKindValue, hlc: number, writer: string, vv: VersionVector, ttl: number) {
    this.kind = kind
    this.hlc = hlc
    this.writer = writer
    this.vv = vv
    this.ttl = ttl
    this.hasValue = false
    this.deadSince = 0
  }

  static fromRecord (r: WireRecord, ttl: number): Entry {
    return new Entry(r.kind, r.hlc, r.writer, r.vv, ttl)
  }
}

/**
 * Deterministic total order of writes for conflict resolution: higher HLC
 * wins, then the higher writer id. The same write has the same (hlc, writer)
 * everywhere, and HLC timestamps from one origin are strictly increasing.
 */
export function wins (aHlc: number, aWriter: string, bHlc: number, bWriter: string): boolean {
  return aHlc > bHlc || (aHlc === bHlc && aWriter > bWriter)
}
