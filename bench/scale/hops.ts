/**
 * `node bench/scale/hops.ts`: what transitive repair costs. A chain of 7
 * instances on the memory network (auto delivery, 0-2 ms a hop, the cache's
 * default timers: announcements every 2 s, a periodic round every 10 s,
 * awareness renewed every 15 s). The writer's link to its only neighbour is
 * cut, it writes one key, the link comes back; printed: when each instance,
 * 1 to 6 hops away, held the write. `--spread` relays broadcasts hop by hop
 * (gossipsub-like); without it only anti-entropy carries the write on.
 * Real time (the timers are the point): up to a minute.
 */
import { createMeshCache, type MeshCache } from '../../lib/index.ts'
import { createMemoryNetwork } from '../../lib/testing/index.ts'
import { parseCli } from '../../test/helpers/cli.ts'

const USAGE = 'usage: node bench/scale/hops.ts [--nodes 7] [--spread]'
const values = parseCli(USAGE, { spread: { type: 'boolean', default: false }, nodes: { type: 'string', default: '7' } })
const n = Number(values.nodes)
const names = Array.from({ length: n }, (_, i) => `n${i}`)
const chain = names.slice(1).map((name, i): [string, string] => [names[i] as string, name])
const net = createMemoryNetwork({ auto: true, latency: [0, 2], links: chain, spread: values.spread === true })
const caches: Array<MeshCache<string>> = []
for (const name of names) caches.push(await createMeshCache<string>({ namespace: 'hops', nodeId: name, mode: 'replicate', transport: net.transport(name) }))
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const until = async (done: () => boolean, limitMs: number): Promise<boolean> => {
  const end = performance.now() + limitMs
  while (!done()) { if (performance.now() > end) return false; await sleep(5) }
  return true
}
caches[0]?.set('warm', 'x')
await until(() => caches.every((c) => c.get('warm') === 'x'), 60_000)
net.setLinks(chain.slice(1)) // the writer is cut off from its neighbour
caches[0]?.set('k', 'v')
await sleep(50)
const healAt = performance.now()
net.setLinks(chain)
const at: number[] = new Array(n).fill(Number.NaN)
await until(() => {
  for (const [i, c] of caches.entries()) if (Number.isNaN(at[i]) && c.get('k') === 'v') at[i] = performance.now() - healAt
  return at.every((t) => !Number.isNaN(t))
}, 90_000)
process.stdout.write(`chain of ${n}, ${values.spread === true ? 'spread (gossipsub-like)' : 'anti-entropy only'}: ms from the link's return until each hop held the write: ${at.slice(1).map((t, i) => `${i + 1} hop${i === 0 ? '' : 's'} ${Number.isNaN(t) ? 'never (90 s)' : t.toFixed(0)}`).join(', ')}\n`)
for (const c of caches) await c.close()
