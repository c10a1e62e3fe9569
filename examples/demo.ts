/**
 * npm run demo: five processes of one service, each with its own in-process
 * cache, kept coherent by meshcache over libp2p on loopback.
 *
 *   1. every instance reads user:42 (one database load each, then cache hits);
 *   2. n0 updates the row and writes the key: the other four evict their copy,
 *      and the timeline shows how long after the write each one did;
 *   3. the mesh is split {n0,n1,n2} | {n3,n4}; both sides write; each side
 *      serves its own view (the TTL bounds this);
 *   4. the partition heals; anti-entropy merges both sides and every instance
 *      agrees again (the time it took is shown).
 *
 * n0 serves the live dashboard (its URL is printed first). `npm run demo --
 * --watch` pauses a few seconds between steps, so the partition and the heal
 * can be watched in the browser.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const USAGE = 'usage: npm run demo [-- --watch]   (--watch: pause between steps, to follow them on the dashboard)'
let watch = false
try {
  const { values } = parseArgs({ options: { watch: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } } })
  if (values.help === true) {
    console.log(USAGE)
    process.exit(0)
  }
  watch = values.watch
} catch (error) {
  console.error(`${(error as Error).message}\n${USAGE}`)
  process.exit(2)
}

const NODES = [['n0', 'eu-west'], ['n1', 'eu-west'], ['n2', 'eu-west'], ['n3', 'us-east'], ['n4', 'us-east']] as const
const database = new Map<string, string>([['user:42', 'Ada <ada@old.example>'], ['price:sku-1', '100']])
const now = (): number => Number(process.hrtime.bigint()) / 1e6
const started = now()

interface Node { name: string, region: string, child: ChildProcess, peerId: string, addrs: string[], dashboardUrl?: string }
/** --watch: seconds to look at the dashboard between steps. */
const PAUSE_MS = watch ? 6_000 : 0
const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, PAUSE_MS))
const nodes: Node[] = []
const evictions: Array<{ node: string, key: string, reason: string, at: number }> = []
let nextId = 0
const waiting = new Map<number, (body: any) => void>()

function say (text: string): void {
  console.log(`[${((now() - started) / 1000).toFixed(3).padStart(7)} s] ${text}`)
}

function ask (node: Node, op: string, extra: object = {}): Promise<any> {
  const id = nextId++
  return new Promise((resolve) => {
    waiting.set(id, resolve)
    node.child.send({ id, op, ...extra })
  })
}

async function start (name: string, region: string): Promise<Node> {
  const peers = nodes.flatMap((n) => n.addrs).join(',')
  const child = fork(fileURLToPath(new URL('./demo-node.ts', import.meta.url)), [name, region, peers], { execPath: process.execPath, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)))
    child.on('message', (msg: any) => {
      if (msg.type === 'ready') resolve({ name, region, child, peerId: msg.peerId, addrs: msg.addrs, dashboardUrl: msg.dashboardUrl })
      else if (msg.type === 'reply') { waiting.get(msg.id)?.(msg); waiting.delete(msg.id) }
      else if (msg.type === 'evict') evictions.push(msg)
      else if (msg.type === 'db') child.send({ type: 'db', id: msg.id, value: database.get(msg.key) })
    })
  })
}

