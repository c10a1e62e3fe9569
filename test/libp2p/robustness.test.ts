/**
 * Transport failure paths found in review, each over real libp2p nodes on
 * loopback: a stream that fails to open now and then, a peer that vanishes
 * while our stream to it is opening, oversized relayed frames, a handler
 * leaving a namespace mid-reconcile, bootstrap lists naming ourselves, the
 * namespace limit and a second close().
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ErrorCode, MeshCacheError } from '../../lib/index.ts'
import { createLibp2pTransport, type Libp2pTransportOptions } from '../../lib/net/libp2p/index.ts'
import { Mesh } from '../../lib/net/libp2p/mesh.ts'
import { MAX_NAMESPACES_PER_STREAM, PROTOCOL, PROTOCOLS } from '../../lib/net/libp2p/envelope.ts'
import { recorder, until } from './helpers.ts'
import { freePort } from '../helpers/ports.ts'

// The libp2p node behind a transport is not public: record each Mesh as it attaches.
const meshes: Mesh[] = []
const attach = Mesh.prototype.attach
Mesh.prototype.attach = function (this: Mesh) { meshes.push(this); return attach.call(this) }

/**
 * Starts `start` on a port free a moment ago. The port must be fixed (the
 * bootstrap list names it), and another process on this shared machine may
 * take it between the check and the listen (a random draw once failed CI
 * that way): a taken port is drawn again, any other error is thrown.
 */
async function onFreePort<T> (start: (port: number) => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await start(await freePort())
    } catch (error) {
      if (i >= attempts || !/already in use/.test((error as Error).message)) throw error
    }
  }
}

const VANISHING_PEER = fileURLToPath(new URL('./fixtures/vanishing-peer.ts', import.meta.url))

/** A and B up in 'ns' (B bootstraps from A), with their meshes and B's registration of the protocol. */
async function pair (bOptions: Libp2pTransportOptions, aOptions: Libp2pTransportOptions = {}) {
  const a = await createLibp2pTransport(aOptions)
  const ma = meshes.at(-1) as Mesh
  const b = await createLibp2pTransport({ peers: a.multiaddrs(), ...bOptions })
  const mb = meshes.at(-1) as Mesh
  const ra = recorder()
  const rb = recorder()
  const ca = await a.join('ns', ra.handler)
  await b.join('ns', rb.handler)
  await rb.waitUp(a.peerId)
  await ra.waitUp(b.peerId)
  const registration = (mb.node as any).components.registrar.getHandler(PROTOCOL)
  return { a, ma, b, mb, ra, rb, ca, registration }
}

/** Resets every meshcache stream `mesh` reads from: the other side's outbound stream closes. */
function resetStreamsFrom (mesh: Mesh): void {
  for (const c of mesh.node.getConnections()) for (const s of c.streams) if (PROTOCOLS.includes(s.protocol) && s.direction === 'inbound') s.abort(new Error('test: reset'))
}

test('stream open failures spread over a connection\'s life never add up to giving the peer up', async () => {
  const { a, ma, b, mb, ra, rb, registration } = await pair({})
  try {
    // Each round: A's stream to B is reset, and B refuses the protocol for A's first reopen.
    for (let round = 1; round <= 8; round++) {
      await mb.node.unhandle(PROTOCOLS)
      const dropsBefore = rb.downs.length
      resetStreamsFrom(mb)
      const failuresBefore = a.stats().streamOpenFailures
      await rb.waitDown(a.peerId, dropsBefore + 1)
      await until(() => a.stats().streamOpenFailures > failuresBefore, 'A\'s reopen meeting the refusal')
      await mb.node.handle(PROTOCOLS, registration.handler, registration.options)
      await rb.waitUp(a.peerId, round + 1, 5_000)
    }
    assert.is(ma.node.getConnections().length, 1, 'still the same live connection')
  } finally {
    await Promise.all([a.close(), b.close()])
  }
})

test('a connection that will not carry our stream is closed after the retries, and redialled', async () => {
  const { a, ma, b, mb, ra, rb, registration } = await pair({ redialInterval: 100, maxRedialInterval: 200 })
  try {
    const firstConnection = ma.node.getConnections()[0]
    await mb.node.unhandle(PROTOCOLS) // for good, this time
    resetStreamsFrom(mb)
    await until(() => firstConnection?.status !== 'open', 'A closing the connection that refuses its stream')
    await mb.node.handle(PROTOCOLS, registration.handler, registration.options)
    await ra.waitUp(b.peerId, 2)
    await rb.waitUp(a.peerId, 2)
    assert.ok(b.stats().redials >= 2, `B redialled (${b.stats().redials} dials)`)
  } finally {
    await Promise.all([a.close(), b.close()])
  }
})

