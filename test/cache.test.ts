/** The public cache API on the memory network: behaviour, errors, TTL, GC, repair. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMeshCache, ErrorCode, jsonCodec, MeshCacheError, type EvictEvent, type MeshCache, type Transport } from '../lib/index.ts'
import { createMemoryNetwork, createTestClock } from '../lib/testing/index.ts'
import { encodeFrame, MessageType, RecordKind } from '../protocol/index.ts'
import { captureTransport } from './helpers/capture-transport.ts'
import { cluster } from './helpers/cluster.ts'
import { expectCode, rejectsCode, throwsCode } from './helpers/assert-code.ts'

function evictions (cache: MeshCache<any>): EvictEvent[] {
  const seen: EvictEvent[] = []
  cache.on('evict', (e: EvictEvent) => seen.push(e))
  return seen
}

test('set, get, has, delete and invalidate act locally at once', async () => {
  const c = await cluster<string>(1)
  const [a] = c.nodes as [MeshCache<string>]
  assert.is(a.get('k'), undefined)
  a.set('k', 'v')
  assert.is(a.get('k'), 'v')
  assert.ok(a.has('k'))
  assert.is(a.delete('k'), true)
  assert.is(a.get('k'), undefined)
  assert.is(a.delete('k'), false)
  a.set('k', 'w')
  assert.is(a.invalidate('k'), true)
  assert.not.ok(a.has('k'))
  const s = a.stats()
  assert.is(s.localUpdates, 5)
  assert.is(s.hits, 2)
  assert.is(s.misses, 3)
  assert.is(s.tombstones, 1)
  await c.close()
})

test('peek, size and keys read what is held here without refreshing recency or counting', async () => {
  const c = await cluster<string>(2, { max: 3, ttl: 1000 })
  const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
  a.set('1', 'a')
  a.set('2', 'b')
  a.set('3', 'c', { local: true })
  assert.is(a.size, 3)
  assert.equal([...a.keys()], ['3', '2', '1'], 'most recently used first')
  assert.is(a.peek('1'), 'a')
  assert.is(a.peek('nope'), undefined)
  assert.equal([a.stats().hits, a.stats().misses], [0, 0], 'peek counts neither')
  a.set('4', 'd')
  assert.is(a.peek('1'), undefined, 'peeking did not save the least recently used key from eviction')
  assert.equal([...a.keys()], ['4', '3', '2'])
  a.get('2') // get does refresh: 3 is now the oldest
  a.set('5', 'e')
  assert.equal([...a.keys()].sort(), ['2', '4', '5'])
  // Tombstones and remote evictions are not values.
  a.delete('4')
  await c.net.flush()
  b.invalidate('5')
  await c.net.flush()
  assert.is(a.size, 1)
  assert.equal([...a.keys()], ['2'])
  assert.equal([a.inspect('4')?.kind, a.inspect('5')?.kind], ['delete', 'invalidate'])
  // With an injected clock, an expired value is not counted, listed or peeked.
  c.clock.advance(1001)
  assert.is(a.peek('2'), undefined)
  assert.is(a.size, 0)
  assert.equal([...a.keys()], [])
  await c.close()
})

test('bad options fail at construction with E_INVALID_OPTION naming the option', async () => {
  const net = createMemoryNetwork()
  const t = net.transport('x')
  await rejectsCode(createMeshCache({ namespace: '', transport: t }), ErrorCode.INVALID_OPTION, /namespace/)
  await rejectsCode(createMeshCache({ namespace: 'n', max: 0, transport: t }), ErrorCode.INVALID_OPTION, /`max`/)
  await rejectsCode(createMeshCache({ namespace: 'n', ttl: -1, transport: t }), ErrorCode.INVALID_OPTION, /`ttl`/)
  await rejectsCode(createMeshCache({ namespace: 'n', ttl: 10, maxTtl: 5, transport: t }), ErrorCode.INVALID_OPTION, /maxTtl/)
  await rejectsCode(createMeshCache({ namespace: 'n', mode: 'both' as any, transport: t }), ErrorCode.INVALID_OPTION, /mode/)
  await rejectsCode(createMeshCache({ namespace: 'n', nodeId: 'has space', transport: t }), ErrorCode.INVALID_OPTION, /nodeId/)
  await rejectsCode(createMeshCache({ namespace: 'n', codec: { encode: () => new Uint8Array(), decode: () => 1 }, transport: t }), ErrorCode.INVALID_OPTION, /codec/)
  await rejectsCode(createMeshCache({ namespace: 'n', transport: {} as Transport }), ErrorCode.INVALID_OPTION, /transport/)
  await rejectsCode(createMeshCache({ namespace: 'n', limits: { maxKeyBytes: 0 }, transport: t }), ErrorCode.INVALID_OPTION, /limits.maxKeyBytes/)
  await rejectsCode(createMeshCache({ namespace: 'n', limits: { maxFramBytes: 5 } as any, transport: t }), ErrorCode.INVALID_OPTION, /`limits.maxFramBytes` is not an option; did you mean `limits.maxFrameBytes`/)
  await rejectsCode(createMeshCache({ namespace: 'n', limits: 5 as any, transport: t }), ErrorCode.INVALID_OPTION, /`limits` must be an object/)
  // Node would arm a longer timer for 1 ms, and print a warning.
  for (const name of ['syncInterval', 'announceInterval', 'gcInterval'] as const) {
    await rejectsCode(createMeshCache({ namespace: 'n', [name]: 2 ** 31, transport: t }), ErrorCode.INVALID_OPTION, new RegExp(`\`${name}\` must be at most 2147483647`))
  }
  for (const name of ['listen', 'peers', 'psk', 'gossipsub', 'maxPeers'] as const) {
    const value = name === 'gossipsub' ? true : name === 'psk' ? 'k' : name === 'maxPeers' ? 8 : []
    await rejectsCode(createMeshCache({ namespace: 'n', [name]: value, transport: t }), ErrorCode.INVALID_OPTION, new RegExp(`\`${name}\`.*default libp2p transport`))
  }
})

test('a transport that cannot join fails with E_TRANSPORT and its cause', async () => {
  const broken: Transport = { join: async () => { throw new Error('port in use') } }
  try {
    await createMeshCache({ namespace: 'n', transport: broken })
    assert.unreachable()
  } catch (error) {
    assert.is((error as MeshCacheError).code, ErrorCode.TRANSPORT)
    assert.is(((error as Error).cause as Error).message, 'port in use')
  }
})

test('bad arguments are refused with E_INVALID_ARGUMENT and change nothing', async () => {
  const c = await cluster<any>(1, { limits: { maxKeyBytes: 8 }, maxTtl: 100, ttl: 50 })
  const [a] = c.nodes as [MeshCache<any>]
  throwsCode(() => a.set(42 as any, 'v'), ErrorCode.INVALID_ARGUMENT, /key must be a string/)
  throwsCode(() => a.set('a-long-key!', 'v'), ErrorCode.INVALID_ARGUMENT, /maxKeyBytes/)
  throwsCode(() => a.set('k', undefined), ErrorCode.INVALID_ARGUMENT, /delete\(\)/)
  throwsCode(() => a.set('k', 'v', { ttl: 101 }), ErrorCode.INVALID_ARGUMENT, /maxTtl/)
  throwsCode(() => a.set('k', 'v', { ttl: 1.5 }), ErrorCode.INVALID_ARGUMENT, /ttl/)
  throwsCode(() => a.delete('a-long-key!'), ErrorCode.INVALID_ARGUMENT)
  throwsCode(() => a.set('k', 'v', null as any), ErrorCode.INVALID_ARGUMENT, /set: options must be an object, got null/)
  throwsCode(() => a.set('k', 'v', 5 as any), ErrorCode.INVALID_ARGUMENT, /got number/)
  let loaderCalls = 0
  for (const bad of [null, 'fast']) {
    const load = a.getOrLoad('k', async () => { loaderCalls++; return 'v' }, bad as any)
    try {
      await load
      assert.unreachable(`getOrLoad accepted options ${String(bad)}`)
    } catch (error) {
      assert.is((error as MeshCacheError).code, ErrorCode.INVALID_ARGUMENT)
      assert.match((error as Error).message, /getOrLoad: options must be an object/)
    }
  }
  assert.is(loaderCalls, 0)
  assert.is(a.get('k'), undefined)
  assert.is(a.stats().localUpdates, 0)
  assert.equal(a.metadata(), [])
  await c.close()
  throwsCode(() => a.set('k', 'v'), ErrorCode.CLOSED, /closed/)
  throwsCode(() => a.invalidate('k'), ErrorCode.CLOSED)
})

test('replicate mode: a value the codec refuses throws E_VALUE_CODEC and changes nothing', async () => {
  const c = await cluster<any>(2, { mode: 'replicate', codec: 'json' })
  const [a, b] = c.nodes as [MeshCache<any>, MeshCache<any>]
  throwsCode(() => a.set('k', { n: 1n }), ErrorCode.VALUE_CODEC, /cannot be encoded/)
  // JSON has no value for these: refused here, not discovered by every receiver.
  throwsCode(() => a.set('k', () => 1), ErrorCode.VALUE_CODEC, /cannot be encoded/)
  throwsCode(() => a.set('k', Symbol('s')), ErrorCode.VALUE_CODEC, /cannot be encoded/)
  throwsCode(() => a.set('k', { toJSON: () => undefined }), ErrorCode.VALUE_CODEC, /cannot be encoded/)
  throwsCode(() => a.set('k', Number.NaN), ErrorCode.VALUE_CODEC, /cannot be encoded/)
  throwsCode(() => a.set('k', Number.POSITIVE_INFINITY), ErrorCode.VALUE_CODEC, /cannot be encoded/)
  assert.is(a.get('k'), undefined)
  assert.is(a.inspect('k'), undefined)
  await c.net.flush()
  assert.is(b.inspect('k'), undefined)
  assert.is(b.stats().remoteUpdates, 0, 'nothing was sent')
  await c.close()
})

test('replicate mode: a remote value that decodes to null or undefined merges as an invalidation of its key', async () => {
  const cap = captureTransport()
  const a = await createMeshCache<any>({ namespace: 'n', mode: 'replicate', transport: cap.transport, syncInterval: 0, codec: { encode: (v) => new TextEncoder().encode(JSON.stringify(v)), decode: (b) => b.length === 0 ? undefined : JSON.parse(new TextDecoder().decode(b)) } })
  const errors: MeshCacheError[] = []
  a.on('frameError', (e) => errors.push(e.error))
  const x = 'x~1'
  const hlc = Date.now() * 1000
  for (const [i, bytes] of [new TextEncoder().encode('null'), new Uint8Array(0)].entries()) {
    cap.deliver('peer', encodeFrame({
      type: MessageType.UPDATES,
      origin: x,
      firstSeq: 2 * i + 1,
      records: [
        { key: 'fine', kind: RecordKind.SET, hlc: hlc + 2 * i, writer: x, vv: [x, 2 * i + 1], ttl: 60_000, value: new TextEncoder().encode('1') },
        { key: 'k', kind: RecordKind.SET, hlc: hlc + 2 * i + 1, writer: x, vv: [x, 2 * i + 2], ttl: 60_000, value: bytes },
      ],
    }))
  }
  assert.equal(errors.map((e) => [e.code, /decodes to (null|undefined)/.test(e.message)]), [[ErrorCode.VALUE_CODEC, true], [ErrorCode.VALUE_CODEC, true]])
  // SPEC §3.4 (issue 16 finding 1): the value is dropped, the record merges.
  assert.equal(a.metadata().map(([k, v]) => [k, v.vv, v.hasValue]), [['fine', [x, 3], true], ['k', [x, 4], false]])
  assert.is(a.get('fine'), 1)
  assert.is(a.get('k'), undefined)
  await a.close()
})

/** One replicate-mode frame from origin x~1 writing `key` = bytes. */
function valueFrame (key: string, bytes: Uint8Array): Uint8Array {
  const x = 'x~1'
  return encodeFrame({ type: MessageType.UPDATES, origin: x, firstSeq: 1, records: [{ key, kind: RecordKind.SET, hlc: Date.now() * 1000, writer: x, vv: [x, 1], ttl: 60_000, value: bytes }] })
}

