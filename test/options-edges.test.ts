/**
 * The edges of the API a new user meets first: the runtime check, unknown
 * or mistyped options (the factory's, a call's, a plug-in's), and what
 * `identity` and `logger` accept.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createLibp2pTransport, createMeshCache, ErrorCode, MeshCacheError } from '../lib/index.ts'
import { assertSupportedRuntime, MIN_NODE_MAJOR } from '../lib/core/runtime.ts'
import { createMemoryNetwork } from '../lib/testing/index.ts'
import { rejectsCode, throwsCode } from './helpers/assert-code.ts'
import { cluster } from './helpers/cluster.ts'
import { metrics } from '@opentelemetry/api'
import { Registry } from 'prom-client'
import { registerMetrics } from '../lib/observe/prometheus.ts'
import { registerOtelMetrics } from '../lib/observe/otel.ts'
import { serveDashboard } from '../lib/observe/dashboard/server.ts'
import { isSharing, shareStats } from '../lib/observe/share.ts'
import { createPostgresSource } from '../lib/sources/postgres.ts'

test('Node older than 22 is refused with E_UNSUPPORTED_RUNTIME saying what to do', () => {
  for (const version of ['20.20.2', '18.0.0', '21.9.9', '']) {
    try {
      assertSupportedRuntime(version)
      assert.unreachable(`accepted ${String(version)}`)
    } catch (e) {
      assert.is((e as MeshCacheError).code, ErrorCode.UNSUPPORTED_RUNTIME)
      assert.match((e as Error).message, new RegExp(`needs Node ${MIN_NODE_MAJOR} or newer`))
      assert.match((e as Error).message, /run your service on Node >= 22/)
    }
  }
  assertSupportedRuntime('22.0.0')
  assertSupportedRuntime('24.21.0')
  assertSupportedRuntime(process.versions.node) // the runtime running this test
})

test('an unknown option is refused with a suggestion', async () => {
  const t = createMemoryNetwork().transport('a')
  await rejectsCode(createMeshCache({ namespace: 'n', transport: t, tll: 5000 } as never), ErrorCode.INVALID_OPTION, /`tll` is not an option; did you mean `ttl`\?/)
  await rejectsCode(createMeshCache({ namespace: 'n', transport: t, maxtll: 5000 } as never), ErrorCode.INVALID_OPTION, /did you mean `maxTtl`\?/)
  await rejectsCode(createMeshCache({ namespace: 'n', transport: t, syncIntreval: 0 } as never), ErrorCode.INVALID_OPTION, /did you mean `syncInterval`/)
  await rejectsCode(createMeshCache({ namespace: 'n', transport: t, zzzzzzzzzz: 1 } as never), ErrorCode.INVALID_OPTION, /`zzzzzzzzzz` is not an option \(the options are namespace, /)
  await rejectsCode(createLibp2pTransport({ dialTimout: 5 } as never), ErrorCode.INVALID_OPTION, /did you mean `dialTimeout`/)
  await rejectsCode(createLibp2pTransport({ gossipsub: { minPeer: 5 } } as never), ErrorCode.INVALID_OPTION, /^option `gossipsub\.minPeer` is not an option; did you mean `gossipsub\.minPeers`\?/)
})

test('a call\'s misspelt option is refused with a suggestion, and the call changes nothing', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2)
  try {
    throwsCode(() => a!.set('k', 'v', { tll: 5_000 } as never), ErrorCode.INVALID_ARGUMENT, /^set: `tll` is not an option; did you mean `ttl`\? \(the options are ttl, local, dependsOn, tags\)$/)
    throwsCode(() => a!.set('k', 'v', { ttl: 5_000, dependOn: ['x'] } as never), ErrorCode.INVALID_ARGUMENT, /did you mean `dependsOn`/)
    await net.flush()
    assert.is(a!.get('k'), undefined, 'nothing was stored')
    assert.is(a!.stats().localUpdates, 0, 'nothing was written')
    assert.is(b!.stats().remoteUpdates, 0, 'nothing was sent')
    let loads = 0
    await rejectsCode(a!.getOrLoad('k', () => { loads++; return 'v' }, { timout: 5 } as never), ErrorCode.INVALID_ARGUMENT, /^getOrLoad: `timout` is not an option; did you mean `timeout`\?/)
    await rejectsCode(a!.getOrLoad('k', () => { loads++; return 'v' }, { negativeTTL: 5 } as never), ErrorCode.INVALID_ARGUMENT, /did you mean `negativeTtl`/)
    assert.is(loads, 0, 'no loader ran')
    assert.is(a!.get('k'), undefined)
    await rejectsCode(a!.ready({ peer: 1 } as never), ErrorCode.INVALID_ARGUMENT, /^ready: `peer` is not an option; did you mean `peers`\?/)
    await rejectsCode(a!.whenReplicated({ timout: 10 } as never), ErrorCode.INVALID_ARGUMENT, /^whenReplicated: `timout` is not an option; did you mean `timeout`\?/)
    await rejectsCode(a!.close({ timout: 10 } as never), ErrorCode.INVALID_ARGUMENT, /^close: `timout` is not an option/)
    a!.set('k', 'v', { ttl: 5_000, local: false, dependsOn: undefined, tags: [] })
    assert.is(a!.get('k'), 'v', 'the known options are taken, undefined ones too; and close above did not close')
    // Inherited names are not the caller's options: only own keys are checked.
    a!.set('k2', 'v', Object.create({ anything: 1 }) as never)
    assert.is(a!.get('k2'), 'v')
  } finally {
    await close()
  }
})

test('a listener for an event the cache never emits is kept, as EventEmitter does, and reported once with a suggestion (JavaScript callers; TypeScript refuses the name already)', async () => {
  const warnings: Array<{ obj: unknown, msg: string | undefined }> = []
  const quiet = (): void => {}
  const logger = { trace: quiet, debug: quiet, info: quiet, error: quiet, warn: (obj: unknown, msg?: string) => { warnings.push({ obj, msg }) } }
  const { nodes: [a], close } = await cluster<string>(1, { logger })
  try {
    const listener = (): void => {}
    a!.on('evicted' as never, listener)
    a!.on('evicted' as never, listener)
    a!.once('peer-join' as never, listener)
    a!.addListener('chnage' as never, listener)
    a!.prependListener('stales' as never, listener)
    a!.prependOnceListener('zzzzzzzz' as never, listener)
    assert.equal(warnings.map((w) => w.msg), [
      "on: \"evicted\" is not an event of a cache, so this listener is never called; did you mean 'evict'? (the events are evict, change, frameError, peer:join, peer:leave, peer:error, stale, tierError, clockSkew)",
      "once: \"peer-join\" is not an event of a cache, so this listener is never called; did you mean 'peer:join'? (the events are evict, change, frameError, peer:join, peer:leave, peer:error, stale, tierError, clockSkew)",
      "addListener: \"chnage\" is not an event of a cache, so this listener is never called; did you mean 'change'? (the events are evict, change, frameError, peer:join, peer:leave, peer:error, stale, tierError, clockSkew)",
      "prependListener: \"stales\" is not an event of a cache, so this listener is never called; did you mean 'stale'? (the events are evict, change, frameError, peer:join, peer:leave, peer:error, stale, tierError, clockSkew)",
      'prependOnceListener: "zzzzzzzz" is not an event of a cache, so this listener is never called (the events are evict, change, frameError, peer:join, peer:leave, peer:error, stale, tierError, clockSkew)',
    ], 'each name once, the second on() for "evicted" not again')
    assert.equal(warnings[0]?.obj, { event: 'evicted' })
    assert.is(a!.listenerCount('evicted' as never), 2, 'the listeners are kept, as any EventEmitter keeps them')
    // Known names, EventEmitter's own and symbols say nothing.
    a!.on('error' as never, listener)
    a!.on('newListener' as never, listener)
    a!.on(Symbol('mine') as never, listener)
    let evicted = 0
    a!.once('evict', () => { evicted++ })
    a!.set('k', 'v')
    a!.delete('k')
    assert.is(evicted, 1)
    assert.is(warnings.length, 5)
  } finally {
    await close()
  }
})

test('a plug-in\'s misspelt option is refused with a suggestion (audit, metrics, dashboard, sharing, change source)', async () => {
  const { nodes: [a], close } = await cluster<string>(1)
  try {
    throwsCode(() => a!.audit({ sample: 0.1, source: () => 'v', maxPerSec: 5 } as never), ErrorCode.INVALID_OPTION, /^option `maxPerSec` is not an option; did you mean `maxPerSecond`\?/)
    throwsCode(() => registerMetrics(a!, { registry: new Registry(), labls: {} } as never), ErrorCode.INVALID_OPTION, /did you mean `labels`/)
    throwsCode(() => registerOtelMetrics(a!, { meter: metrics.getMeter('t'), atributes: {} } as never), ErrorCode.INVALID_OPTION, /did you mean `attributes`/)
    await rejectsCode(serveDashboard(a!, { prot: 0 } as never), ErrorCode.INVALID_OPTION, /did you mean `port`/)
    throwsCode(() => shareStats(a!, { intervall: 1_000 } as never), ErrorCode.INVALID_OPTION, /did you mean `interval`/)
    assert.not.ok(isSharing(a!), 'nothing started')
    // Refused before it connects anywhere: no database at this address is needed.
    await rejectsCode(createPostgresSource(a!, { connection: 'postgres://127.0.0.1:1/none', slot: 's', publication: 'p', tables: { t: () => [] }, tabels: {} } as never),
      ErrorCode.INVALID_OPTION, /^option `tabels` is not an option; did you mean `tables`\?/)
  } finally {
    await close()
  }
})

test('identity: bad text or bytes are refused; it cannot be combined with a given transport', async () => {
  await rejectsCode(createLibp2pTransport({ identity: 'not a key!' }), ErrorCode.INVALID_OPTION, /`identity`/)
  await rejectsCode(createLibp2pTransport({ identity: new Uint8Array([1, 2, 3]) }), ErrorCode.INVALID_OPTION, /not a libp2p private key/)
  await rejectsCode(createLibp2pTransport({ identity: 42 as never }), ErrorCode.INVALID_OPTION, /string or a Uint8Array/)
  const t = createMemoryNetwork().transport('a')
  await rejectsCode(createMeshCache({ namespace: 'n', transport: t, identity: 'x' }), ErrorCode.INVALID_OPTION, /`identity` configures the default libp2p transport/)
})

test('logger: one without the five level methods is refused', async () => {
  const t = createMemoryNetwork().transport('a')
  await rejectsCode(createMeshCache({ namespace: 'n', transport: t, logger: { info () {} } as never }), ErrorCode.INVALID_OPTION, /missing trace, debug, warn, error/)
})

test.run()
