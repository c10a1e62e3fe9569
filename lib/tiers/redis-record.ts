/**
 * How the Redis tier stores one key: a single Redis string holding the
 * version and the value together, so every conditional write is one
 * single-key script (atomic on one server and in Cluster, with no hash tag).
 *
 *   record := FORMAT • kind • hlc • writerLength • writer • state • basesLength • bases • expiresAt • payload
 *
 *   FORMAT       '2'
 *   kind         'w' a value a write stored | 'f' a value a load filled | 't' a tombstone
 *   hlc          16 ASCII decimal digits, zero padded (the HLC fits in 2^53)
 *   writerLength 2 lowercase hex digits, bytes of writer (≤ 255)
 *   writer       the origin that wrote (empty for a fill)
 *   state        16 lowercase hex digits: the digest of what the writing or loading instance knew of the
 *                key and its bases (lib/tiers/link.ts); the read guard serves the value only where that
 *                knowledge is the same. Zeros for a tombstone
 *   basesLength  6 lowercase hex digits, bytes of bases
 *   bases        the value's bases (tag keys included) joined by U+001F, UTF-8; empty when none
 *   expiresAt    13 ASCII decimal digits: epoch ms at which the value stops being fresh (0 for a tombstone)
 *   payload      the cache codec's bytes (empty for a tombstone)
 *
 * SPEC.md §14 has the rules; WRITE_SCRIPT is the only place they run in Redis.
 */
import { createHash } from 'node:crypto'
import { NO_STATE } from './tier.ts'

export const RECORD_FORMAT = '2'
export const KIND_WRITE = 'w'
export const KIND_FILL = 'f'
export const KIND_TOMBSTONE = 't'
export type RecordKindChar = typeof KIND_WRITE | typeof KIND_FILL | typeof KIND_TOMBSTONE

const HLC_DIGITS = 16
const HEADER = 2 + HLC_DIGITS // format, kind, hlc
const MAX_WRITER_BYTES = 0xff
const MAX_BASES_BYTES = 0xffffff
const BASES_SEPARATOR = '\u001f'
const EXPIRES_DIGITS = 13
const STATE_DIGITS = NO_STATE.length

/**
 * The conditional write of a value or tombstone (KEYS[1] the key, ARGV[1]
 * the record, ARGV[2] its lifetime in ms). It replaces what the key holds
 * unless that is a write (value or tombstone) with a version at least as
 * new, compared as (hlc, writer), the mesh's own tie-break (lib/core/entry.ts
 * `wins`). A filled value never blocks a write: a write is always newer
 * news than a load. Returns 1 when stored, 0 when refused. The fields it
 * reads (kind, hlc, writer) sit where format 1 had them, so a record an
 * older release wrote is ordered too.
 */
export const WRITE_SCRIPT = `local cur = redis.call('GET', KEYS[1])
local new = ARGV[1]
local format = cur and string.sub(cur, 1, 1)
if (format == '2' or format == '1') and string.sub(cur, 2, 2) ~= 'f' then
  local curHlc = tonumber(string.sub(cur, 3, 18))
  local newHlc = tonumber(string.sub(new, 3, 18))
  if curHlc > newHlc then return 0 end
  if curHlc == newHlc then
    local cw = string.sub(cur, 21, 20 + tonumber(string.sub(cur, 19, 20), 16))
    local nw = string.sub(new, 21, 20 + tonumber(string.sub(new, 19, 20), 16))
    if cw >= nw then return 0 end
  end
end
redis.call('SET', KEYS[1], new, 'PX', ARGV[2])
return 1`

export const WRITE_SCRIPT_SHA = createHash('sha1').update(WRITE_SCRIPT).digest('hex')

export interface DecodedRecord {
  kind: RecordKindChar
  hlc: number
  writer: string
  /** The digest of what its writer or loader knew of the key and its bases (NO_STATE for a tombstone). */
  state: string
  bases: string[] | undefined
  /** Epoch ms at which the value stops being fresh (0 for a tombstone). */
  expiresAt: number
  /** A view into the record's buffer. */
  payload: Uint8Array
}

const encoder = new TextEncoder()

