/**
 * Cache processes on loopback for the tests in test/mesh/: each runs
 * test/netns/mesh-node.ts (a meshcache over libp2p driven over IPC).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

const NODE = fileURLToPath(new URL('../netns/mesh-node.ts', import.meta.url))
/** A failure guard for one request, not a wait: replies come as soon as the condition holds. */
const GUARD_MS = 60_000
let nextId = 0

export interface Reply { value: any, at: number }

/**
 * Sends one request to a node process and resolves with its reply; rejects
 * when none comes within `guardMs` (a failure guard, not a wait) or when
 * the process exits first. Shared by test/mesh/ and the netns suites, whose
 * nodes speak the same IPC protocol (test/netns/mesh-node.ts).
 */
export function ask (child: ChildProcess, request: Record<string, unknown>, guardMs = GUARD_MS): Promise<Reply> {
  const id = nextId++
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => { cleanup(); reject(new Error(`no answer to ${String(request.op)} within ${guardMs} ms`)) }, guardMs)
    const onMessage = (reply: Reply & { id: number }): void => { if (reply.id === id) { cleanup(); resolve(reply) } }
    const onExit = (code: number | null): void => { cleanup(); reject(new Error(`node exited (${code}) before answering ${String(request.op)}`)) }
    const cleanup = (): void => { clearTimeout(guard); child.off('message', onMessage); child.off('exit', onExit) }
    child.on('message', onMessage)
    child.once('exit', onExit)
    child.send({ ...request, id })
  })
}

export interface NodeOptions {
  nodeId: string
  port: number
  psk: string
  /** Ports of the peers to bootstrap from. */
  peers: number[]
  mode?: 'invalidate' | 'replicate'
  /** Turn on the gossipsub relay tier from this many peers. */
  relayMinPeers?: number
  /** A pinned libp2p identity (generateIdentity()). */
  identity?: string
  /** Full bootstrap multiaddrs, beside `peers`' ports. */
  peerAddrs?: string[]
  /** The process's clock runs this many ms ahead (behind if negative). */
  clockOffsetMs?: number
}

/** Starts a cache process on 127.0.0.1 and resolves once it is ready. */
export async function startNode (o: NodeOptions): Promise<ChildProcess> {
  const child = fork(NODE, ['127.0.0.1', String(o.port), o.psk, ...o.peers.map((p) => `/ip4/127.0.0.1/tcp/${p}`), ...(o.peerAddrs ?? [])], {
    execPath: process.execPath,
    env: {
      ...process.env,
      NODE_ID: o.nodeId,
      MODE: o.mode ?? 'replicate',
      ...(o.relayMinPeers !== undefined ? { RELAY_MIN_PEERS: String(o.relayMinPeers) } : {}),
      ...(o.identity !== undefined ? { IDENTITY: o.identity } : {}),
      ...(o.clockOffsetMs !== undefined ? { CLOCK_OFFSET_MS: String(o.clockOffsetMs) } : {}),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const [ready] = await once(child, 'message') as [{ peerId: string }]
  ;(child as ChildProcess & { peerId?: string }).peerId = ready.peerId
  return child
}

/** The libp2p peer id a node process reported when it started. */
export function peerIdOfChild (child: ChildProcess): string {
  return (child as ChildProcess & { peerId?: string }).peerId ?? ''
}
