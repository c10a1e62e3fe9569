/**
 * A lower bound for any design of meshcache's guarantees on this stack: the
 * floor's stack and streams (`libp2p-stream`), carrying a frame with what a
 * receiver needs to merge a write, and the least work each side must do for
 * a write that replicas merge by version vector, hand-fused into a few
 * functions, with the engine's own Map for the entry table.
 *
 * Writer, per `invalidate`: the key checked; the hybrid clock ticked; its own
 * counter raised; the key's state (version vector, clock, tombstone) stored or
 * merged in a Map; the cached value dropped (an lru-cache); the tombstone
 * queued for collection; the local change event fired; the frame made and
 * queued for the turn's send.
 * Receiver, per frame: the frame read (origin tag, sequence, clock, key); the
 * origin's sequence checked for a gap; the clock observed; the key's state
 * looked up and merged (the incoming vector entry against the stored vector,
 * the clock and writer breaking a tie); the state stored; the value dropped;
 * the tombstone queued; the change event fired, whose listener reports the
 * write, as meshcache's bench system does.
 *
 * Frame (29 bytes for a key `user:12345`): u16 length • u8 kind • u32 origin tag
 * (a per-link introduction names it once; not sent here) • u32 sequence (the
 * writer's own counter: its vector entry, the whole vector of a key only one
 * writer wrote, as every key of this bench) • f64 clock • key.
 *
 * `libp2p-stream-minimal-wide` sends the same frames padded to meshcache's
 * size (55 bytes enveloped for these keys: its origin named in full, the
 * record's writer and vector, the envelope's namespace): against this one,
 * what meshcache's extra bytes cost, with the same work.
 *
 * Left out, as no design needs them on this path: metrics, dependent keys,
 * acknowledgements, limits on hostile input beyond the frame's own bounds,
 * namespaces on one stream. A Map holding a JS object per key is what the
 * metadata target (≤ 200 B a key, toward 100) rules out for meshcache, and
 * what a GC then pays for at 20,000 writes/s: this is a bound for p50 at
 * 1,000 writes/s, not a design. Beside `libp2p-stream` and `meshcache` in one
 * run, it says how far below meshcache's ratio the irreducible work sits.
 * `libp2p-stream-minimal-store` runs the same path over meshcache's own store.
 */
import { EventEmitter } from 'node:events'
import { randomInt } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { floorNode, system as floor } from './libp2p-stream.ts'
import { keyOf, seqOf, type System } from './types.ts'

const KIND_INVALIDATE = 1
/** KIND_INVALIDATE with padding: a u8 count of bytes, that many, then the key. */
const KIND_PADDED = 2
const HEADER = 2 + 1 + 4 + 4 + 8

/** A key's merge state: its version vector as [origin, counter, ...], its clock, and whether it is a tombstone. */
export interface State { vv: number[], hlc: number, writer: number, dead: boolean, since: number }

export interface OriginState { next: number, gaps: number }

/**
 * An origin's sequence, as a receiver tracks it: `count` numbers from `first` heard; a number past the next
 * expected is a gap (anti-entropy would ask for the missing ones; here it is only counted).
 */
export function heard<K> (origins: Map<K, OriginState>, origin: K, first: number, count: number): void {
  let tracked = origins.get(origin)
  if (tracked === undefined) origins.set(origin, tracked = { next: first, gaps: 0 })
  if (first > tracked.next) tracked.gaps++
  if (first + count > tracked.next) tracked.next = first + count
}

/** What the bound's path needs of a replica: a hybrid clock, the merge of a tombstone, and change events. */
export abstract class BoundReplica {
  readonly events = new EventEmitter()
  #ms = 0
  #logical = 0

  /** The hybrid clock's next stamp (ms in the integer part, a counter below). */
  tick (): number {
    const now = Date.now()
    if (now > this.#ms) { this.#ms = now; this.#logical = 0 } else this.#logical++
    return this.#ms + this.#logical / 65536
  }

  observe (hlc: number): void {
    const ms = Math.floor(hlc)
    if (ms > this.#ms || (ms === this.#ms && (hlc - ms) * 65536 > this.#logical)) {
      this.#ms = ms
      this.#logical = Math.round((hlc - ms) * 65536)
    }
  }

  /**
   * Merges a tombstone written by `origin` (a link's tag) as its `counter`th
   * write: stored if it is news to the key's vector, and wins over a
   * concurrent write by clock, then writer; the value is dropped, the
   * tombstone queued and `change` fired when it wins. Returns whether the
   * key's state changed.
   */
  abstract bury (key: string, origin: number, counter: number, hlc: number, source: string): boolean
}

/** The bound's own replica: the entry table a Map of one object a key, values in an lru-cache, tombstones in an array. */
export class MinimalReplica extends BoundReplica {
  readonly table = new Map<string, State>()
  readonly values = new LRUCache<string, string>({ max: 100_000 })
  readonly dead: string[] = []