test('replicate mode: a codec that may keep its input gets a copy, not a view of the frame', async () => {
  const cap = captureTransport()
  // Keeps the very bytes it is given, as a binary codec returning its input would.
  const keeper = { encode: (v: Uint8Array) => v, decode: (b: Uint8Array) => b }
  const a = await createMeshCache<Uint8Array>({ namespace: 'n', mode: 'replicate', transport: cap.transport, syncInterval: 0, codec: keeper })
  const frame = valueFrame('k', Uint8Array.of(7, 7, 7))
  cap.deliver('peer', frame)
  const value = a.get('k') as Uint8Array
  assert.equal([...value], [7, 7, 7])
  assert.ok(value.buffer !== frame.buffer, 'the value does not pin the frame')
  frame.fill(0) // the transport reuses its buffer
  assert.equal([...(a.get('k') as Uint8Array)], [7, 7, 7])
  await a.close()
})

test('replicate mode: a codec with copyInput false decodes a view of the frame; JSON is one', async () => {
  assert.is(jsonCodec.copyInput, false)
  const cap = captureTransport()
  const seen: Uint8Array[] = []
  const viewer = { encode: (v: string) => new TextEncoder().encode(v), decode: (b: Uint8Array) => { seen.push(b); return new TextDecoder().decode(b) }, copyInput: false }
  const a = await createMeshCache<string>({ namespace: 'n', mode: 'replicate', transport: cap.transport, syncInterval: 0, codec: viewer })
  const frame = valueFrame('k', new TextEncoder().encode('hello'))
  cap.deliver('peer', frame)
  assert.is(a.get('k'), 'hello')
  assert.is(seen.length, 1)
  assert.ok(seen[0]?.buffer === frame.buffer, 'decode got a view into the frame')
  await a.close()
})

