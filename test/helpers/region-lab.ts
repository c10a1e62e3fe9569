/**
 * Two regions apart by a real delay, for tests and benches (root only).
 *
 * Each region is a bridge (10.78.<r+1>.0/24) in a hub namespace, and each
 * instance a namespace of its own on its region's bridge (10.78.<r+1>.<j+1>).
 * The instances have no route to the other region's subnet (a dial there
 * fails at once), so every cross-region byte goes through the delay proxy
 * (delay-proxy.ts), which runs in the hub namespace with an address on both
 * bridges (10.78.<r+1>.254): for each instance k there is a port on the
 * OTHER region's gateway address that forwards to k, `delayMs` one way.
 * Inside a region, packets cross the bridge with no added delay.
 *
 * `cut()` drops every packet between the regions, nft at the receivers as in
 * netns.ts: the hub drops what comes from any instance and each instance drops
 * what comes from its gateway, so connections through the proxy stall and new
 * ones time out. `heal()` lifts it. Names start with `regions-` and are swept
 * by netns.ts's `sweepLeftovers` when their owner is gone.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { isNetnsAvailable, sweepLeftovers } from './netns.ts'
import type { DelayRoute } from './delay-proxy.ts'

// MESHCACHE_NETNS_PREFIX names a run's namespaces apart from parallel runs' (the shared machine's convention).
const PREFIX = process.env.MESHCACHE_NETNS_PREFIX ?? 'regions'
const PROXY = new URL('./delay-proxy.ts', import.meta.url)
const PROXY_PORT_BASE = 20_000
const RULESET = `table inet regions_cut {
  set cut { type ipv4_addr; }
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr @cut drop
  }
}
`

export interface RegionNode {
  readonly index: number
  /** 0 or 1. */
  readonly region: number
  readonly name: string
  readonly address: string
}

export interface RegionLab {
  readonly nodes: readonly RegionNode[]
  readonly delayMs: number
  /** The multiaddrs node `index` dials its peers at: same region direct, other region through the proxy. */
  peersOf (index: number): string[]
  /** Starts a Node script in node `index`'s namespace with an IPC channel. */
  node (index: number, script: string | URL, args?: readonly string[], options?: SpawnOptions): ChildProcess
  /** How long the proxy really held each chunk since the last call (ms): the link as delivered; and the connections through it now. */
  proxyHolds (): Promise<{ holds: number[], connections: number }>
  /** Drops every packet between the two regions. */
  cut (): Promise<void>
  heal (): Promise<void>
  close (): Promise<void>
}

export interface RegionLabOptions {
  /** Instances per region, e.g. [3, 3]. */
  sizes: readonly [number, number]
  /** One-way delay between the regions. */
  delayMs: number
  /** The port every instance listens on. */
  port: number
}

async function run (command: string, args: readonly string[], input?: string): Promise<void> {
  const child = spawn(command, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => { stderr += c.toString() })
  if (input !== undefined) { child.stdin?.on('error', () => {}); child.stdin?.end(input) }
  const [code] = await once(child, 'close') as [number | null]
  if (code !== 0) throw new Error(`region-lab: \`${command} ${args.join(' ')}\` failed (${code}): ${stderr.trim()}`)
}

export { isNetnsAvailable }

