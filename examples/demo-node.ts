/**
 * One instance of the demo's service: a meshcache over libp2p on loopback,
 * driven by the demo (examples/demo.ts) over IPC. Its "database" lives in the
 * demo process, so a load is a real round trip to somewhere else.
 */
import { createLibp2pTransport, createMeshCache, type EvictEvent } from '../lib/index.ts'
import { serveDashboard } from '../lib/observe/dashboard/server.ts'
import { shareStats } from '../lib/observe/share.ts'

const [name = 'n0', region = 'local', peerList = ''] = process.argv.slice(2)
const now = (): number => Number(process.hrtime.bigint()) / 1e6 // one monotonic clock for every process

const transport = await createLibp2pTransport({ peers: peerList.split(',').filter(Boolean), redialInterval: 200 })
const cache = await createMeshCache<string>({ namespace: 'demo', nodeId: name, region, transport, syncInterval: 1_000 })
// Every instance shares its figures with its peers; n0 serves the dashboard of the whole mesh.
shareStats(cache)
const dashboard = name === 'n0' ? await serveDashboard(cache) : undefined

let nextQuery = 0
const queries = new Map<number, (value: string | undefined) => void>()
function queryDatabase (key: string): Promise<string | undefined> {
  const id = nextQuery++
  return new Promise((resolve) => {
    queries.set(id, resolve)
    process.send?.({ type: 'db', id, key })
  })
}

cache.on('evict', ({ key, reason }: EvictEvent) => process.send?.({ type: 'evict', node: name, key, reason, at: now() }))

type Command = { id: number, op: string, key?: string, value?: string, keys?: string[], peers?: string[] }
process.on('message', async (msg: Command | { type: 'db', id: number, value?: string }) => {
  if ('type' in msg) {
    queries.get(msg.id)?.(msg.value)
    queries.delete(msg.id)
    return
  }
  const reply = (body: object) => process.send?.({ type: 'reply', id: msg.id, ...body })
  const key = msg.key ?? ''
  switch (msg.op) {
    case 'read': {
      const cached = cache.get(key)
      if (cached !== undefined) return reply({ value: cached, from: 'cache' })
      const value = await cache.getOrLoad(key, async () => (await queryDatabase(key)) ?? 'null')
      return reply({ value, from: 'database' })
    }
    case 'write': {
      cache.set(key, msg.value as string)
      return reply({ at: now() })
    }
    case 'delete': {
      cache.delete(key)
      return reply({ at: now() })
    }
    case 'peers': return reply({ count: cache.connectedPeers().length, members: cache.peers().length })
    case 'state': return reply({ state: (msg.keys ?? []).map((k) => [k, cache.inspect(k), cache.get(k)]) })
    case 'block': transport.faults.block(msg.peers ?? []); return reply({})
    case 'heal': transport.faults.heal(); for (const a of msg.peers ?? []) transport.addPeer(a); return reply({ at: now() })
    case 'stats': return reply({ stats: cache.stats() })
    case 'close': await dashboard?.close(); await cache.close(); await transport.close(); reply({}); process.exit(0)
  }
})

process.on('disconnect', () => process.exit(0))
process.send?.({ type: 'ready', name, peerId: transport.peerId, addrs: cache.multiaddrs(), dashboardUrl: dashboard?.url })
