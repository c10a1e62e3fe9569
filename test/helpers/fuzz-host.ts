/**
 * One process hosting several meshcache instances, each with its own libp2p
 * node and port, for the seeded partial-mesh convergence run
 * (test/helpers/partial-convergence.ts). Driven over IPC; a SIGKILL of this
 * process is the crash the run injects.
 *
 * argv: JSON { first, instances, bootstrap: string[], psk, maxPeers, mode, regions?: string[] (one per instance), slowWritesMs? }
 *   `slowWritesMs`: every instance here takes each UPDATES frame that long after it arrived (a member far
 *   down a congested path), every other frame at once.
 *   `first` is the global index of this host's first instance; its instances
 *   bootstrap to `bootstrap`, or (the very first host) to its own first one.
 * Requests ({ id, op, ... }, answered { id, value }):
 *   addrs                            → [{ addr, peerId, origin }] of every instance
 *   await-connected { count, guardMs } → when every instance has `count` peers connected in the namespace (true), or false after guardMs
 *   write { instance, kind, key, value?, replicated? } → the local write (set/delete/invalidate/clear), answered with its
 *                                    state (inspect); with `replicated` (ms), after `await whenReplicated({ timeout })`, or
 *                                    { error } naming why it rejected
 *   get { key }                      → every instance's `get(key)`
 *   reach                            → per instance, [members reachable (peers() connected), neighbours (connectedPeers())]
 *   block { blocks: { [instance]: peerIds } } / heal → the instances' fault switches (libp2p connection gater)
 *   cut { instance, peer }           → aborts that instance's connections to `peer` once (the redialer reconnects)
 *   await-state { expect, guardMs }  → when every instance here holds `expect` ({ ok: true }), or the differences after guardMs
 *   connections                      → per instance, its open connections
 *   links                            → per instance, the peer ids it holds a connection with
 *   differences { expect }           → how the instances here differ from `expect` now
 *   saved-burst { instance, callers, calls, timeout } → `callers` loops on that instance, each invalidating a key of
 *                                    its own and awaiting whenReplicated before the next, `calls` in all: each call's
 *                                    ms, the rejections' messages, and the seconds it took (bench/scale/acks.ts)
 *   usage                            → this process's CPU time (µs, user + system) and its instances' frames received
 *   close
 */
import { createMeshCache, type MeshCache } from '../../lib/index.ts'
import { createLibp2pTransport, type Libp2pTransport } from '../../lib/net/libp2p/index.ts'
import { CLEAR_KEY } from '../../lib/core/clear.ts'
import { MessageType } from '../../protocol/index.ts'
import type { FrameHandler, Transport } from '../../lib/net/transport.ts'
import { prefixLogger } from '@libp2p/logger'
import { createWaiters } from './waiters.ts'
import { differences, type Expected } from './fuzz-expect.ts'

interface Config { instances: number, first: number, bootstrap: string[], psk: string, maxPeers: number, mode: 'invalidate' | 'replicate', regions?: string[], slowWritesMs?: number }
type Request =
  | { id: number, op: 'addrs' }
  | { id: number, op: 'await-connected', count: number, guardMs: number }
  | { id: number, op: 'write', instance: number, kind: 'set' | 'delete' | 'invalidate' | 'clear', key: string, value?: string, replicated?: number }
  | { id: number, op: 'get', key: string }
  | { id: number, op: 'reach' }
  | { id: number, op: 'block', blocks: Record<string, string[]> }
  | { id: number, op: 'heal' }
  | { id: number, op: 'cut', instance: number, peer: string }
  | { id: number, op: 'await-state', expect: Expected, guardMs: number }
  | { id: number, op: 'connections' }
  | { id: number, op: 'links' }
  | { id: number, op: 'peers' }
  | { id: number, op: 'differences', expect: Expected }
  | { id: number, op: 'saved-burst', instance: number, callers: number, calls: number, timeout: number }
  | { id: number, op: 'usage' }
  | { id: number, op: 'close' }

const config = JSON.parse(process.argv[2] ?? '{}') as Config
process.on('disconnect', () => process.exit(0))
// Woken by every change and eviction; the 20 ms poll covers membership, which has no event.
const { wake, until } = createWaiters()

interface Instance { transport: Libp2pTransport, cache: MeshCache<string> }
const instances: Instance[] = []

for (let i = 0; i < config.instances; i++) {
  const bootstrap = config.bootstrap.length > 0 || i === 0 ? config.bootstrap : [instances[0]?.transport.multiaddrs()[0] as string]
  const transport = await createLibp2pTransport({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    peers: bootstrap,
    psk: `/key/swarm/psk/1.0.0/\n/base16/\n${config.psk}\n`,
    maxPeers: config.maxPeers,
    region: config.regions?.[i] ?? '',
    // Fast redials (as test/netns/mesh-node.ts): a healed cut reconnects within half a second, not the default 30 s backoff.
    redialInterval: 100,
    maxRedialInterval: 500,
    // DEBUG='i*:meshcache:*' shows which instance logged what
    logger: prefixLogger(`i${config.first + i}`),
  })
  const cache = await createMeshCache<string>({ namespace: 'fuzz', nodeId: `i${config.first + i}`, transport: slowWrites(transport, config.slowWritesMs), mode: config.mode, ttl: 10 * 60_000, region: config.regions?.[i] ?? '' })
  cache.on('change', () => queueMicrotask(wake))
  cache.on('evict', () => queueMicrotask(wake))
  instances.push({ transport, cache })
}