test('a codec whose copyInput is not a boolean is refused', async () => {
  const t = captureTransport().transport
  await rejectsCode(createMeshCache({ namespace: 'n', mode: 'replicate', transport: t, codec: { encode: () => new Uint8Array(1), decode: () => 1, copyInput: 'no' as unknown as boolean } }), ErrorCode.INVALID_OPTION, /copyInput must be a boolean/)
})

test('replicate mode: a value changed in place so the codec refuses it travels in anti-entropy without it', async () => {
  const c = await cluster<any>(2, { mode: 'replicate' })
  const [a, b] = c.nodes as [MeshCache<any>, MeshCache<any>]
  c.net.partition([c.names[0]!], [c.names[1]!])
  const held = { n: 1 }
  a.set('k', held)
  a.set('other', 'o')
  held.n = new (class Point {})() as unknown as number // mutated after set(): the codec no longer carries it faithfully
  await c.net.flush() // the writes' frame is lost in the partition
  c.net.heal()
  await c.net.flush()
  b.sync()
  await c.net.flush()
  assert.is(a.stats().protocolErrors + b.stats().protocolErrors, 0, 'the answer went, and was accepted')
  assert.is(b.inspect('k')?.writer, a.origin, 'the key\'s state arrived')
  assert.is(b.get('k'), undefined, 'without the value')
  assert.is(b.get('other'), 'o')
  await c.close()
})

