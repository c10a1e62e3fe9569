/**
 * Connection failures are reported, not swallowed: each failed dial of a
 * real libp2p node gives a `peer:error`-style event with the address and a
 * MeshCacheError whose code says which failure it was.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import net from 'node:net'
import { createLibp2pTransport, createMeshCache, generateIdentity, generatePsk, peerIdOf, ErrorCode, MeshCacheError, type Libp2pTransport, type MeshCache, type PeerErrorEvent, type PeerEvent } from '../../lib/index.ts'

const opened: Libp2pTransport[] = []
async function node (options: Parameters<typeof createLibp2pTransport>[0] = {}): Promise<Libp2pTransport> {
  // dialTimeout well above a loaded machine's handshake time: a slow handshake must not pass for a hung one
  const t = await createLibp2pTransport({ redialInterval: 50, dialTimeout: 5_000, ...options })
  opened.push(t)
  return t
}

/** The first peer error the transport reports (the redialer dials bootstrap addresses at once). */
function firstError (t: Libp2pTransport): Promise<PeerErrorEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { stop(); reject(new Error('no peer error within 10 s')) }, 10_000)
    const stop = t.onPeerError((e) => { clearTimeout(timer); stop(); resolve(e) })
  })
}

/** A port nothing listens on: bound, then closed, so the kernel refuses connections to it. */
async function closedPort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

test.after.each(async () => {
  for (const t of opened.splice(0)) await t.close()
})

test('a PSK mismatch is named as such', async () => {
  const target = await node({ psk: generatePsk() })
  const dialer = await node({ psk: generatePsk(), peers: [target.multiaddrs()[0] as string] })
  const e = await firstError(dialer)
  assert.is(e.error.code, ErrorCode.PSK_MISMATCH)
  assert.match(e.error.message, /likely PSK mismatch/)
  assert.is(e.address, target.multiaddrs()[0])
})

test('no PSK here, one there: named as a likely PSK mismatch too', async () => {
  const target = await node({ psk: generatePsk() })
  const dialer = await node({ peers: [target.multiaddrs()[0] as string] })
  const e = await firstError(dialer)
  assert.is(e.error.code, ErrorCode.PSK_MISMATCH)
  // The handshake fails fast (garbage for a length) or hangs until dialTimeout (a length it waits for): both named
  assert.match(e.error.message, /this node has none|this node has no key/)
})

test('a closed port: connection refused', async () => {
  const addr = `/ip4/127.0.0.1/tcp/${await closedPort()}`
  const dialer = await node({ peers: [addr] })
  const e = await firstError(dialer)
  assert.is(e.error.code, ErrorCode.PEER_UNREACHABLE)
  assert.match(e.error.message, /connection refused/)
  assert.is(e.address, addr)
})

test('an unreachable host: a name that does not resolve; a port that accepts and never answers', async () => {
  const dialer = await node({ peers: ['/dns4/meshcache-test.invalid/tcp/4001'] })
  const e = await firstError(dialer)
  assert.is(e.error.code, ErrorCode.PEER_UNREACHABLE)
  assert.match(e.error.message, /meshcache-test\.invalid/)
  // A TCP listener that accepts and never speaks: the dial runs into dialTimeout.
  const silent = net.createServer(() => {})
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  try {
    const addr = `/ip4/127.0.0.1/tcp/${(silent.address() as net.AddressInfo).port}`
    const d2 = await node({ peers: [addr], dialTimeout: 300 })
    const e2 = await firstError(d2)
    assert.is(e2.error.code, ErrorCode.PEER_UNREACHABLE)
    assert.match(e2.error.message, /the port accepts connections but the handshake never completed \(not a meshcache node\?\)/)
  } finally {
    silent.close()
  }
})

test('a bad /p2p/ id: the node there has another peer id', async () => {
  const target = await node()
  const wrong = peerIdOf(generateIdentity())
  const addr = `${(target.multiaddrs()[0] as string).replace(/\/p2p\/.*/, '')}/p2p/${wrong}`
  const dialer = await node({ peers: [addr] })
  const e = await firstError(dialer)
  assert.is(e.error.code, ErrorCode.PEER_ID_MISMATCH)
  assert.match(e.error.message, /another peer id/)
})

test('the listen port taken: E_TRANSPORT that names the address and the option to change', async () => {
  const first = await node()
  const taken = (first.multiaddrs()[0] as string).replace(/\/p2p\/.*/, '')
  try {
    await node({ listen: [taken] })
    assert.unreachable()
  } catch (e) {
    assert.is((e as { code?: string }).code, ErrorCode.TRANSPORT)
    assert.match((e as Error).message, /already in use.*`listen`/)
    // libp2p's own message advised `transportManager.faultTolerance`, which meshcache does not expose
    assert.not.match((e as Error).message, /faultTolerance|transportManager/)
  }
})

