/**
 * The edges of the API a new user meets first: the runtime check, unknown
 * or mistyped options, and what `identity` and `logger` accept.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createLibp2pTransport, createMeshCache, ErrorCode, MeshCacheError } from '../lib/index.ts'
import { assertSupportedRuntime, MIN_NODE_MAJOR } from '../lib/core/runtime.ts'
import { createMemoryNetwork } from '../lib/testing/index.ts'
import { rejectsCode } from './helpers/assert-code.ts'

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