test('a write on one instance evicts (invalidate mode) or replaces (replicate mode) the others', async () => {
  for (const mode of ['invalidate', 'replicate'] as const) {
    const c = await cluster<string>(3, { mode })
    const [a, b, d] = c.nodes as [MeshCache<string>, MeshCache<string>, MeshCache<string>]
    b.set('user:1', 'old')
    await c.net.flush()
    const seen = evictions(b)
    a.set('user:1', 'new')
    await c.net.flush()
    assert.is(a.get('user:1'), 'new')
    if (mode === 'invalidate') {
      assert.is(b.get('user:1'), undefined)
      assert.is(d.get('user:1'), undefined, 'invalidate mode never ships values')
      assert.equal(seen, [{ key: 'user:1', reason: 'remote' }])
    } else {
      assert.is(b.get('user:1'), 'new')
      assert.is(d.get('user:1'), 'new')
      assert.equal(seen, [], 'a replaced value is not an eviction')
    }
    await c.close()
  }
})

test('TTL expires values on the injected clock and reports reason ttl', async () => {
  const c = await cluster<string>(1, { ttl: 1000, maxTtl: 5000 })
  const [a] = c.nodes as [MeshCache<string>]
  const seen = evictions(a)
  a.set('short', 'x')
  a.set('long', 'y', { ttl: 5000 })
  c.clock.advance(999)
  assert.is(a.get('short'), 'x')
  c.clock.advance(2)
  assert.is(a.get('short'), undefined)
  assert.is(a.get('long'), 'y')
  c.clock.advance(4000)
  assert.is(a.get('long'), undefined)
  assert.equal(seen, [{ key: 'short', reason: 'ttl' }, { key: 'long', reason: 'ttl' }])
  await c.close()
})

test('replicated values expire at their write time plus ttl on every instance', async () => {
  const c = await cluster<string>(2, { mode: 'replicate', ttl: 1000 })
  const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
  a.set('k', 'v')
  c.clock.advance(600) // the frame is slow to arrive
  await c.net.flush()
  assert.is(b.get('k'), 'v')
  c.clock.advance(401)
  assert.is(b.get('k'), undefined, 'expired 1000 ms after the write, not after arrival')
  await c.close()
})

test('capacity evictions report reason capacity and keep the metadata', async () => {
  const c = await cluster<string>(1, { max: 2 })
  const [a] = c.nodes as [MeshCache<string>]
  const seen = evictions(a)
  a.set('1', 'a')
  a.set('2', 'b')
  a.set('3', 'c')
  assert.equal(seen, [{ key: '1', reason: 'capacity' }])
  assert.is(a.get('1'), undefined)
  assert.is(a.inspect('1')?.hasValue, false)
  assert.is(a.inspect('1')?.kind, 'set')
  await c.close()
})

test('local keys never leave the instance and no remote message touches them', async () => {
  const c = await cluster<string>(2, { mode: 'replicate' })
  const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
  a.set('session', 'mine', { local: true })
  await c.net.flush()
  assert.is(b.get('session'), undefined)
  assert.is(a.stats().localUpdates, 0)
  b.set('session', 'theirs')
  b.delete('session')
  await c.net.flush()
  assert.is(a.get('session'), 'mine', 'remote writes do not touch a local key')
  assert.is(a.inspect('session')?.kind, 'delete', 'the key\'s replicated state is kept beside the local value')
  assert.is(a.inspect('session')?.hasValue, false)
  const remoteBefore = b.stats().remoteUpdates
  a.delete('session')
  assert.is(a.get('session'), undefined)
  await c.net.flush()
  // A delete is about the data, not where the value was held (issue 16 finding 5, SPEC §10).
  assert.is(b.stats().remoteUpdates, remoteBefore + 1, 'deleting a local key is a replicated delete')
  assert.equal(b.inspect('session')?.vv, a.inspect('session')?.vv)
  await c.close()
})

