import type { Scenario } from './systems/types.ts'

/** Messages between the bench process and its node processes (IPC, advanced serialization). */

export type ToNode =
  | { t: 'init', system: string, scenario: Scenario, index: number, n: number, config: unknown, peers: unknown[] }
  /** Writer: publish one probe every `everyMs` until `probe-stop`; seqs start at `from`. */
  | { t: 'probe-start', from: number, everyMs: number }
  | { t: 'probe-stop' }
  /** Writer: publish `rate`/s (or as fast as possible when rate is 0) for `seconds`, seqs from `from`. */
  | { t: 'run', from: number, rate: number, seconds: number }
  /** Receiver: reply once every seq in [from, to) arrived, or nothing arrived for `idleMs`. */
  | { t: 'collect', from: number, to: number, idleMs: number }
  /** Forwarded to `NodeHandle.command`; answered with `result`. */
  | { t: 'command', id: number, name: string, args: unknown }
  | { t: 'close' }

export type FromNode =
  | { t: 'loaded' }
  | { t: 'ready', address: unknown }
  /** Receiver: the first invalidation arrived (the path is up). */
  | { t: 'first' }
  /** Writer: probing stopped; the next seq is `next`. */
  | { t: 'probe-stopped', next: number }
  /** Writer: send times of seqs [from, from + sent.length), ms (CLOCK_MONOTONIC). */
  | { t: 'ran', from: number, sent: Float64Array }
  /** Receiver: receive times of seqs [from, to), NaN where missing; `duplicates` over the whole run. */
  | { t: 'collected', received: Float64Array, duplicates: number }
  | { t: 'result', id: number, value: unknown }
  | { t: 'closed' }
  | { t: 'error', message: string }
