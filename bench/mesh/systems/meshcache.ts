/**
 * meshcache itself as a bench:mesh system. Every node is a cache in one namespace over its own libp2p transport on
 * loopback, private with a PSK (as a deployment would be). Receivers
 * bootstrap from the receivers initialised before them; the writer last,
 * from all of them. The writer invalidates `user:<seq>`; a receiver records
 * the moment the remote record is applied (the `change` event fires in the
 * same synchronous call that evicts the local copy, so this is write→evict).
 * Keys need not be cached on the receivers for that: a remote invalidation is
 * applied (and its tombstone kept) either way.
 *
 * For heal.ts (scenario 'heal') the cache runs in replicate mode and answers
 * the commands below; `heal:<i>` keys hold `v<version>`.
 */
import { createMeshCache, type ChangeEvent } from '../../../lib/index.ts'
import { createLibp2pTransport, generatePsk, type Libp2pTransportOptions } from '../../../lib/net/libp2p/index.ts'
import type { HealReport } from '../heal.ts'
import { keyOf, now, seqOf, type System } from './types.ts'

interface MeshcacheConfig { psk: string }

/** meshcache with the given transport options on top of the bench's (meshcache-relay.ts reuses it). */
export function meshcacheSystem(name: string, extra: Pick<Libp2pTransportOptions, 'gossipsub'> = {}): System {
  return {
    name,
    async setup() {
      const config: MeshcacheConfig = { psk: generatePsk() }
      return { config, async close() {} }
    },
    async node(ctx) {
      const { psk } = ctx.config as MeshcacheConfig
      const transport = await createLibp2pTransport({
        listen: ['/ip4/127.0.0.1/tcp/0'],
        peers: ctx.peers.flatMap((addresses) => addresses as string[]),
        psk,
        ...extra,
      })
      const cache = await createMeshCache<string>({
        namespace: 'bench',
        transport,
        mode: ctx.scenario === 'heal' ? 'replicate' : 'invalidate',
        max: 100_000,
        // Long enough that no tombstone is collected during a run.
        ttl: 10 * 60_000,
      })
      if (ctx.role === 'receiver') {
        cache.on('change', (event: ChangeEvent) => {
          if (event.source !== 'local') ctx.received(seqOf(event.key))
        })
      }
      let healedAt = Number.NaN
      /** Resolves once every `heal:<i>` holds `want`; times as HealReport. */
      const awaitVersion = (keys: number, want: string): Promise<HealReport> => new Promise((resolve) => {
        const stale = new Set<string>()
        for (let i = 0; i < keys; i++) if (cache.get(`heal:${i}`) !== want) stale.add(`heal:${i}`)
        const report: HealReport = { reconnectedAt: Number.NaN, firstRepairAt: Number.NaN, cleanAt: Number.NaN }
        const peersBefore = cache.connectedPeers().length
        // No peer-up event is public: sample the peer list (1 ms resolution) until one comes back.
        const sampler = setInterval(() => {
          if (!Number.isNaN(healedAt) && cache.connectedPeers().length > peersBefore) {
            report.reconnectedAt = now()
            clearInterval(sampler)
          }
        }, 1)
        const finish = (): void => {
          report.cleanAt = now()
          clearInterval(sampler)
          cache.off('change', onChange)
          if (Number.isNaN(report.reconnectedAt)) report.reconnectedAt = healedAt
          resolve(report)
        }
        // 'change' fires once the new state is in place; looked at in a microtask all the same, so one
        // repair frame's records are all applied before the check.
        const onChange = (event: ChangeEvent): void => queueMicrotask(() => {
          if (!stale.has(event.key) || cache.get(event.key) !== want) return
          if (Number.isNaN(report.firstRepairAt)) report.firstRepairAt = now()
          stale.delete(event.key)
          if (stale.size === 0) finish()
        })
        cache.on('change', onChange)
        if (stale.size === 0) finish()
      })
      return {
        address: transport.multiaddrs(),
        publish(seq) {
          cache.invalidate(keyOf(seq))
          return undefined
        },
        async command(name, args) {
          const { keys = 0, version = 0 } = (args ?? {}) as { keys?: number, version?: number }
          switch (name) {
            case 'peer-id': return transport.peerId
            case 'block': return transport.faults.block(args as string[])
            case 'heal': {
              healedAt = now()
              transport.faults.heal()
              return undefined
            }
            case 'write': {
              for (let i = 0; i < keys; i++) cache.set(`heal:${i}`, `v${version}`)
              return undefined
            }
            case 'await-version': return awaitVersion(keys, `v${version}`)
            default: throw new Error(`meshcache bench: unknown command ${name}`)
          }
        },
        async close() {
          if (process.env.MESHCACHE_BENCH_STATS) {
            const { propagation: _p, ...counters } = cache.stats()
            process.stderr.write(`STATS ${ctx.role} ${JSON.stringify({ ...counters, ...transport.stats() })}\n`)
          }
          await cache.close()
          await transport.close()
        },
      }
    },
  }
}

export const system = meshcacheSystem('meshcache')
