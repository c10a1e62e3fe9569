/**
 * Batches this instance's own updates per synchronous run (until the next `await`): every write made
 * in one synchronous run leaves in one frame, at the end of that run (a
 * microtask), so a lone write is not delayed and a burst costs one frame.
 * Frames are split to stay under TARGET_FRAME_BYTES and the record limit.
 */
import { encodeFrame } from '../../protocol/frame.ts'
import { MessageType, TARGET_FRAME_BYTES } from '../../protocol/constants.ts'
import type { WireRecord } from '../../protocol/record.ts'

/** A cheap upper bound of a record's encoded size. */
export function estimateRecordBytes (r: WireRecord): number {
  return r.key.length * 3 + 24 + r.vv.length * 6 + (r.value?.byteLength ?? 0)
}

/** Splits records into runs whose estimated size and count stay under the limits. */
export function splitRecords (records: WireRecord[], maxBytes: number, maxRecords: number): WireRecord[][] {
  const out: WireRecord[][] = []
  let run: WireRecord[] = []
  let bytes = 0
  for (const r of records) {
    const size = estimateRecordBytes(r)
    if (run.length > 0 && (bytes + size > maxBytes || run.length >= maxRecords)) {
      out.push(run)
      run = []
      bytes = 0
    }
    run.push(r)
    bytes += size
  }
  if (run.length > 0) out.push(run)
  return out
}

export class Outbox {
  readonly #origin: string
  readonly #send: (frame: Uint8Array) => void
  readonly #maxRecords: number
  #records: WireRecord[] = []
  #firstSeq = 0
  #scheduled = false

  constructor (origin: string, maxRecords: number, send: (frame: Uint8Array) => void) {
    this.#origin = origin
    this.#maxRecords = maxRecords
    this.#send = send
  }

  /** Queues the origin's write number `seq` (numbers arrive consecutively). */
  push (seq: number, record: WireRecord): void {
    if (this.#records.length === 0) this.#firstSeq = seq
    this.#records.push(record)
    if (!this.#scheduled) {
      this.#scheduled = true
      queueMicrotask(this.flush)
    }
  }

  readonly flush = (): void => {
    this.#scheduled = false
    const records = this.#records
    if (records.length === 0) return
    this.#records = []
    let seq = this.#firstSeq
    for (const run of splitRecords(records, TARGET_FRAME_BYTES, this.#maxRecords)) {
      this.#send(encodeFrame({ type: MessageType.UPDATES, origin: this.#origin, firstSeq: seq, records: run }))
      seq += run.length
    }
  }

  get pending (): number {
    return this.#records.length
  }
}
