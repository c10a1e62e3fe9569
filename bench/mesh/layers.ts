/**
 * MESHCACHE_BENCH_LAYERS=<dir>: where a write's time goes, layer by layer of
 * the libp2p stack, in every bench:mesh node process. Bench-side only:
 * nothing in lib/ knows of it.
 *
 * Each process notes CLOCK_MONOTONIC times (the clock of `now()` and the
 * writer's send times):
 * - the writer, each publish (`markLayers` from node.ts), and every `send` on a
 *   libp2p message stream by the class that sends (YamuxStream, then Noise's
 *   EncryptedMessageStream, pnet's BoxMessageStream, TCP's
 *   TCPSocketMultiaddrConnection), and each socket write;
 * - a receiver, each socket `data` event, every `message` a message stream
 *   dispatches, by class (TCP's first, Yamux's last), and each write taking
 *   effect (`markLayers` from node.ts's `record`).
 * Inside meshcache (prototype patches from here, as above), three more:
 * `lib:outbox` (the writer's write reaches the outbox: the store's work is
 * done), `lib:envelope` (a receiver's envelope splitter is handed bytes) and
 * `lib:apply` (the decoded frame reaches the replica), which split `own`.
 * At 'close' it writes them to `<dir>/layers-<pid>.json`, and `node
 * bench/mesh/layer-summary.ts <dir>` turns them into p50 times per layer:
 * from a publish to the first send of each class after it, and from the last
 * message of each class before a write took effect to that moment.
 *
 * Every stream class of the stack inherits `send` and `dispatchEvent` from
 * @libp2p/utils's AbstractMessageStream, so one patch of each sees them all.
 * The patches cost a few hundred ns per layer and message, every system
 * alike (the three inside meshcache only where meshcache runs). Meant for 1,000 writes/s, where each write crosses the stack
 * alone; at 20,000/s the writes of a turn share their frames and the times
 * say little.
 */
import net from 'node:net'
import { writeFileSync } from 'node:fs'
import { now } from './systems/types.ts'
import { markCalls } from './call-marks.ts'

const dir = process.env.MESHCACHE_BENCH_LAYERS

/** Times by event: `mark`, `send:<class>`, `message:<class>`, `socket-write`, `socket-data`. */
const events = new Map<string, number[]>()

function note (name: string): void {
  let times = events.get(name)
  if (times === undefined) events.set(name, times = [])
  times.push(now())
}

interface MessageStreamClass { prototype: { send (data: unknown): boolean, dispatchEvent (event: Event): boolean } }

/** Installs the patches when MESHCACHE_BENCH_LAYERS is set; before the system builds its node. */
export async function startLayerLog (): Promise<void> {
  if (dir === undefined) return
  // libp2p's own dependency (not ours): every stream class of the stack extends it.
  const { AbstractMessageStream } = await import('@libp2p/utils' as string) as { AbstractMessageStream: MessageStreamClass }
  const proto = AbstractMessageStream.prototype
  const send = proto.send
  proto.send = function (this: object, data: unknown): boolean {
    note(`send:${this.constructor.name}`)
    return send.call(this, data)
  }
  const dispatch = proto.dispatchEvent
  proto.dispatchEvent = function (this: object, event: Event): boolean {
    if (event.type === 'message') note(`message:${this.constructor.name}`)
    return dispatch.call(this, event)
  }
  const { Outbox } = await import('../../lib/sync/outbox.ts')
  const { EnvelopeSplitter } = await import('../../lib/net/libp2p/envelope.ts')
  const { Replica } = await import('../../lib/core/replica.ts')
  markCalls([['lib:outbox', Outbox.prototype, 'push'], ['lib:envelope', EnvelopeSplitter.prototype, 'push'], ['lib:apply', Replica.prototype, 'applyUpdates']], note)
  // TCP sockets only (remotePort set): the IPC channel to the harness is a socket too.
  const socket = net.Socket.prototype as unknown as Record<string, (...args: unknown[]) => unknown>
  for (const name of ['_writeGeneric', '_writev']) {
    const write = socket[name] as (...args: unknown[]) => unknown
    socket[name] = function (this: net.Socket, ...args: unknown[]) {
      if (this.remotePort !== undefined) note('socket-write')
      return write.apply(this, args)
    }
  }
  const emit = socket.emit as (...args: unknown[]) => unknown
  socket.emit = function (this: net.Socket, ...args: unknown[]) {
    if (args[0] === 'data' && this.remotePort !== undefined) note('socket-data')
    return emit.apply(this, args)
  }
}

/** A publish (writer) or a write taking effect (receiver), at `at` (now()). */
export function markLayers (at: number): void {
  if (dir === undefined) return
  let marks = events.get('mark')
  if (marks === undefined) events.set('mark', marks = [])
  marks.push(at)
}

export interface LayerLog {
  pid: number
  system: string
  role: string
  index: number
  events: Record<string, number[]>
}

export function writeLayerLog (system: string, role: string, index: number): void {
  if (dir === undefined) return
  const log: LayerLog = { pid: process.pid, system, role, index, events: Object.fromEntries(events) }
  writeFileSync(`${dir}/layers-${process.pid}.json`, JSON.stringify(log))
}
