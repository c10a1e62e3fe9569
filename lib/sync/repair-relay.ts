/**
 * The repair relay (SPEC.md §6.1): in a partial mesh, records that an
 * anti-entropy answer merged here as new are re-published once on the
 * namespace's broadcast, which the transport relays hop by hop.
 *
 * Why: repair is transitive in a partial mesh (§11.1), one hop per exchange,
 * and the exchanges after the first wait for an announcement tick or a
 * periodic round. After a healed cut, the few nodes with a link across it
 * repair first, and the rest of their side learnt of the writes only seconds
 * later (a region cut: 1.3-21 s, bench/README.md). Relayed, the repaired
 * records cross the side in one pass of the relay, as a write would.
 *
 * The frame is a SYNC_STEP2 with syncId RELAYED_SYNC_ID (0, never a session's
 * id), no state vector and part 0 of 1: an older receiver merges it as an
 * unsolicited answer part and stops there. A receiver merges its records as
 * ordinary remote updates and never relays them again (only an answer to its
 * own request is a repair), so a record crosses the relay once per repairer.
 * They are not the origin's UPDATES: no sequence number is marked, so they
 * neither open a gap nor count as the origin's frames flowing (§5); the
 * receiver's state vector still rises only through its own exchanges.
 *
 * Bounded: at most RELAY_BUDGET records a second (a token bucket on the
 * cache's clock); past that a repair is not relayed and the ordinary
 * transitive repair carries it. Batched: the records of one synchronous run
 * (an answer part, or several) leave together at its end (a microtask), split
 * like any answer.
 */
import { encodeFrame } from '../../protocol/frame.ts'
import { MessageType, TARGET_FRAME_BYTES } from '../../protocol/constants.ts'
import type { WireRecord } from '../../protocol/record.ts'
import { afterThisRun } from '../core/runtime.ts'
import { splitRecords } from './outbox.ts'

/** The syncId of a relayed repair: sessions start at 1 (anti-entropy.ts). */
export const RELAYED_SYNC_ID = 0

/** Records relayed per second at most (and the most relayed at once). */
export const RELAY_BUDGET = 4_096

export interface RepairRelayHost {
  /** Whether broadcasts reach peers beyond the neighbours (a partial mesh's relay): only then is relaying worth it. */
  relays (): boolean
  broadcast (frame: Uint8Array): void
  now (): number
}

export class RepairRelay {
  readonly #host: RepairRelayHost
  readonly #maxRecords: number
  readonly #maxOrigins: number
  #pending: WireRecord[] = []
  #scheduled = false
  #tokens = RELAY_BUDGET
  #refilledAt: number | undefined
  /** Records relayed, and those the budget left to ordinary repair (stats, tests). */
  relayed = 0
  skipped = 0

  constructor (host: RepairRelayHost, maxRecords: number, maxOrigins = Infinity) {
    this.#host = host
    this.#maxRecords = maxRecords
    this.#maxOrigins = maxOrigins
  }

  /** Records an answer merged here as new: relayed at the end of this run, if the mesh relays and the budget allows. */
  offer (records: readonly WireRecord[]): void {
    if (records.length === 0 || !this.#host.relays()) return
    this.#refill()
    const take = Math.min(records.length, Math.floor(this.#tokens))
    this.#tokens -= take
    this.skipped += records.length - take
    if (take === 0) return
    for (let i = 0; i < take; i++) this.#pending.push(records[i] as WireRecord)
    if (!this.#scheduled) {
      this.#scheduled = true
      afterThisRun(this.#flush)
    }
  }

  #refill (): void {
    const now = this.#host.now()
    if (this.#refilledAt !== undefined) this.#tokens = Math.min(RELAY_BUDGET, this.#tokens + (now - this.#refilledAt) * RELAY_BUDGET / 1_000)
    this.#refilledAt = now
  }

  readonly #flush = (): void => {
    this.#scheduled = false
    const records = this.#pending
    this.#pending = []
    this.relayed += records.length
    for (const run of splitRecords(records, TARGET_FRAME_BYTES, this.#maxRecords, this.#maxOrigins)) {
      this.#host.broadcast(encodeFrame({ type: MessageType.SYNC_STEP2, syncId: RELAYED_SYNC_ID, part: 0, parts: 1, sv: new Map(), records: run }))
    }
  }
}