test('an identity pins the peer id across restarts', async () => {
  const identity = generateIdentity()
  const a = await node({ identity })
  const id = a.peerId
  await a.close()
  const b = await node({ identity })
  assert.is(b.peerId, id)
  assert.is(peerIdOf(identity), id)
})

test('the cache emits peer:join and peer:leave, and peer:error with the address and a typed error', async () => {
  const psk = generatePsk()
  const caches: Array<MeshCache<string>> = []
  try {
    const a = await createMeshCache<string>({ namespace: 'ev', psk })
    caches.push(a)
    const joins: PeerEvent[] = []
    const leaves: PeerEvent[] = []
    a.on('peer:join', (e) => joins.push(e))
    const left = new Promise<void>((resolve) => a.on('peer:leave', (e) => { leaves.push(e); resolve() }))
    const b = await createMeshCache<string>({ namespace: 'ev', psk, peers: a.multiaddrs() })
    caches.push(b)
    await a.ready({ peers: 1, timeout: 10_000 })
    assert.is(joins.length, 1)
    assert.is(joins[0]?.peer, a.connectedPeers()[0])
    await b.close()
    await left
    assert.is(leaves[0]?.peer, joins[0]?.peer)

    const wrong = await createMeshCache<string>({ namespace: 'ev', psk: generatePsk(), peers: a.multiaddrs() })
    caches.push(wrong)
    const e = await new Promise<PeerErrorEvent>((resolve) => wrong.once('peer:error', resolve))
    assert.is(e.address, a.multiaddrs()[0])
    assert.instance(e.error, MeshCacheError)
    assert.is(e.error.code, ErrorCode.PSK_MISMATCH)
  } finally {
    for (const c of caches) await c.close()
  }
})

test('the logger option also receives the libp2p transport\'s logs', async () => {
  const lines: Array<[string, unknown, unknown]> = []
  const at = (level: string) => (obj?: unknown, msg?: unknown) => { lines.push([level, obj, msg]) }
  const cache = await createMeshCache<string>({ namespace: 'log', logger: { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } })
  await cache.close()
  // Without a psk the transport warns that anyone can join, under its component name.
  assert.ok(lines.some(([level, obj, msg]) => level === 'error' && (obj as { component?: string }).component === 'meshcache:libp2p' && /no psk/.test(String(msg))), JSON.stringify(lines.slice(0, 5)))
})

test('ready() times out with E_READY_TIMEOUT listing the bootstrap addresses and why each failed', async () => {
  const addr = `/ip4/127.0.0.1/tcp/${await closedPort()}`
  const cache = await createMeshCache<string>({ namespace: 'ready', peers: [addr] })
  try {
    await new Promise<void>((resolve) => cache.once('peer:error', () => resolve()))
    await cache.ready({ peers: 1, timeout: 200 })
    assert.unreachable()
  } catch (e) {
    assert.is((e as MeshCacheError).code, ErrorCode.READY_TIMEOUT)
    assert.match((e as Error).message, new RegExp(`0 of 1 peer\\(s\\) connected.*bootstrap ${addr}.*${addr}: E_PEER_UNREACHABLE \\(.*connection refused`))
  } finally {
    await cache.close()
  }
})

test('classification, unit: the socket codes of an unreachable host and a timeout on a port that does not answer', async () => {
  const { classifyDialError, refineTimeout } = await import('../../lib/net/libp2p/peer-errors.ts')
  for (const code of ['EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT']) {
    const err = Object.assign(new Error(`connect ${code} 192.0.2.1:4001`), { code })
    const e = classifyDialError('/ip4/192.0.2.1/tcp/4001', err, true)
    assert.is(e.code, ErrorCode.PEER_UNREACHABLE)
    assert.match(e.message, new RegExp(`host unreachable \\(${code}`))
    assert.is(e.cause, err)
  }
  // A dial that timed out, to a port nothing listens on: still unreachable (the probe finds it closed).
  const timeout = Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' })
  const port = await closedPort()
  const refined = await refineTimeout(`/ip4/127.0.0.1/tcp/${port}`, classifyDialError(`/ip4/127.0.0.1/tcp/${port}`, timeout, true), true, 1_000)
  assert.is(refined.code, ErrorCode.PEER_UNREACHABLE)
  assert.match(refined.message, /host unreachable \(TimeoutError/)
  // The same timeout against a node with a pre-shared key (it opens with its nonce), from one without.
  const pskNode = await node({ psk: generatePsk() })
  const addr = pskNode.multiaddrs()[0] as string
  const named = await refineTimeout(addr, classifyDialError(addr, timeout, false), false, 1_000)
  assert.is(named.code, ErrorCode.PSK_MISMATCH)
  assert.match(named.message, /opens with a pre-shared key's nonce and this node has no key/)
})

test.run()
