/** Starts test/sources/fixtures/cdc-node.ts processes on loopback and talks to them over IPC (tests, bench, example). */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { ask, type Reply } from '../helpers/mesh-process.ts'
import { freePort } from '../helpers/ports.ts'

const NODE = fileURLToPath(new URL('./fixtures/cdc-node.ts', import.meta.url))

export interface CdcNode {
  readonly name: string
  readonly port: number
  readonly child: ChildProcess
  /** Unasked events ({ ev, ... }) received so far. */
  readonly events: Array<Record<string, any>>
  ask (op: string, extra?: Record<string, unknown>): Promise<Reply>
  /** Resolves with the first event (past or future) matching `pred`. */
  event (pred: (e: Record<string, any>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, any>>
  kill (): void
}

export interface CdcMeshOptions {
  dbUrl: string
  slot?: string
  publication?: string
  /** Send an event per eviction. */
  events?: boolean
  /** Also LISTEN for the baseline's pg_notify (bench). */
  listen?: boolean
  /** The source's releaseAfterMs. */
  releaseAfterMs?: number
  /** The transport's maxPeers (a partial mesh past it). */
  maxPeers?: number
  /** Peer ids this instance never links with. */
  block?: string[]
}

export const psk = randomBytes(32).toString('hex')

export async function startCdcNode (name: string, port: number, peers: number[], o: CdcMeshOptions): Promise<CdcNode> {
  const child = fork(NODE, [String(port), psk, ...peers.map(String)], {
    execPath: process.execPath,
    env: { ...process.env, NODE_ID: name, DB_URL: o.dbUrl, SLOT: o.slot ?? 'cdc_slot', PUBLICATION: o.publication ?? 'cdc_pub', EVENTS: o.events === true ? '1' : '0', LISTEN: o.listen === true ? '1' : '0', ...(o.releaseAfterMs !== undefined ? { RELEASE_AFTER_MS: String(o.releaseAfterMs) } : {}), ...(o.maxPeers !== undefined ? { MAX_PEERS: String(o.maxPeers) } : {}), ...(o.block !== undefined ? { BLOCK: o.block.join(',') } : {}) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const events: Array<Record<string, any>> = []
  const listeners = new Set<() => void>()
  let exited = false
  child.on('message', (m: Record<string, any>) => {
    if (m.ev !== undefined) {
      events.push(m)
      for (const l of [...listeners]) l()
    }
  })
  child.on('exit', () => { exited = true; for (const l of [...listeners]) l() })
  const [first] = await once(child, 'message') as [Record<string, any>]
  if (first.ready !== true) throw new Error(`${name} did not start: ${JSON.stringify(first)}`)
  return {
    name,
    port,
    child,
    events,
    ask: (op, extra = {}) => ask(child, { op, ...extra }),
    event (pred, what, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const e = events.find(pred)
          if (e !== undefined) { done(); resolve(e) } else if (exited) { done(); reject(new Error(`${name} exited while waiting for ${what}`)) }
        }
        const timer = setTimeout(() => { done(); reject(new Error(`timed out waiting for ${what} on ${name}`)) }, timeoutMs)
        timer.unref() // a wait nobody needs any more (the losers of a Promise.any) must not keep the process alive
        const done = (): void => { clearTimeout(timer); listeners.delete(check) }
        listeners.add(check)
        check()
      })
    },
    kill () { if (!exited) child.kill('SIGKILL') },
  }
}

/** Starts `n` instances, each bootstrapped from the first, and waits until all are connected. */
export async function startCdcMesh (n: number, o: CdcMeshOptions): Promise<CdcNode[]> {
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()))
  const nodes: CdcNode[] = []
  try {
    nodes.push(await startCdcNode('n0', ports[0] as number, [], o))
    nodes.push(...await Promise.all(ports.slice(1).map((p, i) => startCdcNode(`n${i + 1}`, p, [ports[0] as number], o))))
    await Promise.all(nodes.map((node) => node.ask('await-peers', { count: n - 1 })))
  } catch (error) {
    for (const node of nodes) node.kill()
    throw error
  }
  return nodes
}

/** Resolves with the first instance to start reading the slot (after `since`, CLOCK_MONOTONIC ms). */
export async function firstReader (nodes: CdcNode[], since = 0, timeoutMs = 30_000): Promise<{ node: CdcNode, at: number }> {
  return await Promise.any(nodes.map(async (node) => {
    const e = await node.event((x) => x.ev === 'reading' && x.value === true && x.at > since, 'reading', timeoutMs)
    return { node, at: e.at as number }
  }))
}

/** The instance reading the slot now (undefined when none is). */
export async function reader (nodes: CdcNode[]): Promise<CdcNode | undefined> {
  const stats = await Promise.all(nodes.map((n) => n.ask('stats')))
  return nodes.find((_, i) => (stats[i]?.value as { reading: boolean }).reading)
}

export function keys (from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, i) => `item:${from + i}`)
}
