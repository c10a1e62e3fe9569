/**
 * Applying incoming updates, end to end through the cache's frame handler
 * (decode + merge + store), in µs per update: one record per UPDATES frame
 * and batches of 100 and 1000, in invalidate and replicate mode.
 *
 * Frames come from a synthetic origin with consecutive sequence numbers,
 * encoded by protocol/encodeFrame before the clock starts, and go straight
 * to the FrameHandler the cache registered with a no-network transport.
 * Before timing, the origin writes every key once, so timed updates
 * overwrite existing state (the steady state of a warm cache), at keys drawn
 * from a seeded random pattern. The baseline decodes the same kind of frames
 * and does nothing else: the ratio is what merging and storing add.
 */
import { createMeshCache, type CacheMode, type FrameHandler, type MeshCache } from '../../lib/index.ts'
import { resolveCodec } from '../../lib/value-codec.ts'
import { decodeFrame, encodeFrame } from '../../protocol/frame.ts'
import { DEFAULT_LIMITS, MessageType, RecordKind, type RecordKindValue } from '../../protocol/constants.ts'
import type { WireRecord } from '../../protocol/record.ts'
import { accessPattern, captureTransport, interleave, makeKeys, median, nowNs, observeIfAsked, pairedRatio, type Row, type Value } from './util.ts'

const KEYS = 100_000
const UPDATES_PER_ROUND = 20_000
const ROUNDS = 11
const BATCHES = [1, 100, 1000]
const HOUR = 3_600_000
const ORIGIN = 'bench-peer~0000bench'
const FROM = 'bench-peer'

const DEFAULT = resolveCodec<Value>(undefined)

const gc = (globalThis as { gc?: (options?: { type: 'minor' | 'major' }) => void }).gc

/** A remote writer: its own HLC and sequence, turning key indices into pre-encoded UPDATES frames. */
export class SyntheticOrigin {
  readonly id: string
  #seq = 0
  #hlc = 0
  readonly #keys: string[]
  readonly #replicate: boolean
  readonly #value: (seq: number) => Uint8Array

  /**
   * `value` encodes the value written at `seq` (replicate mode); the default is `{ id: seq }` in the
   * cache's default codec (msgpack since issue 17; JSON before, in this bench's earlier figures).
   */
  constructor (id: string, keys: string[], replicate: boolean, value: (seq: number) => Uint8Array = (seq) => DEFAULT.encode({ id: seq } satisfies Value)) {
    this.id = id
    this.#keys = keys
    this.#replicate = replicate
    this.#value = value
  }

  /**
   * Frames of `batch` records each, one per key index, numbered from the next sequence number.
   * They are views into one buffer, as the transport hands frames over (views into what it read):
   * 20,000 frames of one record each, allocated one by one, left 20,000 backing stores for the GC
   * to free during whichever timed round came next (a replicate-mode round following the
   * one-per-frame rounds measured 0.4-0.7 µs/update more than the same round run without them).
   */
  frames (keyIndices: ArrayLike<number>, batch: number, kind: RecordKindValue = RecordKind.SET): Uint8Array[] {
    const encoded = this.#encode(keyIndices, batch, kind)
    let total = 0
    for (const frame of encoded) total += frame.length
    const buffer = new Uint8Array(total)
    let offset = 0
    return encoded.map((frame) => {
      buffer.set(frame, offset)
      offset += frame.length
      return buffer.subarray(offset - frame.length, offset)
    })
  }

  #encode (keyIndices: ArrayLike<number>, batch: number, kind: RecordKindValue): Uint8Array[] {
    const out: Uint8Array[] = []
    for (let start = 0; start < keyIndices.length; start += batch) {
      const records: WireRecord[] = []
      const firstSeq = this.#seq + 1
      const end = Math.min(start + batch, keyIndices.length)
      for (let i = start; i < end; i++) {
        const k = keyIndices[i] as number
        const seq = ++this.#seq
        this.#hlc = Math.max(this.#hlc + 1, Date.now() * 1000)
        const r: WireRecord = { key: this.#keys[k] as string, kind, hlc: this.#hlc, writer: this.id, vv: [this.id, seq] }
        if (this.#replicate && kind === RecordKind.SET) {
          r.ttl = HOUR
          r.value = this.#value(seq)
        }
        records.push(r)
      }
      out.push(encodeFrame({ type: MessageType.UPDATES, origin: this.id, firstSeq, records }))
    }
    return out
  }
}

function deliver (handler: FrameHandler, frames: Uint8Array[]): void {
  for (let i = 0; i < frames.length; i++) handler.onFrame(FROM, frames[i] as Uint8Array)
}

