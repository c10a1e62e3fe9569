import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  BodyReader, EnvelopeSplitter, encodeFrame, encodeJoin, encodePeers, decodePeers,
  CHUNK_BYTES, MAX_BODY_BYTES, MSG_DATA, MSG_JOIN, MSG_PART, MSG_PEERS
} from '../../lib/net/libp2p/envelope.ts'
import { PeerLink } from '../../lib/net/libp2p/stream-link.ts'
import type { Stream } from '@libp2p/interface'
import { createLibp2pTransport, generatePsk } from '../../lib/net/libp2p/index.ts'
import { normalizePsk } from '../../lib/net/libp2p/psk.ts'
import { MeshCacheError } from '../../lib/errors.ts'

function concat (parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let pos = 0
  for (const p of parts) { out.set(p, pos); pos += p.length }
  return out
}

function split (bytes: Uint8Array, cut: (i: number) => number): { bodies: Uint8Array[], fatal: string[] } {
  const bodies: Uint8Array[] = []
  const fatal: string[] = []
  const s = new EnvelopeSplitter(b => bodies.push(b.slice()), r => fatal.push(r))
  let pos = 0
  for (let i = 0; pos < bytes.length; i++) {
    const n = Math.max(1, cut(i))
    s.push(bytes.subarray(pos, pos + n))
    pos += n
  }
  return { bodies, fatal }
}

test('envelopes survive any chunking of the byte stream', () => {
  const frames = [new Uint8Array(1), new Uint8Array(200).fill(7), new Uint8Array(70_000).fill(9)]
  const wire = concat([encodeJoin(3, 'ns'), ...frames.flatMap(f => encodeFrame(3, f))])
  for (const cut of [() => 1, () => 3, (i: number) => (i * 7919) % 1500, () => wire.length]) {
    const { bodies, fatal } = split(wire, cut)
    assert.equal(fatal, [])
    assert.is(bodies.length, 4)
    assert.is(bodies[0]?.[0], MSG_JOIN)
    for (let i = 0; i < 3; i++) {
      const r = new BodyReader(bodies[i + 1] as Uint8Array, 1)
      assert.is(bodies[i + 1]?.[0], MSG_DATA)
      assert.is(r.uvarint(), 3)
      assert.equal(r.rest(), frames[i])
    }
  }
})

test('a frame over one chunk goes as PART… DATA and the pieces join back', () => {
  const frame = new Uint8Array(CHUNK_BYTES * 2 + 5).map((_, i) => i % 251)
  const envs = encodeFrame(1, frame)
  assert.is(envs.length, 3)
  const { bodies } = split(concat(envs), () => 65_536)
  assert.equal(bodies.map(b => b[0]), [MSG_PART, MSG_PART, MSG_DATA])
  assert.equal(concat(bodies.map(b => new BodyReader(b, 1).rest().slice(1))), frame)
})

test('a length prefix that is zero or over the limit stops the reader', () => {
  assert.equal(split(Uint8Array.of(0), () => 1).fatal.length, 1)
  const big = MAX_BODY_BYTES + 1
  const prefix = [(big & 0x7f) | 0x80, ((big >> 7) & 0x7f) | 0x80, big >> 14]
  assert.equal(split(Uint8Array.from(prefix), () => 1).fatal.length, 1)
  assert.equal(split(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff), () => 1).fatal.length, 1)
})

test('PEERS round-trips and bad bodies throw typed errors', () => {
  const peers = [{ peer: 'QmA', addrs: ['/ip4/127.0.0.1/tcp/1'] }, { peer: 'QmB', addrs: [] }]
  const { bodies } = split(encodePeers(peers), () => 100)
  assert.is(bodies[0]?.[0], MSG_PEERS)
  assert.equal(decodePeers(new BodyReader(bodies[0] as Uint8Array, 1)), peers)
  assert.throws(() => new BodyReader(Uint8Array.of(5, 0x61)).string(100), (e: unknown) => e instanceof MeshCacheError && e.code === 'E_FRAME_TRUNCATED')
  assert.throws(() => new BodyReader(Uint8Array.of(2, 0xff, 0xfe)).string(100), (e: unknown) => e instanceof MeshCacheError && e.code === 'E_FRAME_MALFORMED')
  assert.throws(() => new BodyReader(Uint8Array.of(200, 1)).string(100), (e: unknown) => e instanceof MeshCacheError && e.code === 'E_FRAME_TOO_LARGE')
})

test('a saturated stream drops whole frames instead of queueing without bound', () => {
  const sent: Uint8Array[] = []
  const fake = { writeStatus: 'writable', writableNeedsDrain: false, writeBufferLength: 0, send (b: Uint8Array) { sent.push(b); return true } }
  const link = new PeerLink('QmX')
  link.out = fake as unknown as Stream
  assert.ok(link.write([Uint8Array.of(1)], 1000))
  fake.writableNeedsDrain = true
  fake.writeBufferLength = 999
  assert.ok(link.write([Uint8Array.of(2), Uint8Array.of(3)], 1000), 'under the limit: still queued')
  fake.writeBufferLength = 1000
  assert.not.ok(link.write([Uint8Array.of(4), Uint8Array.of(5)], 1000), 'over the limit: dropped')
  assert.is(sent.length, 3)
  fake.writeStatus = 'closed'
  assert.not.ok(link.write([Uint8Array.of(6)], Infinity))
})

test('options are validated with E_INVALID_OPTION naming the option', async () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ listen: 'x' }, 'listen'],
    [{ listen: ['not a multiaddr'] }, 'listen'],
    [{ peers: [1] }, 'peers'],
    [{ psk: 'nope' }, 'psk'],
    [{ psk: '/key/swarm/psk/1.0.0/\n/base16/\nabcd' }, 'psk'],
    [{ redialInterval: -1 }, 'redialInterval'],
    [{ redialInterval: 100, maxRedialInterval: 50 }, 'maxRedialInterval'],
    [{ maxFrameBytes: 0 }, 'maxFrameBytes'],
    [{ dialTimeout: 2 ** 31 }, 'dialTimeout'],
    [{ keepaliveInterval: 5 }, 'keepaliveInterval'],
    [{ keepaliveInterval: 1000, peerTimeout: 2999 }, 'peerTimeout'],
    [{ peerTimeout: 2 ** 31 }, 'peerTimeout'],
    [{ probeInterval: 5 }, 'probeInterval'],
    [{ probeInterval: -1 }, 'probeInterval'],
    [{ maxPeers: 1 }, 'maxPeers'],
    [{ maxPeers: 2.5 }, 'maxPeers'],
    [{ maxPeers: '8' }, 'maxPeers'],
    [{ logger: {} }, 'logger'],
    [{ gossipsub: 'yes' }, 'gossipsub'],
    [{ gossipsub: { minPeers: -1 } }, 'gossipsub'],
    [{ gossipsub: { minPeers: 1.5 } }, 'gossipsub']
  ]
  for (const [opts, name] of cases) {
    try {
      await createLibp2pTransport(opts as never)
      assert.unreachable(`accepted ${JSON.stringify(opts)}`)
    } catch (err) {
      assert.instance(err, MeshCacheError)
      assert.is((err as MeshCacheError).code, 'E_INVALID_OPTION')
      assert.match((err as Error).message, `\`${name}\``)
    }
  }
})

test('generatePsk makes v1 swarm keys; bytes and text forms are the same key', () => {
  const k = generatePsk()
  assert.match(k, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
  assert.equal(normalizePsk(k), normalizePsk(new TextEncoder().encode(k)))
  assert.is.not(generatePsk(), k)
})

test.run()
