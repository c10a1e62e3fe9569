/**
 * The floor (`libp2p-stream`) with a fixed breadth of code run per write:
 * the writer calls W distinct small functions before each publish, and a
 * receiver calls R as each frame is read, before it reports the write. W,R
 * come from `MESHCACHE_BENCH_BREADTH=W,R` (default 35,86: how many more
 * functions meshcache's writer and receiver call a write than the floor's,
 * `node bench/mesh/cold-path.ts --breadth`).
 *
 * Each function does a few arithmetic operations on one object: next to no
 * CPU when its code is in the caches. `libp2p-stream-spin` adds CPU time and
 * nothing else; this adds code and next to no time. Beside `libp2p-stream`,
 * its p50 ratio at 1,000 writes/s says what that much code costs a write in
 * place, where a process finds its caches written over by the stack, its
 * timers and the other processes between two writes.
 */
import { floorNode, system as floor } from './libp2p-stream.ts'
import type { System } from './types.ts'

function breadths (): [number, number] {
  const raw = process.env.MESHCACHE_BENCH_BREADTH ?? '35,86'
  const [w, r] = raw.split(',').map(Number)
  if (!Number.isInteger(w) || !Number.isInteger(r) || (w as number) < 0 || (r as number) < 0) {
    throw new TypeError(`MESHCACHE_BENCH_BREADTH must be W,R, two whole numbers of functions (>= 0), got ${JSON.stringify(raw)}`)
  }
  return [w as number, r as number]
}

interface Acc { a: number, b: number }

/**
 * `n` distinct functions, each its own code (made from its own source, so the
 * engine cannot share one body between them), called in a row by one more.
 */
function chain (n: number): (acc: Acc) => number {
  const fns: Array<(acc: Acc) => number> = []
  for (let i = 0; i < n; i++) {
    // eslint-disable-next-line no-new-func -- distinct code per function is the point
    fns.push(new Function('o', `o.a = (o.a * ${i + 3} + ${i * 7 + 1}) % 1000003; if (o.a % ${i + 2} === 0) o.b += ${i}; return o.a ^ o.b`) as (acc: Acc) => number)
  }
  return (acc) => {
    let x = 0
    for (let i = 0; i < fns.length; i++) x += (fns[i] as (acc: Acc) => number)(acc)
    return x
  }
}

export const system: System = {
  name: 'libp2p-stream-breadth',
  setup: floor.setup,
  async node (ctx) {
    const [writerFns, receiverFns] = breadths()
    const acc: Acc = { a: 1, b: 2 }
    if (ctx.role === 'writer') {
      const run = chain(writerFns)
      const handle = await floorNode(ctx)
      return {
        address: handle.address,
        publish (seq) {
          acc.b += run(acc) & 1
          return handle.publish?.(seq)
        },
        close: () => handle.close(),
      }
    }
    const run = chain(receiverFns)
    return await floorNode({ ...ctx, received (seq) { acc.b += run(acc) & 1; ctx.received(seq) } })
  },
}