function decodeOnly (frames: Uint8Array[]): number {
  let n = 0
  for (let i = 0; i < frames.length; i++) {
    const msg = decodeFrame(frames[i] as Uint8Array, DEFAULT_LIMITS)
    if (msg.type === MessageType.UPDATES) n += msg.records.length
  }
  return n
}

async function runMode (mode: CacheMode): Promise<Row[]> {
  const keys = makeKeys(KEYS)
  const transport = captureTransport()
  const cache: MeshCache<Value> = await createMeshCache<Value>({ namespace: `bench-updates-${mode}`, mode, max: KEYS, ttl: HOUR, transport })
  await observeIfAsked(cache)
  const handler = transport.handler()
  const origin = new SyntheticOrigin(ORIGIN, keys, mode === 'replicate')
  deliver(handler, origin.frames(Array.from({ length: KEYS }, (_, i) => i), 1000))
  let round = 0

  const check = (before: ReturnType<MeshCache['stats']>, applied: number): void => {
    const after = cache.stats()
    if (after.remoteUpdates - before.remoteUpdates !== applied || after.protocolErrors !== 0 || after.gapsDetected !== 0) {
      throw new Error(`updates bench (${mode}): expected ${applied} applied, got ${after.remoteUpdates - before.remoteUpdates}; protocol errors ${after.protocolErrors}, gaps ${after.gapsDetected}`)
    }
  }

  /**
   * The cache and its baseline at one batch size. Each round starts with an empty young generation
   * and ends with a young-generation GC inside the timed region, so it pays for its own garbage
   * and no other's. With `fullGc` (how this bench measured until 2026-11-23, kept as a context
   * row) a full GC runs before each round instead: every full GC clears the weak references that
   * optimized code embeds, so the round starts by deoptimizing and warming up again (a loop of 30
   * replicate rounds logged 492 deoptimizations, 395 of them "embedded weak objects cleared",
   * against 58 without the full GCs), which a process applying updates does not do at every
   * 20,000 updates. Touching 128 MB before each round instead, to leave the CPU caches cold,
   * cost nothing measurable: it is the JIT, not the caches.
   */
  const pair = (batch: number, fullGc: boolean): [() => number, () => number] => {
    const before = (): void => { if (fullGc) gc?.(); else gc?.({ type: 'minor' }) }
    const after = (): void => { if (!fullGc) gc?.({ type: 'minor' }) }
    // The baseline decodes one fixed set of frames shaped like the cache's.
    const baselineFrames = new SyntheticOrigin(ORIGIN, keys, mode === 'replicate').frames(accessPattern(UPDATES_PER_ROUND, KEYS, 7), batch)
    const mesh = (): number => {
      const frames = origin.frames(accessPattern(UPDATES_PER_ROUND, KEYS, 0x1234 + round++), batch)
      before()
      const stats = cache.stats()
      const t0 = nowNs()
      deliver(handler, frames)
      after()
      const dt = Number(nowNs() - t0)
      check(stats, UPDATES_PER_ROUND)
      return dt / 1000 / UPDATES_PER_ROUND
    }
    const base = (): number => {
      before()
      const t0 = nowNs()
      const n = decodeOnly(baselineFrames)
      after()
      const dt = Number(nowNs() - t0)
      if (n !== UPDATES_PER_ROUND) throw new Error('decode baseline decoded the wrong number of records')
      return dt / 1000 / UPDATES_PER_ROUND
    }
    return [mesh, base]
  }
  const times = interleave(BATCHES.flatMap((batch) => pair(batch, false)), ROUNDS, 1)
  const fullGc = interleave(pair(1000, true), ROUNDS, 1)
  await cache.close()

  const section = `incoming updates, ${mode} mode: ${UPDATES_PER_ROUND / 1000}k overwrites of ${KEYS / 1000}k keys per round, ${ROUNDS} interleaved rounds`
  const row = (figure: string, mesh: number[], base: number[]): Row => ({
    section,
    figure,
    unit: 'µs/update',
    mesh: median(mesh),
    baseline: { label: 'decode only', value: median(base) },
    ratio: pairedRatio(mesh, base),
  })
  return [
    ...BATCHES.map((batch, i): Row => ({
      ...row(batch === 1 ? 'apply update, 1 per frame' : `apply update, ${batch} per frame`, times[2 * i] as number[], times[2 * i + 1] as number[]),
      target: batch === 1 ? undefined : { kind: 'abs', max: 2 },
    })),
    row('apply update, 1000 per frame, full GC before each round', fullGc[0] as number[], fullGc[1] as number[]),
  ]
}

export async function run (): Promise<Row[]> {
  return [...await runMode('invalidate'), ...await runMode('replicate')]
}
