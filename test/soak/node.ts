/**
 * One soak process: a meshcache (default libp2p transport on 127.0.0.1)
 * driven by soak.ts over IPC.
 *
 * argv: SLOT PORT PEER_PORTS(comma list) MODE TTL_MS MAX REDIAL_MS MAX_REDIAL_MS
 * env:  SOAK_PSK (generatePsk() text)
 *
 * Requests { id, op, ... }; replies { id, ok, value } or { id, ok: false, error }.
 */
import { createLibp2pTransport, createMeshCache, type CacheMode } from '../../lib/index.ts'
import { sharedBytes } from '../../lib/core/columns.ts'

const [slot = '0', port = '0', peerPorts = '', mode = 'invalidate', ttlArg = '20000', maxArg = '300', redialArg = '200', maxRedialArg = '2000'] = process.argv.slice(2)
const psk = process.env.SOAK_PSK
if (psk === undefined) throw new Error('SOAK_PSK not set')

process.on('disconnect', () => process.exit(0))
const report = (m: Record<string, unknown>): void => { try { process.send?.(m) } catch {} }
process.on('uncaughtException', (err) => { report({ ev: 'error', message: `uncaughtException: ${err?.stack ?? err}` }) })
process.on('unhandledRejection', (err: any) => { report({ ev: 'error', message: `unhandledRejection: ${err?.stack ?? err}` }) })

const transport = await createLibp2pTransport({
  listen: [`/ip4/127.0.0.1/tcp/${port}`],
  peers: peerPorts.split(',').filter(Boolean).map((p) => `/ip4/127.0.0.1/tcp/${p}`),
  psk,
  redialInterval: Number(redialArg),
  maxRedialInterval: Number(maxRedialArg),
})
const cache = await createMeshCache<string>({
  namespace: 'soak',
  transport,
  mode: mode as CacheMode,
  ttl: Number(ttlArg),
  max: Number(maxArg),
  nodeId: `s${slot}`,
})

const evicts: Record<string, number> = {}
let frameErrors = 0
const frameErrorSamples: string[] = []
cache.on('evict', ({ reason }: { reason: string }) => { evicts[reason] = (evicts[reason] ?? 0) + 1 })
cache.on('frameError', ({ peer, error }: { peer: string, error: Error }) => {
  frameErrors++
  if (frameErrorSamples.length < 5) frameErrorSamples.push(`${peer}: ${error?.message}`)
})

const gc = (globalThis as any).gc as (() => void) | undefined
const strip = (v: any) => v === undefined ? null : { kind: v.kind, hlc: v.hlc, writer: v.writer, vv: v.vv, hasValue: v.hasValue }

type Op = { kind: 'set' | 'delete' | 'invalidate', key: string, value?: string }

function handle (req: any): unknown {
  switch (req.op) {
    case 'ops': {
      // Every op of the batch in one synchronous run: they share a frame.
      const out = []
      for (const o of req.ops as Op[]) {
        if (o.kind === 'set') cache.set(o.key, o.value as string)
        else if (o.kind === 'delete') cache.delete(o.key)
        else cache.invalidate(o.key)
        const got = cache.get(o.key)
        const ryw = o.kind === 'set' ? got === o.value : got === undefined
        const v = cache.inspect(o.key)
        out.push({ key: o.key, kind: o.kind, value: o.value ?? null, hlc: v?.hlc, writer: v?.writer, vv: v?.vv, vkind: v?.kind, ryw, got: got ?? null })
      }
      return out
    }
    case 'get': return (req.keys as string[]).map((k) => cache.get(k) ?? null)
    case 'metadata': return cache.metadata().map(([k, v]: [string, any]) => [k, strip(v)])
    case 'block': transport.faults.block(req.peers); return null
    case 'isolate': transport.faults.isolate(); return null
    case 'heal': transport.faults.heal(); return null
    case 'cut': transport.faults.cut(req.peer); return null
    case 'sync': cache.sync(); return null
    case 'connected': return cache.connectedPeers().length
    case 'sample': {
      if (req.gc === true && gc !== undefined) gc()
      const s = cache.stats()
      const meta = cache.metadata()
      let valueless = 0
      let maxVv = 0
      let sumVv = 0
      const vvOrigins = new Set<string>()
      for (const [, v] of meta) {
        if (!v.hasValue) valueless++
        const n = v.vv.length / 2
        sumVv += n
        if (n > maxVv) maxVv = n
        for (let i = 0; i < v.vv.length; i += 2) vvOrigins.add(v.vv[i] as string)
      }
      const mem = process.memoryUsage()
      const t = transport.stats()
      return {
        at: Date.now(),
        tombstones: s.tombstones,
        origins: s.origins,
        liveKeys: s.liveKeys,
        metaEntries: meta.length,
        valueless,
        maxVv,
        sumVv,
        vvOrigins: vvOrigins.size,
        metadataBytes: s.metadataBytes,
        heapUsed: mem.heapUsed,
        // The store's metadata lives on shared buffers, which memoryUsage() does not count (lib/core/columns.ts).
        sharedBytes: sharedBytes(),
        rss: mem.rss,
        connected: cache.connectedPeers().length,
        members: cache.peers().length,
        stats: { localUpdates: s.localUpdates, remoteUpdates: s.remoteUpdates, duplicates: s.duplicates, conflicts: s.conflicts, repairs: s.repairs, protocolErrors: s.protocolErrors, expiredDropped: s.expiredDropped, framesSent: s.framesSent, framesReceived: s.framesReceived, syncRequests: s.syncRequests, gapsDetected: s.gapsDetected },
        transport: t,
        evicts: { ...evicts },
        frameErrors,
        frameErrorSamples,
        deps: cache.dependencyStats(),
      }
    }
    case 'close': {
      void (async () => {
        await cache.close()
        await transport.close()
        report({ id: req.id, ok: true, value: null })
        process.exit(0)
      })()
      return undefined
    }
    default: throw new Error(`unknown op ${req.op}`)
  }
}

process.on('message', (req: any) => {
  try {
    const value = handle(req)
    if (value !== undefined || req.op !== 'close') report({ id: req.id, ok: true, value })
  } catch (err: any) {
    report({ id: req.id, ok: false, error: String(err?.stack ?? err) })
  }
})

report({ ev: 'ready', peerId: transport.peerId, origin: cache.origin, pid: process.pid })
