/**
 * Batches this instance's own updates per synchronous run (until the next `await`): every write made
 * in one synchronous run leaves in one frame, at the end of that run (a
 * microtask), so a lone write is not delayed and a burst costs one frame.
 * Frames are split to stay under TARGET_FRAME_BYTES and the record limit.
 */
import { encodeFrame } from '../../protocol/frame.ts'
import { canSendLone, encodeLone, isLoneRecord } from '../../protocol/lone.ts'
import { MessageType, TARGET_FRAME_BYTES } from '../../protocol/constants.ts'
import type { WireRecord } from '../../protocol/record.ts'
import { afterThisRun } from '../core/runtime.ts'

/** A cheap upper bound of a record's encoded size. */
export function estimateRecordBytes (r: WireRecord): number {
  return r.key.length * 3 + 24 + r.vv.length * 6 + (r.value?.byteLength ?? 0)
}

/**
 * Splits records into runs whose estimated size, count and origin table (the
 * writers and vector origins of a run's records, plus `origin` if given: an
 * UPDATES frame's own) stay under the limits a receiver enforces (SPEC §3.3).
 * A record's own origins fit: its vector is bounded by maxOrigins (SPEC §4).
 */
export function splitRecords (records: WireRecord[], maxBytes: number, maxRecords: number, maxOrigins = Infinity, origin?: string): WireRecord[][] {
  const out: WireRecord[][] = []
  let run: WireRecord[] = []
  let bytes = 0
  const origins = new Set<string>()
  if (origin !== undefined) origins.add(origin)
  for (const r of records) {
    const size = estimateRecordBytes(r)
    if (run.length > 0 && (bytes + size > maxBytes || run.length >= maxRecords || newOrigins(r, origins) + origins.size > maxOrigins)) {
      out.push(run)
      run = []
      bytes = 0
      origins.clear()
      if (origin !== undefined) origins.add(origin)
    }
    run.push(r)
    bytes += size
    origins.add(r.writer)
    for (let i = 0; i < r.vv.length; i += 2) origins.add(r.vv[i] as string)
  }
  if (run.length > 0) out.push(run)
  return out
}

/** How many of `r`'s origins (writer and vector) `seen` lacks. Its writer has a vector entry (SPEC §3.4). */
function newOrigins (r: WireRecord, seen: ReadonlySet<string>): number {
  let n = 0
  for (let i = 0; i < r.vv.length; i += 2) if (!seen.has(r.vv[i] as string)) n++
  return n
}

export class Outbox {
  readonly #origin: string
  readonly #send: (frame: Uint8Array) => void
  readonly #maxRecords: number
  readonly #maxOrigins: number
  /** Whether this origin's lone writes can go as lone frames (protocol/lone.ts): decided once, not per write. */
  readonly #lone: boolean
  #records: WireRecord[] = []
  #firstSeq = 0
  #scheduled = false

  /** Sends a lone write without its frame, if the transport can (SPEC §11, "Lone writes"); false: send the frame. */
  readonly #sendLone: (seq: number, record: WireRecord) => boolean

  constructor (origin: string, maxRecords: number, send: (frame: Uint8Array) => void, maxOrigins = Infinity, sendLone: (seq: number, record: WireRecord) => boolean = () => false) {
    this.#origin = origin
    this.#sendLone = sendLone
    this.#lone = canSendLone(origin)
    this.#maxRecords = maxRecords
    this.#maxOrigins = maxOrigins
    this.#send = send
  }

  /** Queues the origin's write number `seq` (numbers arrive consecutively). */
  push (seq: number, record: WireRecord): void {
    if (this.#records.length === 0) this.#firstSeq = seq
    this.#records.push(record)
    if (!this.#scheduled) {
      this.#scheduled = true
      afterThisRun(this.flush)
    }
  }

  // Short on purpose: V8 moves a function to its optimizing tier after it has run about its whole bytecode some
  // thousands of times, and an early return counts for as far as it got. With the batch's path in here, a lone
  // write's return came early and flush ran Maglev's code for its first 30,000 writes (bench/mesh/tier-up.ts).
  readonly flush = (): void => {
    this.#scheduled = false
    const records = this.#records
    if (records.length === 0) return
    this.#records = []
    const seq = this.#firstSeq
    const first = records[0] as WireRecord
    if (records.length === 1 && this.#lone && isLoneRecord(this.#origin, seq, first)) {
      if (!this.#sendLone(seq, first)) this.#send(encodeLone(this.#origin, seq, first))
    } else this.#sendFrames(records, seq)
  }

  /** Every record but a lone write's, in frames split to the limits, numbered from `seq`. */
  #sendFrames (records: WireRecord[], seq: number): void {
    // A lone write (most of them, at modest rates) is one frame whatever the limits (splitRecords): its run is the
    // list itself, without the split's Set and lists on a cold path.
    const runs = records.length === 1 ? [records] : splitRecords(records, TARGET_FRAME_BYTES, this.#maxRecords, this.#maxOrigins, this.#origin)
    for (const run of runs) {
      this.#send(encodeFrame({ type: MessageType.UPDATES, origin: this.#origin, firstSeq: seq, records: run }))
      seq += run.length
    }
  }

  get pending (): number {
    return this.#records.length
  }
}