async function until (what: string, cond: () => Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const t0 = now()
  while (!(await cond())) {
    if (now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  return now() - t0
}

async function readEverywhere (key: string): Promise<void> {
  for (const n of nodes) {
    const r = await ask(n, 'read', { key })
    say(`  ${n.name} (${n.region}) reads ${key} = ${JSON.stringify(r.value)}  [${r.from}]`)
  }
}

async function stateEverywhere (keys: string[]): Promise<string[]> {
  // Versions only: in invalidate mode only some instances hold a value, and that is fine.
  const version = (v: any) => v && [v.kind, v.hlc, v.writer, v.vv]
  return Promise.all(nodes.map(async (n) => JSON.stringify((await ask(n, 'state', { keys })).state.map((s: any) => version(s[1])))))
}

try {
  say('starting 5 instances of the service (each its own process, own cache, own libp2p node)')
  for (const [name, region] of NODES) {
    nodes.push(await start(name, region))
    say(`  ${name} up in ${region}: ${nodes.at(-1)?.addrs[0]}`)
    if (nodes.at(-1)?.dashboardUrl !== undefined) say(`  dashboard of the whole mesh (served by ${name}): ${nodes.at(-1)?.dashboardUrl}${PAUSE_MS === 0 ? '  (npm run demo -- --watch pauses between steps)' : ''}`)
  }
  await until('a full mesh', async () => (await Promise.all(nodes.map((n) => ask(n, 'peers')))).every((p) => p.count === 4))
  say('mesh formed: every instance connected to the 4 others')

  say('')
  say('1. every instance reads user:42 and price:sku-1: the first read loads from the database, the second is a local hit')
  await readEverywhere('user:42')
  await readEverywhere('price:sku-1')
  await readEverywhere('user:42')

  await pause()
  say('')
  say('2. n0 updates user:42 in the database and writes it to its cache, twice')
  for (const email of ['ada@new.example', 'ada@newer.example']) {
    await readEverywhere('user:42') // everyone holds a copy again
    database.set('user:42', `Ada <${email}>`)
    evictions.length = 0
    const { at } = await ask(nodes[0] as Node, 'write', { key: 'user:42', value: database.get('user:42') })
    say(`  n0 writes user:42 = "Ada <${email}>"`)
    await until('4 evictions', async () => evictions.filter((e) => e.key === 'user:42').length >= 4)
    for (const e of evictions.sort((a, b) => a.at - b.at)) {
      say(`    ${e.node} evicted ${e.key} (${e.reason}) ${(e.at - at).toFixed(3)} ms after the write`)
    }
  }
  say('  (the first frames on fresh connections are slower; npm run bench:mesh measures the steady state)')
  await readEverywhere('user:42')

  await pause()
  say('')
  say('3. partition: {n0, n1, n2} | {n3, n4} (connections cut in both directions)')
  const sideA = nodes.slice(0, 3)
  const sideB = nodes.slice(3)
  for (const n of sideA) await ask(n, 'block', { peers: sideB.map((m) => m.peerId) })
  for (const n of sideB) await ask(n, 'block', { peers: sideA.map((m) => m.peerId) })
  await until('the split', async () => (await Promise.all(nodes.map((n) => ask(n, 'peers')))).every((p, i) => p.count === (i < 3 ? 2 : 1)))
  say('  split: n0..n2 see 2 peers, n3..n4 see 1')
  database.set('price:sku-1', '120')
  await ask(nodes[3] as Node, 'write', { key: 'price:sku-1', value: '120' })
  say('  n3 (us-east) updates price:sku-1 = 120 in the database and its cache')
  database.set('user:42', 'Ada <ada@eu.example>')
  await ask(nodes[0] as Node, 'write', { key: 'user:42', value: database.get('user:42') })
  say('  n0 (eu-west) updates user:42 = "Ada <ada@eu.example>" in the database and its cache')
  await new Promise((resolve) => setTimeout(resolve, 50))
  await readEverywhere('price:sku-1')
  await readEverywhere('user:42')
  say('  -> n0..n2 still serve the old price and n3..n4 the old user: the other side\'s writes cannot reach')
  say('     them. This is the one case meshcache cannot prevent; the TTL (60 s here) bounds it.')

  await pause()
  say('')
  say('4. heal: lift the cut; instances redial each other and run anti-entropy')
  const keys = ['user:42', 'price:sku-1']
  for (const n of nodes) await ask(n, 'heal', { peers: nodes.filter((m) => m !== n).flatMap((m) => m.addrs) })
  const took = await until('convergence', async () => new Set(await stateEverywhere(keys)).size === 1)
  say(`  every instance holds the same version of every key ${took.toFixed(1)} ms after the heal`)
  const [, price] = (await ask(nodes[1] as Node, 'state', { keys })).state
  say(`  price:sku-1 on n1: version ${JSON.stringify(price[1].vv)}, written by ${price[1].writer}`)
  const repaired = evictions.filter((e) => e.reason === 'repair').map((e) => `${e.node}:${e.key}`)
  say(`  stale copies evicted by the repair: ${repaired.join(', ')}`)
  await readEverywhere('price:sku-1')
  await readEverywhere('user:42')

  await pause()
  say('')
  say('counters (cache.stats()) per instance:')
  for (const n of nodes) {
    const { stats: s } = await ask(n, 'stats')
    say(`  ${n.name}: hits ${s.hits}, misses ${s.misses}, local updates ${s.localUpdates}, remote updates ${s.remoteUpdates}, repairs ${s.repairs}, duplicates ${s.duplicates}, protocol errors ${s.protocolErrors}`)
  }
} finally {
  await Promise.all(nodes.map((n) => Promise.race([ask(n, 'close'), new Promise((resolve) => setTimeout(resolve, 2000))])))
  for (const n of nodes) n.child.kill()
}