// Found in review: a node holding a key as local-only counted a remote write's
// number but kept no state for it, so a peer repairing from it raised its
// state vector past the write and kept serving the older value for good.
for (const when of ['before', 'after'] as const) {
  test(`a local-only key ${when} a remote write never makes anti-entropy hide that write`, async () => {
    const c = await cluster<string>(3, { mode: 'replicate' })
    const [a, b, d] = c.nodes as [MeshCache<string>, MeshCache<string>, MeshCache<string>]
    a.set('k', 'v1')
    await c.net.flush()
    assert.is(d.get('k'), 'v1')
    if (when === 'before') b.set('k', 'b-local', { local: true })
    c.net.partition([c.names[0]!, c.names[1]!], [c.names[2]!]) // A's next write reaches B only
    a.set('k', 'v2')
    await c.net.flush()
    if (when === 'after') b.set('k', 'b-local', { local: true })
    assert.is(b.get('k'), 'b-local')
    c.net.partition([c.names[0]!], [c.names[1]!, c.names[2]!]) // D repairs from B alone
    await c.net.flush()
    c.net.heal()
    await c.net.flush()
    for (const n of c.nodes) n.sync()
    await c.net.flush()
    assert.is.not(d.get('k'), 'v1', 'D never serves the value A overwrote')
    const state = (n: MeshCache<string>) => { const e = n.inspect('k'); return e && [e.kind, e.hlc, e.writer, e.vv] }
    assert.equal(state(d), state(a), 'D holds the winning state (with or without its value: a miss is correct)')
    assert.equal(b.inspect('k')?.vv, a.inspect('k')?.vv, 'B kept the state beside its local value')
    assert.is(b.get('k'), 'b-local', 'and the local value itself untouched')
    await c.close()
  })
}

test('namespaces on the same transports never see each other', async () => {
  const net = createMemoryNetwork()
  const clock = createTestClock()
  const mk = (node: string, namespace: string) => createMeshCache<string>({ namespace, nodeId: node, now: clock.now, transport: net.transport(node), syncInterval: 0 })
  const a1 = await mk('a', 'users')
  const a2 = await mk('a', 'prices')
  const b1 = await mk('b', 'users')
  const b2 = await mk('b', 'prices')
  b1.set('k', 'user')
  b2.set('k', 'price')
  await net.flush()
  a1.set('k', 'x')
  await net.flush()
  assert.is(b1.get('k'), undefined, 'same namespace: evicted')
  assert.is(b2.get('k'), 'price', 'other namespace: untouched')
  assert.is(a2.inspect('k')?.writer, b2.origin)
  for (const cache of [a1, a2, b1, b2]) await cache.close()
})

test('a gap in an origin\'s sequence starts repair at once, without any timer', async () => {
  const c = await cluster<string>(2, { mode: 'replicate' })
  const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
  await c.net.flush()
  c.net.setFaults({ dropRate: 1 })
  a.set('lost', '1')
  await c.net.flush()
  c.net.setFaults({ dropRate: 0 })
  assert.is(b.get('lost'), undefined)
  a.set('next', '2')
  await c.net.flush()
  assert.is(b.get('next'), '2')
  assert.is(b.get('lost'), '1', 'repaired by anti-entropy triggered by the gap')
  assert.is(b.stats().gapsDetected, 1)
  assert.ok(b.stats().repairs >= 1)
  await c.close()
})

test('concurrent writes in invalidate mode evict everywhere: a miss is always correct', async () => {
  const c = await cluster<string>(3)
  const [a, b, d] = c.nodes as [MeshCache<string>, MeshCache<string>, MeshCache<string>]
  c.net.partition(['n0'], ['n1', 'n2'])
  a.set('k', 'from-a')
  b.set('k', 'from-b')
  await c.net.flush()
  c.net.heal()
  await c.net.flush()
  for (const node of [a, b, d]) assert.is(node.get('k'), undefined)
  assert.equal(a.inspect('k'), b.inspect('k'))
  assert.ok(a.stats().conflicts + b.stats().conflicts >= 1)
  await c.close()
})

test('a healed partition repairs through anti-entropy and reports reason repair', async () => {
  const c = await cluster<string>(2)
  const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
  b.set('k', 'cached')
  c.net.partition(['n0'], ['n1'])
  a.invalidate('k')
  await c.net.flush()
  assert.is(b.get('k'), 'cached', 'stale during the partition: TTL is the bound')
  const seen = evictions(b)
  c.net.heal()
  await c.net.flush()
  assert.is(b.get('k'), undefined)
  assert.equal(seen, [{ key: 'k', reason: 'repair' }])
  assert.is(b.stats().repairs, 1)
  await c.close()
})

test('tombstones are kept for the horizon (maxTtl + maxClockSkew), then collected', async () => {
  const c = await cluster<string>(2, { ttl: 1000, maxClockSkew: 500 })
  const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
  a.set('k', 'v')
  a.delete('k')
  await c.net.flush()
  c.clock.advance(1499)
  a.purgeStale()
  b.purgeStale()
  assert.is(a.stats().tombstones, 1)
  assert.is(b.inspect('k')?.kind, 'delete')
  c.clock.advance(2)
  a.purgeStale()
  b.purgeStale()
  assert.is(a.stats().tombstones, 0)
  assert.is(b.inspect('k'), undefined)
  assert.is(a.stats().metadataBytes, 0)
  await c.close()
})