/** The transport as the cache sees it: with `ms`, each UPDATES frame handed over that much later (a copy: the buffer may be reused). */
function slowWrites (transport: Libp2pTransport, ms: number | undefined): Transport {
  if (ms === undefined) return transport
  const slow = Object.create(transport) as Libp2pTransport
  slow.join = (namespace: string, handler: FrameHandler) => transport.join(namespace, {
    ...handler,
    onFrame: (from, frame) => {
      if (frame[1] !== MessageType.UPDATES) return handler.onFrame(from, frame)
      const copy = frame.slice()
      setTimeout(() => handler.onFrame(from, copy), ms)
    },
  })
  return slow
}

const local = (instance: number): Instance => {
  const found = instances[instance - config.first]
  if (found === undefined) throw new RangeError(`instance ${instance} is not hosted here`)
  return found
}

/** Resolves with true once `done()` holds, or false after `guardMs` (a failure guard, not a wait). */
async function within (guardMs: number, done: () => boolean): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const guard = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), guardMs) })
  const ok = await Promise.race([until(done).then(() => true), guard])
  clearTimeout(timer)
  return ok
}

process.on('message', async (request: Request) => {
  let value: unknown
  switch (request.op) {
    case 'addrs': value = instances.map((i) => ({ addr: i.transport.multiaddrs()[0], peerId: i.transport.peerId, origin: i.cache.origin })); break
    case 'await-connected': value = await within(request.guardMs, () => instances.every((i) => i.cache.connectedPeers().length >= request.count)); break
    case 'write': {
      const { cache } = local(request.instance)
      switch (request.kind) {
        case 'set': cache.set(request.key, request.value as string); break
        case 'delete': cache.delete(request.key); break
        case 'invalidate': cache.invalidate(request.key); break
        case 'clear': cache.clear(); break
      }
      value = cache.inspect(request.kind === 'clear' ? CLEAR_KEY : request.key)
      if (request.replicated !== undefined) {
        try {
          await cache.whenReplicated({ timeout: request.replicated })
        } catch (error) {
          value = { error: (error as Error).message }
        }
      }
      break
    }
    case 'get': value = instances.map((i) => i.cache.get(request.key) ?? null); break
    case 'reach': value = instances.map((i) => [i.cache.peers().filter((p) => p.connected).length, i.cache.connectedPeers().length]); break
    case 'block':
      for (const [instance, peers] of Object.entries(request.blocks)) local(Number(instance)).transport.faults.block(peers)
      break
    case 'heal': for (const i of instances) i.transport.faults.heal(); break
    case 'cut': local(request.instance).transport.faults.cut(request.peer); break
    case 'await-state': {
      const all = (): string[] => instances.flatMap((inst, j) => differences(`i${config.first + j}`, inst.cache, request.expect))
      const ok = await within(request.guardMs, () => all().length === 0)
      value = ok ? { ok } : { ok, differences: all() }
      break
    }
    case 'connections': value = instances.map((i) => i.transport.stats().connections); break
    case 'differences': value = instances.flatMap((inst, j) => differences(`i${config.first + j}`, inst.cache, request.expect)); break
    case 'links': value = instances.map((i) => [...new Set(i.transport.libp2p.getConnections().map((c) => c.remotePeer.toString()))]); break
    // The namespace's peers: greeted (HELLO, JOIN and our PEERS read), not only connected.
    case 'peers': value = instances.map((i) => i.cache.connectedPeers()); break
    case 'close': for (const i of instances) await i.cache.close(); for (const i of instances) await i.transport.close(); break
    case 'saved-burst': {
      const { cache } = local(request.instance)
      const ms: number[] = []
      const errors: string[] = []
      let next = 0
      const started = performance.now()
      await Promise.all(Array.from({ length: request.callers }, async (_, c) => {
        for (let i = next++; i < request.calls; i = next++) {
          cache.invalidate(`burst:${c}:${i}`)
          const t = performance.now()
          try {
            await cache.whenReplicated({ timeout: request.timeout })
            ms.push(performance.now() - t)
          } catch (error) {
            errors.push((error as Error).message)
          }
        }
      }))
      value = { ms, errors, seconds: (performance.now() - started) / 1000 }
      break
    }
    case 'usage': {
      const cpu = process.cpuUsage()
      value = { cpuUs: cpu.user + cpu.system, frames: instances.reduce((n, i) => n + i.transport.stats().framesReceived, 0) }
      break
    }
  }
  process.send?.({ id: request.id, value })
  if (request.op === 'close') process.exit(0)
})
process.send?.({ ready: true })
