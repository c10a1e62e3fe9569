/**
 * Drives meshcache processes in two regions apart by a real delay
 * (test/helpers/region-lab.ts): propagation inside and across the regions,
 * and a region cut off and healed. Shared by test/netns/regions.test.ts and
 * bench/regions.ts.
 *
 * Times are each process's CLOCK_MONOTONIC (system-wide, so comparable across
 * namespaces): the writer's `at` when `set` ran, each receiver's `at` when the
 * value was stored.
 */
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import type { ChildProcess } from 'node:child_process'
import { createRegionLab, type RegionLab } from '../helpers/region-lab.ts'

const NODE = new URL('./mesh-node.ts', import.meta.url)
const PORT = 7000
const GUARD_MS = 60_000
const now = (): number => Number(process.hrtime.bigint()) / 1e6

interface Reply { id: number, value: unknown, at: number }

export interface Regions {
  readonly lab: RegionLab
  readonly children: ChildProcess[]
  ask (index: number, request: Record<string, unknown>): Promise<Reply>
  close (): Promise<void>
}

export interface RegionsOptions {
  sizes: readonly [number, number]
  delayMs: number
  /** Extra environment for mesh-node.ts (KEEPALIVE_MS, PEER_TIMEOUT_MS, REDIAL...). */
  env?: Record<string, string>
  /** Start the second region this long after the first (ms): the first's dials of it at start fail, as after a deploy of one region. */
  staggerMs?: number
}

let nextId = 0

export async function startRegions (options: RegionsOptions): Promise<Regions> {
  const lab = await createRegionLab({ sizes: options.sizes, delayMs: options.delayMs, port: PORT })
  const children: ChildProcess[] = []
  const ask = async (index: number, request: Record<string, unknown>): Promise<Reply> => {
    const child = children[index] as ChildProcess
    const id = nextId++
    return await new Promise((resolve, reject) => {
      const guard = setTimeout(() => { cleanup(); reject(new Error(`node ${index}: no answer to ${String(request.op)} within ${GUARD_MS} ms`)) }, GUARD_MS)
      const onMessage = (reply: Reply): void => { if (reply.id === id) { cleanup(); resolve(reply) } }
      const onExit = (code: number | null): void => { cleanup(); reject(new Error(`node ${index} exited (${code})`)) }
      const cleanup = (): void => { clearTimeout(guard); child.off('message', onMessage); child.off('exit', onExit) }
      child.on('message', onMessage)
      child.once('exit', onExit)
      child.send({ ...request, id })
    })
  }
  try {
    const psk = randomBytes(32).toString('hex')
    for (const node of lab.nodes) {
      if (node.region === 1 && children.length === options.sizes[0] && options.staggerMs !== undefined) await new Promise((resolve) => setTimeout(resolve, options.staggerMs))
      const env = { ...process.env, REGION: `r${node.region}`, ...options.env }
      children.push(lab.node(node.index, NODE, [node.address, String(PORT), psk, ...lab.peersOf(node.index)], { env }))
    }
    await Promise.all(children.map(async (child) => await once(child, 'message')))
    const others = lab.nodes.length - 1
    // A partial mesh (MAX_PEERS) connects to fewer: wait for the membership instead.
    const op = options.env?.MAX_PEERS === undefined ? 'await-peers' : 'await-members'
    await Promise.all(children.map(async (_, i) => await ask(i, { op, count: others })))
  } catch (error) {
    await lab.close()
    throw error
  }
  return { lab, children, ask, close: async () => { await lab.close() } }
}

export interface Propagation {
  /** ms from the write to its arrival, receivers in the writer's region. */
  intra: number[]
  /** ms from the write to its arrival, receivers in the other region. */
  cross: number[]
}

/** `writes` writes, one at a time, alternately from the first instance of each region. */
export async function measurePropagation (r: Regions, writes: number, tag = 'p'): Promise<Propagation> {
  const out: Propagation = { intra: [], cross: [] }
  const { nodes } = r.lab
  const writers = [0, 1].map((region) => (nodes.find((n) => n.region === region) as { index: number }).index)
  for (let w = 0; w < writes; w++) {
    const writer = writers[w % 2] as number
    const key = `${tag}:${w}`
    const expect = { [key]: `v${w}` }
    const receivers = nodes.filter((n) => n.index !== writer)
    const arrivals = receivers.map(async (n) => await r.ask(n.index, { op: 'await-values', expect }))
    // A reply to a later request proves the wait is registered (IPC is in order), so no arrival is missed.
    await Promise.all(receivers.map(async (n) => await r.ask(n.index, { op: 'get', keys: [] })))
    const written = await r.ask(writer, { op: 'set', key, value: `v${w}` })
    const at = await Promise.all(arrivals)
    for (const [i, n] of receivers.entries()) {
      const ms = (at[i] as Reply).at - written.at
      if (n.region === (nodes[writer] as { region: number }).region) out.intra.push(ms)
      else out.cross.push(ms)
    }
  }
  return out
}

const keysOf = (prefix: string, count: number): Record<string, string> =>
  Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}:${i}`, prefix]))

export interface Healed {
  /** Each instance's ms from the heal (the cut lifted in every namespace) to holding both regions' writes. */
  ms: number[]
  /** How long lifting the cut took (nft in every namespace at once): the heal's own uncertainty. */
  liftMs: number
}

/**
 * Cuts the regions apart for `cutMs`, writes `keys` keys in each region
 * during the cut, heals; returns when each instance held both regions'
 * writes, from the heal.
 */
export async function cutAndHeal (r: Regions, round: string, cutMs: number, keys = 50): Promise<Healed> {
  const { nodes } = r.lab
  await r.lab.cut()
  const cutAt = now()
  const written: Array<Record<string, string>> = []
  for (const region of [0, 1]) {
    const writer = (nodes.find((n) => n.region === region) as { index: number }).index
    const values = keysOf(`${round}-r${region}`, keys)
    for (const [key, value] of Object.entries(values)) await r.ask(writer, { op: 'set', key, value })
    await Promise.all(nodes.filter((n) => n.region === region).map(async (n) => await r.ask(n.index, { op: 'await-values', expect: values })))
    written.push(values)
  }
  const [a, b] = written as [Record<string, string>, Record<string, string>]
  const unseen = await r.ask(nodes.length - 1, { op: 'get', keys: Object.keys(a) })
  if (!(unseen.value as unknown[]).every((v) => v === null)) throw new Error('region 1 saw region 0 during the cut')
  // The cut's length is what is tested: nothing to wait on but time.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, cutAt + cutMs - now())))
  const converging = nodes.map(async (n) => await r.ask(n.index, { op: 'await-values', expect: { ...a, ...b } }))
  await Promise.all(nodes.map(async (n) => await r.ask(n.index, { op: 'get', keys: [] })))
  const liftAt = now()
  await r.lab.heal()
  const healAt = now()
  return { ms: (await Promise.all(converging)).map((reply) => Math.max(0, reply.at - healAt)), liftMs: healAt - liftAt }
}

export function percentile (values: readonly number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN
}
