/**
 * PENDING (with mesh-partition.test.ts.pending): one meshcache process inside
 * a netns lab namespace, driven over IPC. Rename both to `.ts` once the cache
 * and its libp2p transport are final.
 *
 * argv: ADDRESS PORT PSK_HEX PEER_ADDRESS...   (IPv4 addresses of the lab)
 * Requests: { id, op: 'set', key, value } | { id, op: 'get', keys } |
 *   { id, op: 'await-peers', count } | { id, op: 'await-values', expect: Record<key, value> } | { id, op: 'sync' }
 * Replies: { id, value, at } where `at` is CLOCK_MONOTONIC ms.
 */
import { createMeshCache, type ChangeEvent } from '../../lib/index.ts'
import { createLibp2pTransport } from '../../lib/libp2p/index.ts'

type Request =
  | { id: number, op: 'set', key: string, value: string }
  | { id: number, op: 'get', keys: string[] }
  | { id: number, op: 'await-peers', count: number }
  | { id: number, op: 'await-values', expect: Record<string, string> }
  | { id: number, op: 'sync' }

const [address, port, psk, ...peers] = process.argv.slice(2)
const now = (): number => Number(process.hrtime.bigint()) / 1e6
process.on('disconnect', () => process.exit(0))

const transport = await createLibp2pTransport({
  listen: [`/ip4/${address}/tcp/${port}`],
  peers: peers.map((peer) => `/ip4/${peer}/tcp/${port}`),
  psk: `/key/swarm/psk/1.0.0/\n/base16/\n${psk}\n`,
  redialInterval: 100,
  maxRedialInterval: 500,
})
const cache = await createMeshCache<string>({ namespace: 'partition', transport, mode: 'replicate', ttl: 10 * 60_000 })

/** Wakes every waiter after each applied change (once the value is stored) and every 20 ms for peer counts. */
const waiters = new Set<() => void>()
const wake = (): void => { for (const w of [...waiters]) w() }
cache.on('change', (_: ChangeEvent) => queueMicrotask(wake))
setInterval(wake, 20).unref() // peers have no public event; 20 ms is the measurement resolution

function until(done: () => boolean): Promise<number> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (!done()) return
      waiters.delete(check)
      resolve(now())
    }
    waiters.add(check)
    check()
  })
}

process.on('message', async (request: Request) => {
  let value: unknown
  let at = now()
  switch (request.op) {
    case 'set': cache.set(request.key, request.value); break
    case 'get': value = request.keys.map((key) => cache.get(key) ?? null); break
    case 'sync': cache.sync(); break
    case 'await-peers': at = await until(() => cache.connectedPeers().length >= request.count); break
    case 'await-values': at = await until(() => Object.entries(request.expect).every(([k, v]) => cache.get(k) === v)); break
  }
  process.send?.({ id: request.id, value, at })
})
process.send?.({ ready: true, peerId: transport.peerId })