export async function createRegionLab (options: RegionLabOptions): Promise<RegionLab> {
  const available = await isNetnsAvailable(PREFIX)
  if (!available.ok) throw new Error(`region-lab: unavailable: ${available.reason}`)
  const stamp = Date.now()
  const id = `${PREFIX}-${stamp.toString(36)}-${process.pid.toString(36)}-${randomBytes(2).toString('hex')}`
  await sweepLeftovers(stamp, PREFIX)
  const hub = `${id}-hub`
  const gateway = (region: number): string => `10.78.${region + 1}.254`
  const nodes: RegionNode[] = []
  for (const [region, size] of options.sizes.entries()) {
    for (let j = 0; j < size; j++) nodes.push({ index: nodes.length, region, name: `${id}-${nodes.length}`, address: `10.78.${region + 1}.${j + 1}` })
  }
  const children = new Set<ChildProcess>()
  let proxy: ChildProcess | undefined
  const names = [hub]
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await Promise.all([...children].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    }))
    for (const name of names) await run('ip', ['netns', 'del', name]).catch(() => {})
  }
  const spawnIn = (name: string, script: string | URL, args: readonly string[], opts: SpawnOptions = {}): ChildProcess => {
    const path = script instanceof URL ? script.pathname : script
    const child = spawn('ip', ['netns', 'exec', name, process.execPath, ...process.execArgv, path, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], ...opts })
    children.add(child)
    child.once('exit', () => children.delete(child))
    return child
  }
  process.once('exit', () => { for (const c of children) c.kill('SIGKILL') })

  try {
    await run('ip', ['netns', 'add', hub])
    await run('ip', ['netns', 'exec', hub, 'sysctl', '-q', 'net.ipv4.ip_forward=0'])
    await run('ip', ['-n', hub, 'link', 'set', 'lo', 'up'])
    for (const region of [0, 1]) {
      await run('ip', ['-n', hub, 'link', 'add', `br${region}`, 'type', 'bridge'])
      await run('ip', ['-n', hub, 'addr', 'add', `${gateway(region)}/24`, 'dev', `br${region}`])
      await run('ip', ['-n', hub, 'link', 'set', `br${region}`, 'up'])
    }
    await run('ip', ['netns', 'exec', hub, 'nft', '-f', '-'], RULESET)
    for (const node of nodes) {
      names.push(node.name)
      await run('ip', ['netns', 'add', node.name])
      await run('ip', ['-n', hub, 'link', 'add', `v${node.index}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.name])
      await run('ip', ['-n', hub, 'link', 'set', `v${node.index}`, 'master', `br${node.region}`, 'up'])
      await run('ip', ['-n', node.name, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0'])
      await run('ip', ['-n', node.name, 'link', 'set', 'eth0', 'up'])
      await run('ip', ['-n', node.name, 'link', 'set', 'lo', 'up'])
      await run('ip', ['netns', 'exec', node.name, 'nft', '-f', '-'], RULESET)
    }
    // Instance k is reached from the other region at its gateway's port PROXY_PORT_BASE + k.
    const routes: DelayRoute[] = nodes.map((node) => ({
      listen: { host: gateway(1 - node.region), port: PROXY_PORT_BASE + node.index },
      target: { host: node.address, port: options.port },
    }))
    proxy = spawnIn(hub, PROXY, [JSON.stringify(routes), String(options.delayMs)])
    const [ready] = await Promise.race([
      once(proxy, 'message'),
      once(proxy, 'exit').then(([code]) => { throw new Error(`region-lab: the delay proxy exited (${String(code)})`) }),
    ]) as [{ ready?: boolean }]
    if (ready.ready !== true) throw new Error('region-lab: the delay proxy did not start')
  } catch (error) {
    await close()
    throw error
  }

  const nodeAt = (index: number): RegionNode => {
    const node = nodes[index]
    if (node === undefined) throw new RangeError(`region-lab: no node ${index}`)
    return node
  }
  const setCut = async (op: 'add' | 'flush'): Promise<void> => {
    const elements = (addresses: string[]): string[] => op === 'add' ? ['{', addresses.join(', '), '}'] : []
    const verb = op === 'add' ? ['add', 'element'] : ['flush', 'set']
    // All at once: one after the other, a loaded machine stretched a heal over a second (nine spawns),
    // and instances converged before it ended, timed from its end (reported as 0 ms).
    await Promise.all([
      run('ip', ['netns', 'exec', hub, 'nft', ...verb, 'inet', 'regions_cut', 'cut', ...elements(nodes.map((n) => n.address))]),
      ...nodes.map(async (node) => { await run('ip', ['netns', 'exec', node.name, 'nft', ...verb, 'inet', 'regions_cut', 'cut', ...elements([gateway(node.region)])]) }),
    ])
  }

  return {
    nodes,
    delayMs: options.delayMs,
    peersOf (index) {
      const self = nodeAt(index)
      return nodes.filter((n) => n.index !== index).map((n) => n.region === self.region
        ? `/ip4/${n.address}/tcp/${options.port}`
        : `/ip4/${gateway(self.region)}/tcp/${PROXY_PORT_BASE + n.index}`)
    },
    node: (index, script, args = [], opts = {}) => spawnIn(nodeAt(index).name, script, args, opts),
    proxyHolds: async () => {
      const child = proxy as ChildProcess
      const reply = once(child, 'message') as Promise<[{ holds: number[], connections: number }]>
      child.send({ op: 'holds' })
      return (await reply)[0]
    },
    cut: async () => { await setCut('add') },
    heal: async () => { await setCut('flush') },
    close,
  }
}
