/** Builds N caches on one seeded memory network with one manual clock. */
import { createMeshCache, type MeshCache, type MeshCacheOptions } from '../../lib/index.ts'
import { createMemoryNetwork, createTestClock, type MemoryNetwork, type MemoryNetworkOptions, type TestClock } from '../../lib/testing/index.ts'

export interface Cluster<V extends {}> {
  net: MemoryNetwork
  clock: TestClock
  nodes: Array<MeshCache<V>>
  names: string[]
  close(): Promise<void>
}

export async function cluster<V extends {} = {}> (
  n: number,
  options: Partial<MeshCacheOptions<V>> = {},
  netOptions: MemoryNetworkOptions = {},
): Promise<Cluster<V>> {
  const net = createMemoryNetwork(netOptions)
  const clock = createTestClock()
  const names = Array.from({ length: n }, (_, i) => `n${i}`)
  const nodes: Array<MeshCache<V>> = []
  for (const name of names) {
    nodes.push(await createMeshCache<V>({
      namespace: 'test',
      nodeId: name,
      now: clock.now,
      syncInterval: 0,
      ...options,
      transport: net.transport(name),
    }))
  }
  return { net, clock, nodes, names, close: async () => { for (const c of nodes) await c.close() } }
}
