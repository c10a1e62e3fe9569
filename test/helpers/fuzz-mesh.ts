/**
 * A mesh of test/helpers/fuzz-host.ts processes, each hosting `perProcess`
 * instances with their own libp2p nodes, started and formed: the first
 * process's first three instances are everyone's bootstrap, and the call
 * returns once every instance's membership lists every other as reachable
 * (SPEC §8). For the real-process whenReplicated test and bench/scale/acks.ts.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { ask } from './mesh-process.ts'

const HOST = new URL('./fuzz-host.ts', import.meta.url)

export interface FuzzMeshOptions {
  processes: number
  perProcess: number
  /** Partial mesh bound; undefined: a full mesh. */
  maxPeers?: number
  mode: 'invalidate' | 'replicate'
  /** Per process, how late its instances take each UPDATES frame (fuzz-host's `slowWritesMs`). */
  slowWritesMs?: (process: number) => number | undefined
  /** How long membership may take to form (a failure guard, not a wait). */
  formMs?: number
}

/**
 * Starts the processes into `children` (the caller kills them, whatever happens) and waits for membership;
 * returns the processes and, per instance, [members reachable, neighbours].
 */
export async function startFuzzMesh (children: ChildProcess[], options: FuzzMeshOptions): Promise<{ hosts: ChildProcess[], reach: number[][] }> {
  const psk = randomBytes(32).toString('hex')
  const start = async (p: number, bootstrap: string[]): Promise<ChildProcess> => {
    const config = { first: p * options.perProcess, instances: options.perProcess, bootstrap, psk, maxPeers: options.maxPeers, mode: options.mode, slowWritesMs: options.slowWritesMs?.(p) }
    const child = fork(HOST, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    children.push(child)
    await once(child, 'message')
    return child
  }
  const first = await start(0, [])
  const bootstrap = ((await ask(first, { op: 'addrs' })).value as Array<{ addr: string }>).slice(0, 3).map((s) => s.addr)
  const hosts = [first, ...await Promise.all(Array.from({ length: options.processes - 1 }, (_, i) => start(i + 1, bootstrap)))]
  const instances = options.processes * options.perProcess
  const formMs = options.formMs ?? 60_000
  for (const deadline = Date.now() + formMs; ;) {
    const reach = (await Promise.all(hosts.map((h) => ask(h, { op: 'reach' })))).flatMap((r) => r.value as number[][])
    if (reach.every(([members]) => members === instances - 1)) return { hosts, reach }
    if (Date.now() > deadline) throw new Error(`membership did not spread in ${formMs / 1000} s: ${JSON.stringify(reach)}`)
    await new Promise((resolve) => setTimeout(resolve, 100)) // polling real processes: membership has no event
  }
}
