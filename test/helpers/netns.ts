/**
 * Real network partitions between real processes, for tests that must cut an
 * actual TCP connection (root only; `ip netns` + veth + nft, no netem needed).
 *
 * A lab is K network namespaces `<id>-0 … <id>-(K-1)`, each with one veth
 * `eth0` (10.77.0.(i+1)/24) plugged into a bridge that lives in a K+1-th
 * namespace `<id>-hub`. Nothing is added to the host's own namespace, so the
 * addresses cannot collide with anything real and no packet leaves the lab.
 * Each namespace also has its own loopback.
 *
 * A partition drops, at the receiving side, every IPv4 packet from the other
 * group (an nft set per namespace, hooked on input): packets still leave, so a
 * sender sees silence, not an error. New connections time out; established
 * ones stall and retransmit, and resume after `heal()` (or reset, if one side
 * gave up meanwhile). ARP still flows, as on a real L2 segment.
 *
 * Ids are `<prefix>-<ms since epoch, base36>-<pid, base36>-<random>` (prefix
 * `mc` unless the caller names its own, so that parallel users of one machine
 * can tell their namespaces apart), so parallel runs never collide, and a lab
 * of the same prefix whose owner process is gone (a crashed run) and that is
 * older than ours is removed by `createNetnsLab` and `close`.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { randomBytes } from 'node:crypto'

const SUBNET = '10.77.0'
const DEFAULT_PREFIX = 'mc'
const PREFIX_PATTERN = /^[a-z][a-z0-9]{0,15}$/
const idPattern = (prefix: string): RegExp => new RegExp(`^${prefix}-([0-9a-z]+)-([0-9a-z]+)-[0-9a-f]+-(?:hub|\\d+)$`)

/** The nft ruleset loaded into each node namespace; `cut` holds the addresses we cannot hear. */
const RULESET = `table inet meshcache_partition {
  set cut { type ipv4_addr; }
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr @cut drop
  }
}
`

export interface NetnsAvailability {
  ok: boolean
  /** Why not, when `ok` is false (for a test's skip message). */
  reason: string
}

export interface NetnsNode {
  readonly index: number
  /** The namespace name, for `ip netns exec`. */
  readonly name: string
  /** This namespace's address on the lab bridge. */
  readonly address: string
}

export interface NetnsLab {
  readonly id: string
  readonly nodes: readonly NetnsNode[]
  /**
   * Starts `command` inside namespace `index` (`ip netns exec`; the pid is
   * the command's own). Killed by `close()` if still running.
   */
  spawn(index: number, command: string, args: readonly string[], options?: SpawnOptions): ChildProcess
  /** Starts a Node script (this process's Node) inside namespace `index`, with an IPC channel. */
  node(index: number, script: string | URL, args?: readonly string[], options?: SpawnOptions): ChildProcess
  /** Partitions: nothing from `a` reaches `b` and nothing from `b` reaches `a`. Cumulative. */
  cut(a: readonly number[], b: readonly number[]): Promise<void>
  /** Removes every partition. */
  heal(): Promise<void>
  /** Kills the lab's processes and deletes its namespaces. Idempotent. */
  close(): Promise<void>
}

interface RunResult { code: number | null, stdout: string, stderr: string }

function run(command: string, args: readonly string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
    if (input !== undefined) {
      // A command that exits without reading its input must not crash us with EPIPE.
      child.stdin?.on('error', () => {})
      child.stdin?.end(input)
    }
  })
}

async function must(command: string, args: readonly string[], input?: string): Promise<string> {
  const result = await run(command, args, input)
  if (result.code !== 0) {
    throw new Error(`netns: \`${command} ${args.join(' ')}\` failed (${result.code}): ${result.stderr.trim()}`)
  }
  return result.stdout
}

let availability: Promise<NetnsAvailability> | undefined

/**
 * Whether this machine can host a lab: root, `ip` and `nft` present, and
 * namespaces actually work (tried on a namespace named with `prefix`). Cached.
 */
export function isNetnsAvailable(prefix = DEFAULT_PREFIX): Promise<NetnsAvailability> {
  availability ??= probe(process.env.MESHCACHE_NETNS_PREFIX ?? prefix)
  return availability
}

async function probe(prefix: string): Promise<NetnsAvailability> {
  if (process.platform !== 'linux') return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` }
  if (process.getuid?.() !== 0) return { ok: false, reason: 'network namespaces need root' }
  for (const [tool, args, pkg] of [['ip', ['-V'], 'iproute2'], ['nft', ['--version'], 'nftables']] as const) {
    const result = await run(tool, args).catch(() => undefined)
    if (result?.code !== 0) return { ok: false, reason: `\`${tool}\` is missing (apt-get install ${pkg})` }
  }
  const name = `${newId(prefix)}-0`
  try {
    await must('ip', ['netns', 'add', name])
    await must('ip', ['netns', 'exec', name, 'nft', '-f', '-'], RULESET)
    return { ok: true, reason: '' }
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) }
  } finally {
    await run('ip', ['netns', 'del', name]).catch(() => undefined)
  }
}