test('a peer that vanishes while our stream to it is opening is forgotten, not advertised to newcomers', async () => {
  const a = await createLibp2pTransport({})
  const ma = meshes.at(-1) as Mesh
  const ra = recorder()
  await a.join('ns', ra.handler)
  const deadAddr = '/ip4/127.0.0.1/tcp/9' // the vanished peer's advertised address: nothing listens there
  try {
    const child = fork(VANISHING_PEER, [a.multiaddrs()[0] as string, deadAddr], { execPath: process.execPath, stdio: 'ignore' })
    await new Promise(resolve => child.once('exit', resolve))
    await until(() => ma.node.getConnections().length === 0, 'the vanished peer\'s connection closing')
    await new Promise(resolve => setTimeout(resolve, 1_500)) // A's pending open fails and its retries run out
    const c = await createLibp2pTransport({ peers: a.multiaddrs(), redialInterval: 50, maxRedialInterval: 100 })
    const rc = recorder()
    await c.join('ns', rc.handler)
    try {
      await rc.waitUp(a.peerId)
      await new Promise(resolve => setTimeout(resolve, 1_000))
      assert.is(c.stats().redialFailures, 0, `C was told of the vanished peer and dialled it ${c.stats().redialFailures} times`)
    } finally {
      await c.close()
    }
  } finally {
    await a.close()
  }
})

test('a relayed frame over the receiver\'s maxFrameBytes is dropped and counted, as on a direct stream', async () => {
  const { a, b, rb, ca } = await pair({ gossipsub: { minPeers: 0 }, maxFrameBytes: 1000 }, { gossipsub: { minPeers: 0 } })
  try {
    // Until gossipsub's mesh forms, publishes may reach nobody: send until one was relayed.
    for (let i = 0; i < 200 && b.stats().badEnvelopes === 0; i++) {
      ca.broadcast(new Uint8Array(100_000).fill(i))
      await new Promise(resolve => setTimeout(resolve, 25))
    }
    assert.ok(b.stats().badEnvelopes > 0, 'a relayed frame arrived and was counted')
    assert.is(rb.frames.length, 0, 'none was handed to the namespace')
    assert.is(b.stats().relayedReceived, 0)
    assert.is(a.stats().framesRelayed > 0, true, 'they went over gossipsub')
  } finally {
    await Promise.all([a.close(), b.close()])
  }
})

test('leaving a namespace inside another one\'s onPeerUp does not hide the peer when it is joined again', async () => {
  const a = await createLibp2pTransport({})
  const b = await createLibp2pTransport({ peers: a.multiaddrs() })
  const mb = meshes.at(-1) as Mesh
  try {
    for (const name of ['ns1', 'ns2']) await b.join(name, recorder().handler)
    const r1 = recorder()
    const r2 = recorder()
    let second: { close(): Promise<void> } | undefined
    // On its second onPeerUp, ns1's handler leaves ns2.
    await a.join('ns1', { ...r1.handler, onPeerUp (peer: string) { r1.handler.onPeerUp(peer); if (r1.ups.length === 2) void second?.close() } })
    second = await a.join('ns2', r2.handler)
    await r1.waitUp(b.peerId)
    await r2.waitUp(b.peerId)
    // Reset A's stream to B: when it reopens, one reconcile brings ns1 and ns2 up together, ns1 first.
    resetStreamsFrom(mb)
    await r1.waitUp(b.peerId, 2)
    await new Promise(resolve => setTimeout(resolve, 100))
    const again = recorder()
    const channel = await a.join('ns2', again.handler)
    await again.waitUp(b.peerId, 1, 5_000)
    assert.equal(channel.peers(), [b.peerId])
  } finally {
    await Promise.all([a.close(), b.close()])
  }
})

for (const [name, own] of [['its own address', (port: number) => `/ip4/127.0.0.1/tcp/${port}`], ['a DNS name of its own address', (port: number) => `/dns4/localhost/tcp/${port}`]] as const) {
  test(`a node whose bootstrap list holds ${name} does not dial itself`, async () => {
    const a = await onFreePort((port) => createLibp2pTransport({ listen: [`/ip4/127.0.0.1/tcp/${port}`], peers: [own(port)], redialInterval: 50, maxRedialInterval: 100 }))
    try {
      await new Promise(resolve => setTimeout(resolve, 1_000))
      assert.ok(a.stats().redialFailures <= 1, `${a.stats().redialFailures} failed dials of itself in 1 s`)
    } finally {
      await a.close()
    }
  })
}

test('join refuses a namespace past what peers accept on one stream, with E_INVALID_ARGUMENT', async () => {
  const a = await createLibp2pTransport({})
  try {
    for (let i = 0; i < MAX_NAMESPACES_PER_STREAM; i++) await a.join(`ns${i}`, recorder().handler)
    try {
      await a.join('one-more', recorder().handler)
      assert.unreachable('joined past the limit')
    } catch (error) {
      assert.instance(error, MeshCacheError)
      assert.is((error as MeshCacheError).code, ErrorCode.INVALID_ARGUMENT)
      assert.match((error as Error).message, /at most 1024 namespaces/)
    }
  } finally {
    await a.close()
  }
})

test('a second close() resolves only once the node has stopped', async () => {
  const a = await createLibp2pTransport({})
  const ma = meshes.at(-1) as Mesh
  const first = a.close()
  await a.close()
  assert.is(ma.node.status, 'stopped')
  await first
})

test.run()
