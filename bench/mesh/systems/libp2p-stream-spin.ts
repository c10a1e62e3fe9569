/**
 * The floor (`libp2p-stream`) with a fixed amount of CPU spent per write:
 * the writer spins W µs before each publish (where a cache does its own
 * work for the write before the frame leaves), and a receiver spins R µs as
 * each frame is read, before it reports the write (where a cache decodes and
 * merges before the write takes effect). W,R come from
 * `MESHCACHE_BENCH_SPIN=W,R` (µs; default 5,5).
 *
 * Nothing else differs from the floor: no bytes, no memory touched, no code
 * but a clock read in a loop. So, in one run beside `libp2p-stream`, its p50
 * ratio says what W and R µs of CPU a write cost in latency on this machine
 * (5 processes on 2 cores): the budget a design on this stack has under a
 * target ratio, whatever the work is.
 */
import { floorNode, system as floor } from './libp2p-stream.ts'
import type { System } from './types.ts'

function spinTimes (): [number, number] {
  const raw = process.env.MESHCACHE_BENCH_SPIN ?? '5,5'
  const [w, r] = raw.split(',').map(Number)
  if (!Number.isFinite(w) || !Number.isFinite(r) || (w as number) < 0 || (r as number) < 0) {
    throw new TypeError(`MESHCACHE_BENCH_SPIN must be W,R in µs (two numbers >= 0), got ${JSON.stringify(raw)}`)
  }
  return [w as number, r as number]
}

/** Busy for `us` µs of wall time, on the CPU (a loop on the monotonic clock). */
function spin (us: number): void {
  if (us <= 0) return
  const until = performance.now() + us / 1000
  while (performance.now() < until) { /* spin */ }
}

export const system: System = {
  name: 'libp2p-stream-spin',
  setup: floor.setup,
  async node (ctx) {
    const [writerUs, receiverUs] = spinTimes()
    if (ctx.role === 'writer') {
      const handle = await floorNode(ctx)
      return {
        address: handle.address,
        publish (seq) {
          spin(writerUs)
          return handle.publish?.(seq)
        },
        close: () => handle.close(),
      }
    }
    return await floorNode({ ...ctx, received (seq) { spin(receiverUs); ctx.received(seq) } })
  },
}