function newId(prefix = DEFAULT_PREFIX): string {
  return `${prefix}-${Date.now().toString(36)}-${process.pid.toString(36)}-${randomBytes(2).toString('hex')}`
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Deletes namespaces left by crashed runs: our prefix, created before `before`
 * (ms), by a process that no longer exists. A lab of a live parallel run is
 * never touched.
 */
export async function sweepLeftovers(before = Date.now(), prefix = DEFAULT_PREFIX): Promise<string[]> {
  const pattern = idPattern(prefix)
  const listed = await run('ip', ['netns', 'list']).catch(() => undefined)
  if (!listed || listed.code !== 0) return []
  const removed: string[] = []
  for (const line of listed.stdout.split('\n')) {
    const name = line.split(' ')[0] ?? ''
    const match = pattern.exec(name)
    if (!match) continue
    const created = parseInt(match[1] ?? '', 36)
    const pid = parseInt(match[2] ?? '', 36)
    if (created >= before || (alive(pid) && pid !== process.pid)) continue
    if (pid === process.pid && labs.has(name.slice(0, name.lastIndexOf('-')))) continue
    if ((await run('ip', ['netns', 'del', name])).code === 0) removed.push(name)
  }
  return removed
}

/** Labs of this process still open, torn down synchronously if the process exits first. */
const labs = new Map<string, { names: string[], children: Set<ChildProcess> }>()
let exitHooked = false

function teardownSync(): void {
  for (const [id, lab] of labs) {
    for (const child of lab.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    for (const name of lab.names) spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' })
    labs.delete(id)
  }
}

function hookExit(): void {
  if (exitHooked) return
  exitHooked = true
  process.on('exit', teardownSync)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      teardownSync()
      process.kill(process.pid, signal)
    })
  }
}

export interface NetnsLabOptions {
  /** Start of every namespace name (lower-case letters and digits, up to 16). @default 'mc' */
  prefix?: string
}

/** Creates a lab of `size` connected namespaces. Call `close()` in a finally. */
export async function createNetnsLab(size: number, options: NetnsLabOptions = {}): Promise<NetnsLab> {
  if (!Number.isInteger(size) || size < 1 || size > 250) throw new TypeError(`netns: size must be 1..250, got ${size}`)
  // MESHCACHE_NETNS_PREFIX names a run's namespaces apart from parallel runs' (the shared machine's convention).
  const prefix = process.env.MESHCACHE_NETNS_PREFIX ?? options.prefix ?? DEFAULT_PREFIX
  if (!PREFIX_PATTERN.test(prefix)) throw new TypeError(`netns: prefix must match ${PREFIX_PATTERN}, got ${JSON.stringify(prefix)}`)
  const availableHere = await isNetnsAvailable(prefix)
  if (!availableHere.ok) throw new Error(`netns: unavailable: ${availableHere.reason}`)
  const id = newId(prefix)
  await sweepLeftovers(parseInt(id.split('-')[1] ?? '0', 36), prefix)

  const hub = `${id}-hub`
  const nodes: NetnsNode[] = Array.from({ length: size }, (_, index) => ({
    index,
    name: `${id}-${index}`,
    address: `${SUBNET}.${index + 1}`,
  }))
  const state = { names: [hub, ...nodes.map((n) => n.name)], children: new Set<ChildProcess>() }
  hookExit()
  labs.set(id, state)

  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    const exits = [...state.children].map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGKILL')
    }))
    await Promise.all(exits)
    for (const name of state.names) await run('ip', ['netns', 'del', name])
    labs.delete(id)
    await sweepLeftovers(parseInt(id.split('-')[1] ?? '0', 36), prefix)
  }

  try {
    await must('ip', ['netns', 'add', hub])
    await must('ip', ['-n', hub, 'link', 'add', 'br0', 'type', 'bridge'])
    await must('ip', ['-n', hub, 'link', 'set', 'br0', 'up'])
    for (const node of nodes) {
      await must('ip', ['netns', 'add', node.name])
      await must('ip', ['-n', hub, 'link', 'add', `v${node.index}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.name])
      await must('ip', ['-n', hub, 'link', 'set', `v${node.index}`, 'master', 'br0', 'up'])
      await must('ip', ['-n', node.name, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0'])
      await must('ip', ['-n', node.name, 'link', 'set', 'eth0', 'up'])
      await must('ip', ['-n', node.name, 'link', 'set', 'lo', 'up'])
      await must('ip', ['netns', 'exec', node.name, 'nft', '-f', '-'], RULESET)
    }
  } catch (error) {
    await close()
    throw error
  }

  const nodeAt = (index: number): NetnsNode => {
    const node = nodes[index]
    if (!node) throw new RangeError(`netns: no node ${index} in a lab of ${size}`)
    return node
  }

  const spawnIn = (index: number, command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess => {
    if (closed) throw new Error('netns: lab is closed')
    const child = spawn('ip', ['netns', 'exec', nodeAt(index).name, command, ...args], options)
    state.children.add(child)
    child.once('exit', () => state.children.delete(child))
    return child
  }

  const addToCut = async (at: number, from: readonly number[]): Promise<void> => {
    if (from.length === 0) return
    const addresses = from.map((i) => nodeAt(i).address).join(', ')
    await must('ip', ['netns', 'exec', nodeAt(at).name, 'nft', 'add', 'element', 'inet', 'meshcache_partition', 'cut', `{ ${addresses} }`])
  }

  return {
    id,
    nodes,
    spawn: spawnIn,
    node(index, script, args = [], options = {}) {
      const path = script instanceof URL ? script.pathname : script
      return spawnIn(index, process.execPath, [...process.execArgv, path, ...args], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        ...options,
      })
    },
    async cut(a, b) {
      for (const i of a) await addToCut(i, b)
      for (const i of b) await addToCut(i, a)
    },
    async heal() {
      for (const node of nodes) await must('ip', ['netns', 'exec', node.name, 'nft', 'flush', 'set', 'inet', 'meshcache_partition', 'cut'])
    },
    close,
  }
}