/** Builds a record; throws a RangeError for a writer or bases too long to store (the caller counts it). */
export function encodeRecord (kind: RecordKindChar, hlc: number, writer: string, state: string, bases: string[] | undefined, expiresAt: number, payload: Uint8Array | undefined): Buffer {
  const w = Buffer.from(writer, 'utf8')
  if (w.length > MAX_WRITER_BYTES) throw new RangeError(`writer id of ${w.length} bytes exceeds ${MAX_WRITER_BYTES}`)
  if (!/^[0-9a-f]{16}$/.test(state)) throw new RangeError(`state ${JSON.stringify(state)} is not ${STATE_DIGITS} lowercase hex digits`)
  const b = bases === undefined || bases.length === 0 ? EMPTY : encoder.encode(bases.join(BASES_SEPARATOR))
  if (b.length > MAX_BASES_BYTES) throw new RangeError(`bases of ${b.length} bytes exceed ${MAX_BASES_BYTES}`)
  const head = `${RECORD_FORMAT}${kind}${String(hlc).padStart(HLC_DIGITS, '0')}${hex(w.length, 2)}`
  const p = payload ?? EMPTY
  const out = Buffer.allocUnsafe(HEADER + 2 + w.length + STATE_DIGITS + 6 + b.length + EXPIRES_DIGITS + p.length)
  let at = out.write(head, 0, 'latin1')
  at += w.copy(out, at)
  at += out.write(state, at, 'latin1')
  at += out.write(hex(b.length, 6), at, 'latin1')
  out.set(b, at)
  at += b.length
  at += out.write(String(Math.max(0, Math.floor(expiresAt))).padStart(EXPIRES_DIGITS, '0'), at, 'latin1')
  out.set(p, at)
  return out
}

/** Parses a record; undefined for bytes that are not a record of this format (the caller treats them as a miss). */
export function decodeRecord (buf: Uint8Array): DecodedRecord | undefined {
  const n = buf.length
  if (n < HEADER + 2 + STATE_DIGITS + 6 || buf[0] !== 0x32) return undefined
  const kind = buf[1] === 0x77 ? KIND_WRITE : buf[1] === 0x66 ? KIND_FILL : buf[1] === 0x74 ? KIND_TOMBSTONE : undefined
  if (kind === undefined) return undefined
  // Byte by byte: this runs on every L2 hit, and a string per field costs more than the digits.
  const hlc = digits(buf, 2, HEADER, 10)
  const wl = digits(buf, HEADER, HEADER + 2, 16)
  if (hlc < 0 || wl < 0) return undefined
  let at = HEADER + 2
  if (at + wl + STATE_DIGITS + 6 > n) return undefined
  const text = Buffer.from(buf.buffer, buf.byteOffset, n)
  const writer = wl === 0 ? '' : text.toString('utf8', at, at + wl)
  at += wl
  if (digits(buf, at, at + STATE_DIGITS, 16) < 0) return undefined
  const state = text.toString('latin1', at, at + STATE_DIGITS)
  at += STATE_DIGITS
  const bl = digits(buf, at, at + 6, 16)
  if (bl < 0 || at + 6 + bl + EXPIRES_DIGITS > n) return undefined
  at += 6
  const bases = bl === 0 ? undefined : text.toString('utf8', at, at + bl).split(BASES_SEPARATOR)
  at += bl
  const expiresAt = digits(buf, at, at + EXPIRES_DIGITS, 10)
  if (expiresAt < 0) return undefined
  at += EXPIRES_DIGITS
  return { kind, hlc, writer, state, bases, expiresAt, payload: buf.subarray(at) }
}

/** The number written in `buf[from, to)` in `radix` (10, or 16 lowercase); -1 for any other byte. */
function digits (buf: Uint8Array, from: number, to: number, radix: 10 | 16): number {
  let v = 0
  for (let i = from; i < to; i++) {
    const c = buf[i] as number
    let d: number
    if (c >= 0x30 && c <= 0x39) d = c - 0x30
    else if (radix === 16 && c >= 0x61 && c <= 0x66) d = c - 0x57
    else return -1
    v = v * radix + d
  }
  return v
}

const EMPTY = new Uint8Array(0)

function hex (n: number, width: number): string {
  return n.toString(16).padStart(width, '0')
}
