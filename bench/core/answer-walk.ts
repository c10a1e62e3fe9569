/**
 * How long an instance holding 250,000 keys (every write a new key, as after
 * bench:mesh's 20,000 writes/s) takes to answer a periodic anti-entropy
 * round, for two requesters:
 * - one that has seen every number of the one writer (a flowing origin,
 *   SPEC §6): the answer is empty, and the table's highest counters say so
 *   without a walk (EntryTable.nothingBeyond);
 * - one a single number behind: one record is owed, and every key is walked
 *   to find it.
 * The walk goes a chunk of slots per event-loop turn (records-beyond.ts):
 * this prints the longest synchronous run while an answer is built (what
 * delays the frames behind it) and the time until the answer is sent, each
 * the best of 20, beside the whole walk in one run.
 *
 *   node bench/core/answer-walk.ts
 */
import { createMeshCache } from '../../lib/index.ts'
import { MessageType, RecordKind } from '../../protocol/constants.ts'
import { encodeFrame } from '../../protocol/frame.ts'
import { SyntheticOrigin } from './updates.ts'
import { captureTransport } from './util.ts'

const N = 250_000
const WRITER = 'bench-peer~0000bench'
let answered = false
const transport = captureTransport(() => { answered = true })
const cache = await createMeshCache<string>({ namespace: 'answer-walk', mode: 'invalidate', max: 200_000, ttl: 600_000, transport })
const handler = transport.handler()
const keys = Array.from({ length: N }, (_, i) => `user:${i}`)
const origin = new SyntheticOrigin(WRITER, keys, false)
for (const frame of origin.frames(Array.from({ length: N }, (_, i) => i), 100, RecordKind.INVALIDATE)) handler.onFrame('bench-peer', frame)
/** One event-loop turn, timed: what ran in it besides us is a chunk of the walk. */
const timedTurn = async (): Promise<number> => {
  const t = performance.now()
  await new Promise((resolve) => setImmediate(resolve))
  return performance.now() - t
}
let syncId = 0
async function answerTo (seen: number, label: string): Promise<void> {
  const sv = new Map([[WRITER, seen]])
  let bestLongest = Infinity
  let bestSum = Infinity
  let bestAnswer = Infinity
  for (let i = 0; i < 20; i++) {
    const request = encodeFrame({ type: MessageType.SYNC_STEP1, syncId: ++syncId, sv })
    answered = false
    const t = performance.now()
    handler.onFrame('bench-peer', request)
    let longest = performance.now() - t
    let sum = longest
    while (!answered) {
      const took = await timedTurn()
      longest = Math.max(longest, took)
      sum += took
    }
    bestAnswer = Math.min(bestAnswer, performance.now() - t)
    bestLongest = Math.min(bestLongest, longest)
    bestSum = Math.min(bestSum, sum)
  }
  // The sum of the runs is what the walk costs in all.
  process.stdout.write(`answer over ${N} keys, ${label}: longest synchronous run ${bestLongest.toFixed(2)} ms; answer sent after ${bestAnswer.toFixed(2)} ms, its runs summing to ${bestSum.toFixed(2)} ms\n`)
}
await answerTo(N, 'requester has seen everything (no walk)')
await answerTo(N - 1, 'requester one number behind (a walk)')
await cache.close()