  bury (key: string, origin: number, counter: number, hlc: number, source: string): boolean {
    const state = this.table.get(key)
    if (state === undefined) {
      this.table.set(key, { vv: [origin, counter], hlc, writer: origin, dead: true, since: Date.now() })
    } else {
      const vv = state.vv
      let at = -1
      for (let i = 0; i < vv.length; i += 2) if (vv[i] === origin) { at = i; break }
      if (at >= 0 && (vv[at + 1] as number) >= counter) return false
      // The incoming write saw nothing of the others' entries (one entry): concurrent with them.
      const concurrent = vv.length > (at >= 0 ? 2 : 0)
      if (at >= 0) vv[at + 1] = counter
      else vv.push(origin, counter)
      if (concurrent && (hlc < state.hlc || (hlc === state.hlc && origin < state.writer))) return true
      state.hlc = hlc
      state.writer = origin
      if (!state.dead) { state.dead = true; state.since = Date.now() }
    }
    this.values.delete(key)
    this.dead.push(key)
    this.events.emit('change', { key, source })
    return true
  }
}

export const system = minimalSystem('libp2p-stream-minimal', 0, () => new MinimalReplica())

/** The system, its frames padded by `pad` bytes (0 to 255; 0 sends no padding at all), each node's state in `replica()`. */
export function minimalSystem (name: string, pad: number, replica: () => BoundReplica): System {
  return {
    name,
    setup: floor.setup,
    async node (ctx) {
      const state = replica()
      if (ctx.role === 'writer') {
        const encode = writerEncoder(state, randomInt(2 ** 31), pad)
        return await floorNode(ctx, { encode, reader: () => { throw new Error('the writer reads nothing') } })
      }
      state.events.on('change', (event: { key: string, source: string }) => {
        if (event.source !== 'local') ctx.received(seqOf(event.key))
      })
      return await floorNode(ctx, { encode: () => { throw new Error('a receiver writes nothing') }, reader: () => reader(state) })
    },
  }
}

/** Write `seq`'s key, checked as a cache checks one before a write. */
export function checkedKey (seq: number): string {
  const key = keyOf(seq)
  if (typeof key !== 'string' || key.length === 0 || key.length > 1024) throw new TypeError('bad key')
  return key
}

/** The writer's side: `invalidate(keyOf(seq))` on `replica` as origin `self`, returning the write's frame. */
export function writerEncoder (replica: BoundReplica, self: number, pad: number): (seq: number) => Buffer {
  let counter = 0
  return (seq) => {
    const key = checkedKey(seq)
    const hlc = replica.tick()
    replica.bury(key, self, ++counter, hlc, 'local')
    const bytes = Buffer.from(key)
    const extra = pad === 0 ? 0 : 1 + pad
    const frame = Buffer.allocUnsafe(HEADER + extra + bytes.length)
    frame.writeUInt16BE(HEADER - 2 + extra + bytes.length, 0)
    frame[2] = pad === 0 ? KIND_INVALIDATE : KIND_PADDED
    frame.writeUInt32BE(self, 3)
    frame.writeUInt32BE(counter, 7)
    frame.writeDoubleBE(hlc, 11)
    if (pad !== 0) frame.fill(pad, HEADER, HEADER + extra) // the count byte, then `pad` bytes
    bytes.copy(frame, HEADER + extra)
    return frame
  }
}

/**
 * Splits a stream of u16-length frames and hands each to `onFrame` (its bytes start at `at`, `len` long). Its loop
 * repeats tcp.ts's `frameReader` on purpose: the floor's reader stays as it is measured, with no callback added to
 * its path for the bounds' sake.
 */
export function lengthFramed (onFrame: (buf: Buffer, at: number, len: number) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0)
  return (chunk) => {
    const buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    let at = 0
    while (buf.length - at >= 2) {
      const len = buf.readUInt16BE(at)
      if (buf.length - at < 2 + len) break
      onFrame(buf, at + 2, len)
      at += 2 + len
    }
    pending = at === buf.length ? Buffer.alloc(0) : buf.subarray(at)
  }
}

/** Reads the bound's frames and merges each, as a receiver's mesh and replica would. */
export function reader (replica: BoundReplica): (chunk: Buffer) => void {
  const origins = new Map<number, OriginState>()
  return lengthFramed((buf, at, len) => {
    const kind = buf[at]
    if (len < HEADER - 2 || (kind !== KIND_INVALIDATE && kind !== KIND_PADDED)) throw new Error('libp2p-stream-minimal: bad frame')
    const origin = buf.readUInt32BE(at + 1)
    const seq = buf.readUInt32BE(at + 5)
    const hlc = buf.readDoubleBE(at + 9)
    const keyAt = kind === KIND_INVALIDATE ? at + HEADER - 2 : at + HEADER - 1 + (buf[at + HEADER - 2] as number)
    const key = buf.toString('utf8', keyAt, at + len)
    heard(origins, origin, seq, 1)
    replica.observe(hlc)
    replica.bury(key, origin, seq, hlc, 'remote')
  })
}