test('a departed origin is forgotten after the horizon; a silent live member is kept', async () => {
  const c = await cluster<string>(3, { ttl: 1000, maxClockSkew: 0 })
  const [a, b, d] = c.nodes as [MeshCache<string>, MeshCache<string>, MeshCache<string>]
  a.set('x', '1')
  b.set('k', 'v')
  d.set('m', 'w')
  await c.net.flush()
  assert.is(a.stats().origins, 3)
  assert.ok(a.peers().some((p) => p.origin === d.origin), 'd is a live member')
  await b.close() // b leaves for good: its membership state goes with it
  await c.net.flush()
  c.clock.advance(1001)
  a.purgeStale()
  assert.is(a.stats().origins, 2, 'b forgotten; a itself and the live member d kept')
  assert.is(a.inspect('k'), undefined, 'and the metadata that carried b\'s vector entries is gone')
  await a.close()
  await d.close()
})

test('live members syncing with each other do not keep a departed origin alive', async () => {
  const c = await cluster<string>(3, { ttl: 1000, maxClockSkew: 0 })
  const [a, b, d] = c.nodes as [MeshCache<string>, MeshCache<string>, MeshCache<string>]
  d.set('x', '1')
  await c.net.flush()
  await d.close() // d leaves for good
  await c.net.flush()
  assert.is(a.stats().origins, 1)
  // Every exchange repeats d's last number; only a new number counts as activity.
  for (let i = 0; i < 12; i++) {
    c.clock.advance(250)
    a.sync()
    b.sync()
    await c.net.flush()
    a.purgeStale()
    b.purgeStale()
  }
  assert.is(a.stats().origins, 0, 'forgotten on a')
  assert.is(b.stats().origins, 0, 'forgotten on b, and not taken back from a\'s vector or a from b\'s')
  await a.close()
  await b.close()
})

// Found by the soak run: keys rewritten after a restart keep the departed
// incarnation in their vectors, and once it was forgotten every anti-entropy
// answer re-sent every such key.
test('keys whose vectors still name a retired origin are not re-sent by every anti-entropy round', async () => {
  const net = createMemoryNetwork({ seed: 1 })
  const clock = createTestClock()
  const mk = (node: string) => createMeshCache<string>({ namespace: 'r', nodeId: node, now: clock.now, transport: net.transport(node), ttl: 1000, maxClockSkew: 0, syncInterval: 0 })
  const nodes = [await mk('a'), await mk('b'), await mk('c')]
  const keys = Array.from({ length: 20 }, (_, i) => `hot${i}`)
  const writeAll = async (): Promise<void> => {
    for (const n of nodes) for (const k of keys) n.set(k, `${n.origin}`)
    await net.flush()
  }
  await writeAll()
  const departed = nodes[2]!.origin
  await nodes[2]!.close() // c restarts: a new incarnation
  await net.flush()
  nodes[2] = await mk('c')
  await net.flush()
  for (let i = 0; i < 6; i++) { // the hot keys are rewritten; c's old incarnation falls silent past the horizon
    await writeAll()
    clock.advance(300)
    for (const n of nodes) n.purgeStale()
  }
  assert.is(nodes[0]!.stats().origins, 3, 'the departed incarnation is no longer tracked')
  assert.not.ok(nodes[0]!.inspect('hot0')?.vv.includes(departed), 'and its vector entries are forgotten (SPEC §7)')
  const duplicates = (): number => nodes.reduce((sum, n) => sum + n.stats().duplicates, 0)
  const before = duplicates()
  for (const n of nodes) n.sync()
  await net.flush()
  assert.is(duplicates() - before, 0, 'an anti-entropy round re-sends nothing')
  for (const n of nodes) await n.close()
})

test('a node that joined after an origin was retired everywhere does not re-send the keys naming it', async () => {
  const net = createMemoryNetwork({ seed: 3 })
  const clock = createTestClock()
  const mk = (node: string) => createMeshCache<string>({ namespace: 't', nodeId: node, now: clock.now, syncInterval: 0, ttl: 1000, maxClockSkew: 100, transport: net.transport(node) })
  const a = await mk('a')
  const o = await mk('o')
  await net.flush()
  const keys = Array.from({ length: 20 }, (_, i) => `k${i}`)
  for (const k of keys) o.set(k, 'by o') // the vectors name o
  await net.flush()
  await o.close() // o departs
  await net.flush()
  const rewrite = async (tag: string): Promise<void> => {
    clock.advance(600)
    for (const k of keys) a.set(k, tag)
    await net.flush()
  }
  for (let t = 0; t < 3; t++) { await rewrite(`x${t}`); a.purgeStale() } // past the horizon: o retired on a
  const late = await mk('late') // joins now: it never tracks o
  await net.flush()
  assert.not.ok(late.inspect('k0')?.vv.includes(o.origin), 'a forgot o\'s entries before the late node joined')
  await rewrite('y')
  const before = a.stats().duplicates
  a.sync() // late answers a
  await net.flush()
  assert.is(a.stats().duplicates - before, 0, 'late re-sent nothing a already had')
  await a.close()
  await late.close()
})

