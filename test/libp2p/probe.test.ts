/**
 * The prober (lib/net/libp2p/probe.ts): bare TCP connects that find a healed
 * path. Real sockets on loopback; the end-to-end effect (convergence within
 * 1 s of a real nft heal) is test/netns/heal.test.ts.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer, type Server } from 'node:net'
import { once } from 'node:events'
import { Prober, PROBES_PER_TICK, tcpTargets, type TcpTarget } from '../../lib/net/libp2p/probe.ts'

async function listen (port = 0): Promise<Server> {
  const server = createServer(socket => { socket.destroy() })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  return server
}

const portOf = (server: Server): number => (server.address() as { port: number }).port
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
/** Waits until `done` (the prober's own timer drives it; a loaded machine only makes it slower). */
async function until (done: () => boolean): Promise<void> { while (!done()) await sleep(5) }

test('tcpTargets takes the TCP endpoints of ip4, ip6 and dns addresses and skips the rest', () => {
  assert.equal(tcpTargets([
    '/ip4/10.0.0.1/tcp/4001', '/ip6/::1/tcp/5/p2p/12D3Koo', '/dns4/cache-0.internal/tcp/4001',
    '/ip4/10.0.0.1/udp/4001/quic-v1', '/memory/x', '/ip4/10.0.0.1/tcp/0'
  ]), [{ host: '10.0.0.1', port: 4001 }, { host: '::1', port: 5 }, { host: 'cache-0.internal', port: 4001 }])
})

test('a watched peer is reported once, when its address starts to accept, and is then no longer watched', async () => {
  // Find a free port, close it, and probe it: refused until a listener comes back on it.
  const probe = await listen()
  const port = portOf(probe)
  probe.close()
  await once(probe, 'close')
  const reached: string[] = []
  const prober = new Prober(20, peer => { reached.push(peer) })
  try {
    assert.ok(prober.watch('p', [`/ip4/127.0.0.1/tcp/${port}`]))
    // Three ticks of refusals (real time: the prober's own interval is what is tested).
    await until(() => prober.probes >= 3)
    assert.equal(reached, [], 'nothing listens: not reachable')
    const server = await listen(port)
    await until(() => reached.length > 0)
    assert.equal(reached, ['p'])
    assert.not.ok(prober.isWatching('p'))
    const after = prober.probes
    await sleep(60) // a bounded silence: nothing must happen in it
    assert.is(prober.probes, after, 'no more probes once reported')
    server.close()
  } finally {
    prober.stop()
  }
})

test('a peer without a TCP address cannot be watched; unwatch and stop end the probes', async () => {
  const targets: TcpTarget[] = []
  const prober = new Prober(10, () => {}, async (target) => { targets.push(target); return false })
  assert.not.ok(prober.watch('mem', ['/memory/x']))
  assert.ok(prober.watch('p', ['/ip4/127.0.0.1/tcp/9']))
  await until(() => targets.length >= 2)
  prober.unwatch('p')
  const n = targets.length
  await sleep(40) // a bounded silence: nothing must happen in it
  assert.is(targets.length, n)
  prober.stop()
  assert.not.ok(prober.watch('p', ['/ip4/127.0.0.1/tcp/9']), 'a stopped prober watches nothing')
})

test(`at most ${PROBES_PER_TICK} peers are probed per tick, taken in turn`, async () => {
  // A tick starts its probes synchronously: probes started in one macrotask are one tick's.
  const perTick: string[][] = []
  let current: string[] | undefined
  const prober = new Prober(15, () => {}, async (target) => {
    if (current === undefined) {
      current = []
      perTick.push(current)
      setImmediate(() => { current = undefined })
    }
    current.push(String(target.port))
    return false
  })
  for (let i = 1; i <= PROBES_PER_TICK * 2; i++) prober.watch(`p${i}`, [`/ip4/127.0.0.1/tcp/${i}`])
  await until(() => perTick.length >= 3)
  prober.stop()
  assert.ok(perTick.every(tick => tick.length === PROBES_PER_TICK), JSON.stringify(perTick))
  assert.is(new Set(perTick.flat()).size, PROBES_PER_TICK * 2, 'every peer gets its turn')
})

test.run()
