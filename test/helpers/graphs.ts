/**
 * Random connected graphs for the memory network's `links` (a partial mesh):
 * the convergence suite's and whenReplicated's seeded runs.
 */
import * as prng from 'lib0/prng'

/** A random connected graph on `names`, not complete: a random spanning tree plus a few more edges. */
export function randomGraph (gen: prng.PRNG, names: string[], extra = 0.2): Array<[string, string]> {
  const edges: Array<[string, string]> = []
  const has = new Set<string>()
  const add = (a: string, b: string): void => {
    const key = a < b ? `${a} ${b}` : `${b} ${a}`
    if (a === b || has.has(key)) return
    has.add(key)
    edges.push([a, b])
  }
  for (let i = 1; i < names.length; i++) add(names[i] as string, names[prng.int32(gen, 0, i - 1)] as string)
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) if (prng.real53(gen) < extra) add(names[i] as string, names[j] as string)
  }
  // Never complete: remove one edge whose loss keeps the graph connected (one off the tree exists if complete).
  if (edges.length === names.length * (names.length - 1) / 2) edges.pop()
  return edges
}

/** The longest shortest path (hops) of a connected graph. */
export function diameter (names: string[], edges: Array<[string, string]>): number {
  const next = new Map<string, string[]>(names.map((n) => [n, []]))
  for (const [a, b] of edges) { next.get(a)?.push(b); next.get(b)?.push(a) }
  let longest = 0
  for (const start of names) {
    const dist = new Map([[start, 0]])
    const queue = [start]
    for (let q = queue.shift(); q !== undefined; q = queue.shift()) {
      for (const m of next.get(q) ?? []) if (!dist.has(m)) { dist.set(m, (dist.get(q) ?? 0) + 1); queue.push(m) }
    }
    if (dist.size !== names.length) throw new Error('graph is not connected')
    longest = Math.max(longest, ...dist.values())
  }
  return longest
}