// Issue 2 §3: the vector entries of departed nodes are collected after the horizon.
test('a departed origin\'s vector entries are forgotten on every replica, and a peer still sending them changes nothing', async () => {
  const net = createMemoryNetwork({ seed: 5 })
  const clock = createTestClock()
  const mk = (node: string) => createMeshCache<string>({ namespace: 'f', nodeId: node, now: clock.now, transport: net.transport(node), mode: 'replicate', ttl: 1000, maxClockSkew: 0, syncInterval: 0 })
  const [a, b, o] = [await mk('a'), await mk('b'), await mk('o')]
  await net.flush()
  const keys = Array.from({ length: 10 }, (_, i) => `k${i}`)
  for (const k of keys) o.set(k, 'by o')
  await net.flush()
  const gone = o.origin
  await o.close()
  await net.flush()
  const rewrite = async (): Promise<void> => {
    clock.advance(400)
    for (const k of keys) a.set(k, `by a at ${clock.now()}`)
    await net.flush()
  }
  await rewrite()
  assert.ok(b.inspect('k0')?.vv.includes(gone), 'a\'s writes carry o\'s entry on')
  const bytesBefore = a.stats().metadataBytes
  for (let i = 0; i < 3; i++) await rewrite() // o silent past the horizon (1000 ms)
  a.purgeStale() // a retires o; b has not collected yet
  for (const k of keys) {
    assert.equal(a.inspect(k)?.vv, [a.origin, a.inspect(k)?.vv[1]], `${k}: only a's own entry left on a`)
    assert.ok(b.inspect(k)?.vv.includes(gone), `${k}: b still names o`)
  }
  assert.ok(a.stats().metadataBytes < bytesBefore, `metadata shrank (${bytesBefore} → ${a.stats().metadataBytes} bytes)`)
  let changes = 0
  a.on('change', () => { changes++ })
  const remoteBefore = a.stats().remoteUpdates
  a.sync() // b answers with every key, each naming o
  b.sync()
  await net.flush()
  assert.is(a.stats().remoteUpdates - remoteBefore, 0, 'o\'s forgotten entries are no news to a')
  assert.is(changes, 0)
  b.purgeStale()
  for (const k of keys) {
    assert.equal(b.inspect(k), a.inspect(k), `${k}: identical metadata once both collected`)
    assert.is(b.get(k), a.get(k))
  }
  await a.close()
  await b.close()
})

// Found in review: once the origin came back, its old entries counted as news again.
test('an origin that comes back after retirement: its old entries stay forgotten, a record of our own latest write is no news', async () => {
  const clock = createTestClock()
  const cap = captureTransport(['p'])
  const x = await createMeshCache<string>({ namespace: 'n', nodeId: 'x', transport: cap.transport, now: clock.now, ttl: 1000, maxClockSkew: 0, syncInterval: 0, gcInterval: 600_000 })
  const o = 'o~1' // sorts before x's origin
  const update = (seq: number, key: string) => encodeFrame({ type: MessageType.UPDATES, origin: o, firstSeq: seq,
    records: [{ key, kind: RecordKind.SET, hlc: clock.now() * 1000, writer: o, vv: [o, seq] }] })
  cap.deliver('p', update(1, 'k'))
  clock.advance(10)
  x.set('k', 'old')
  clock.advance(1001) // o silent past the horizon, and no live member
  x.set('k', 'fresh')
  const peerHolds = x.inspect('k')! // a peer that never retired o holds this state of k: {o:1, x:2}
  assert.equal(peerHolds.vv, [o, 1, x.origin, 2])
  x.purgeStale()
  assert.equal(x.inspect('k')!.vv, [x.origin, 2], 'o retired here: its entry forgotten')
  cap.deliver('p', update(2, 'j')) // o is back (a partition longer than the horizon)
  assert.is(x.stats().origins, 2, 'and tracked again')
  let changes = 0
  x.on('change', () => { changes++ })
  const duplicatesBefore = x.stats().duplicates
  cap.deliver('p', encodeFrame({ type: MessageType.SYNC_STEP2, syncId: 99, part: 0, parts: 1, sv: new Map(),
    records: [{ key: 'k', kind: RecordKind.SET, hlc: peerHolds.hlc, writer: peerHolds.writer, vv: peerHolds.vv }] }))
  assert.is(x.get('k'), 'fresh', 'the value of our own latest write stays')
  assert.is(changes, 0)
  assert.is(x.stats().duplicates - duplicatesBefore, 1, 'the peer\'s copy of that write is a duplicate')
  assert.is(x.stats().repairs, 0)
  await x.close()
})

test('records older than the horizon are dropped: every copy they could touch has expired', async () => {
  const c = await cluster<string>(2, { mode: 'replicate', ttl: 1000, maxClockSkew: 0 })
  const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
  a.set('k', 'v')
  c.clock.advance(1001)
  await c.net.flush()
  assert.is(b.get('k'), undefined)
  assert.is(b.inspect('k'), undefined)
  assert.ok(b.stats().expiredDropped >= 1)
  await c.close()
})

