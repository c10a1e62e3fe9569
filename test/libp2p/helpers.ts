/**
 * Test helpers for the libp2p transport: a FrameHandler that records what it
 * sees and lets a test wait for it (events, never sleeps).
 */
import type { Channel, FrameHandler } from '../../lib/net/transport.ts'
import { createLibp2pTransport, type Libp2pTransport, type Libp2pTransportOptions } from '../../lib/net/libp2p/index.ts'

export const GUARD_MS = 10_000

export interface Received { from: string, frame: Uint8Array }

export interface Recorder {
  handler: FrameHandler
  frames: Received[]
  ups: string[]
  downs: string[]
  /** Resolves with the next frame not yet taken by waitFrame. */
  waitFrame (timeoutMs?: number): Promise<Received>
  /** Resolves once onPeerUp(peer) has been called `times` times in total. */
  waitUp (peer: string, times?: number, timeoutMs?: number): Promise<void>
  waitDown (peer: string, times?: number, timeoutMs?: number): Promise<void>
}

/** Resolves when `check()` is true, re-checking after every recorded event; rejects after timeoutMs. */
function waiter (subscribers: Set<() => void>, check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  if (check()) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      subscribers.delete(poll)
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
    }, timeoutMs)
    const poll = (): void => {
      if (!check()) return
      clearTimeout(timer)
      subscribers.delete(poll)
      resolve()
    }
    subscribers.add(poll)
  })
}

export function recorder (): Recorder {
  const subscribers = new Set<() => void>()
  const notify = (): void => { for (const s of [...subscribers]) s() }
  let taken = 0
  const r: Recorder = {
    frames: [],
    ups: [],
    downs: [],
    handler: {
      onFrame (from, frame) { r.frames.push({ from, frame }); notify() },
      onPeerUp (peer) { r.ups.push(peer); notify() },
      onPeerDown (peer) { r.downs.push(peer); notify() }
    },
    async waitFrame (timeoutMs = GUARD_MS) {
      await waiter(subscribers, () => r.frames.length > taken, 'a frame', timeoutMs)
      return r.frames[taken++] as Received
    },
    async waitUp (peer, times = 1, timeoutMs = GUARD_MS) {
      await waiter(subscribers, () => r.ups.filter(p => p === peer).length >= times, `onPeerUp(${peer}) ×${times}`, timeoutMs)
    },
    async waitDown (peer, times = 1, timeoutMs = GUARD_MS) {
      await waiter(subscribers, () => r.downs.filter(p => p === peer).length >= times, `onPeerDown(${peer}) ×${times}`, timeoutMs)
    }
  }
  return r
}

/**
 * Resolves once `cond()` holds, checking every few ms; for state that has no
 * event of its own (counters in stats()). Rejects after timeoutMs.
 */
export async function until (cond: () => boolean, what: string, timeoutMs = GUARD_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

export interface JoinedPair {
  a: Libp2pTransport
  b: Libp2pTransport
  ra: Recorder
  rb: Recorder
  ca: Channel
  cb: Channel
  close (): Promise<void>
}

/**
 * Two transports joined to `namespace`, each having seen the other come up;
 * b bootstraps from a, with a's options unless it has its own.
 */
export async function joinedPair (aOptions: Libp2pTransportOptions = {}, bOptions: Libp2pTransportOptions = aOptions, namespace = 'ns'): Promise<JoinedPair> {
  const a = await createLibp2pTransport(aOptions)
  const b = await createLibp2pTransport({ ...bOptions, peers: a.multiaddrs() })
  const ra = recorder()
  const rb = recorder()
  const ca = await a.join(namespace, ra.handler)
  const cb = await b.join(namespace, rb.handler)
  await ra.waitUp(b.peerId)
  await rb.waitUp(a.peerId)
  return { a, b, ra, rb, ca, cb, close: async () => { await Promise.all([a.close(), b.close()]) } }
}