test('a restarted instance gets a new incarnation, never reuses numbers, and deleted keys stay deleted', async () => {
  const net = createMemoryNetwork()
  const clock = createTestClock()
  const mk = (node: string) => createMeshCache<string>({ namespace: 'r', nodeId: node, now: clock.now, transport: net.transport(node), mode: 'replicate', syncInterval: 0 })
  const a = await mk('a')
  const b = await mk('b')
  a.set('k', 'v1')
  await net.flush()
  b.delete('k')
  await net.flush()
  const firstOrigin = a.origin
  await a.close() // as after kill -9: nothing is persisted
  const a2 = await mk('a')
  assert.is.not(a2.origin, firstOrigin)
  assert.ok(a2.origin.startsWith('a~'))
  await net.flush()
  assert.is(a2.inspect('k')?.kind, 'delete', 'the tombstone came back through anti-entropy')
  a2.set('other', 'x')
  await net.flush()
  assert.equal(b.inspect('other')?.vv, [a2.origin, 1])
  assert.is(b.get('k'), undefined)
  await a2.close()
  await b.close()
})

test('a frame claiming our own origin with numbers we never issued is refused', async () => {
  const cap = captureTransport()
  const a = await createMeshCache<string>({ namespace: 'n', nodeId: 'a', transport: cap.transport, syncInterval: 0 })
  const errors: Array<{ peer: string, error: MeshCacheError }> = []
  a.on('frameError', (e) => errors.push(e))
  a.set('mine', 'v')
  const before = a.metadata()
  cap.deliver('peer', encodeFrame({
    type: MessageType.UPDATES,
    origin: a.origin,
    firstSeq: 7,
    records: [{ key: 'mine', kind: RecordKind.DELETE, hlc: 1, writer: a.origin, vv: [a.origin, 7] }],
  }))
  assert.equal(a.metadata(), before)
  assert.is(a.get('mine'), 'v')
  assert.is(a.stats().protocolErrors, 1)
  assert.is(errors[0]?.peer, 'peer')
  assert.is(errors[0]?.error.code, ErrorCode.FRAME_MALFORMED)
  await a.close()
})

test('a record crediting our origin with numbers we never issued is refused alone; its key\'s copy goes', async () => {
  const cap = captureTransport()
  const a = await createMeshCache<string>({ namespace: 'n', nodeId: 'a', mode: 'replicate', codec: 'json', transport: cap.transport, syncInterval: 0 })
  const errors: Array<{ peer: string, error: MeshCacheError }> = []
  a.on('frameError', (e) => errors.push(e))
  a.set('poisoned', 'mine')
  const x = 'x~1' // sorts after 'a~…'
  const hlc = Date.now() * 1000
  cap.deliver('peer', encodeFrame({
    type: MessageType.UPDATES,
    origin: x,
    firstSeq: 1,
    records: [
      { key: 'poisoned', kind: RecordKind.INVALIDATE, hlc, writer: x, vv: [a.origin, 100, x, 1] },
      { key: 'fine', kind: RecordKind.SET, hlc: hlc + 1, writer: x, vv: [x, 2], ttl: 60_000, value: new TextEncoder().encode('"theirs"') },
    ],
  }))
  assert.is(a.stats().protocolErrors, 1)
  assert.is(errors[0]?.error.code, ErrorCode.FRAME_MALFORMED)
  assert.match(errors[0]!.error.message, /credits our origin .* with 100, above the 1 we issued/)
  assert.equal(a.inspect('poisoned')?.vv, [a.origin, 1], 'the forged counter did not get in')
  assert.is(a.get('poisoned'), undefined, 'the copy is dropped: its state is unknown now, and a miss is always correct')
  assert.is(a.get('fine'), 'theirs', 'the rest of the frame applies')
  // Our next write of the key carries our own counter, and peers accept it.
  cap.sent.length = 0
  a.set('poisoned', 'again')
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(a.inspect('poisoned')?.vv, [a.origin, 2])
  await a.close()
})

test('garbage frames are counted and refused with their code', async () => {
  const cap = captureTransport()
  const a = await createMeshCache<string>({ namespace: 'n', transport: cap.transport, syncInterval: 0 })
  const codes: string[] = []
  a.on('frameError', (e) => codes.push(e.error.code))
  a.set('k', 'v')
  const before = a.metadata()
  cap.deliver('peer', new Uint8Array([9, 0]))
  cap.deliver('peer', new Uint8Array([1, 77]))
  cap.deliver('peer', new Uint8Array([1]))
  assert.equal(codes, [ErrorCode.FRAME_VERSION, ErrorCode.FRAME_TYPE, ErrorCode.FRAME_TRUNCATED])
  assert.equal(a.metadata(), before)
  assert.is(a.stats().protocolErrors, 3)
  await a.close()
})

test.run()
