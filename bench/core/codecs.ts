/**
 * The default value codec, chosen by measurement: replicate-mode apply
 * (decode + merge + store, µs per update) with each candidate codec, all in
 * one run, interleaved round by round. The baseline is the JSON codec (what
 * meshcache shipped before): the ratio is what a codec costs or saves on the
 * receiver. A second row per codec times `set` of the same value on the
 * writer (the round-trip check walks the value, then the codec encodes it).
 *
 * The value is a small record of the kind a service caches (a user row):
 * plain data every codec carries, so the comparison is of speed only.
 */
import { Packr } from 'msgpackr'
import { createMeshCache, jsonCodec, v8Codec, msgpackCodec, type MeshCache, type ValueCodec } from '../../lib/index.ts'
import { captureTransport, interleave, makeKeys, median, nowNs, pairedRatio, accessPattern, type Row } from './util.ts'
import { SyntheticOrigin } from './updates.ts'

const KEYS = 100_000
const UPDATES_PER_ROUND = 20_000
const ROUNDS = 9
const HOUR = 3_600_000
const BATCH = 100

interface UserRow { id: number, name: string, email: string, active: boolean, score: number, tags: string[] }
const valueAt = (seq: number): UserRow => ({ id: seq, name: `user ${seq}`, email: `user${seq}@example.com`, active: seq % 2 === 0, score: seq / 7, tags: ['a', 'b'] })

const gc = (globalThis as { gc?: (options?: { type: 'minor' | 'major' }) => void }).gc

const CODECS: Array<[string, ValueCodec<unknown>]> = [
  ['json', jsonCodec],
  ['v8', v8Codec],
  ['msgpack (records)', msgpackCodec(new Packr({ useRecords: true, structuredClone: true, moreTypes: true }))],
  // Faster to decode, but not faithful (a Map comes back a plain object, cycles fail): context only.
  ['msgpack (no records)', msgpackCodec(new Packr({ useRecords: false, structuredClone: true, moreTypes: true }))],
]

async function subject (name: string, codec: ValueCodec<unknown>, keys: string[]): Promise<{ apply: () => number, set: () => number, cache: MeshCache<object> }> {
  const transport = captureTransport()
  const cache = await createMeshCache<object>({ namespace: `bench-codec-${name.replace(/\W+/g, '-')}`, mode: 'replicate', max: KEYS, ttl: HOUR, transport, codec: codec as ValueCodec<object> })
  const handler = transport.handler()
  const origin = new SyntheticOrigin(`bench-${name.replace(/\W+/g, '-')}~0000bench`, keys, true, (seq) => codec.encode(valueAt(seq)))
  for (const f of origin.frames(Array.from({ length: KEYS }, (_, i) => i), 1000)) handler.onFrame('bench-peer', f)
  let round = 0
  const apply = (): number => {
    const frames = origin.frames(accessPattern(UPDATES_PER_ROUND, KEYS, 0x77 + round++), BATCH)
    gc?.({ type: 'minor' })
    const before = cache.stats().remoteUpdates
    const t0 = nowNs()
    for (let i = 0; i < frames.length; i++) handler.onFrame('bench-peer', frames[i] as Uint8Array)
    gc?.({ type: 'minor' })
    const dt = Number(nowNs() - t0)
    if (cache.stats().remoteUpdates - before !== UPDATES_PER_ROUND) throw new Error(`codec bench (${name}): not every update applied`)
    return dt / 1000 / UPDATES_PER_ROUND
  }
  const values = Array.from({ length: UPDATES_PER_ROUND }, (_, i) => valueAt(i))
  const set = (): number => {
    const pattern = accessPattern(UPDATES_PER_ROUND, KEYS, 0x99 + round++)
    gc?.({ type: 'minor' })
    const t0 = nowNs()
    for (let i = 0; i < UPDATES_PER_ROUND; i++) cache.set(keys[pattern[i] as number] as string, values[i] as object)
    gc?.({ type: 'minor' })
    return Number(nowNs() - t0) / 1000 / UPDATES_PER_ROUND
  }
  return { apply, set, cache }
}

export async function run (): Promise<Row[]> {
  const keys = makeKeys(KEYS)
  const subjects = await Promise.all(CODECS.map(([name, codec]) => subject(name, codec, keys)))
  const times = interleave(subjects.flatMap((s) => [s.apply, s.set]), ROUNDS, 1)
  for (const s of subjects) await s.cache.close()
  const section = `value codecs, replicate mode: ${UPDATES_PER_ROUND / 1000}k writes of a small user row over ${KEYS / 1000}k keys, ${BATCH} per frame, ${ROUNDS} interleaved rounds`
  const jsonApply = times[0] as number[]
  const jsonSet = times[1] as number[]
  return CODECS.flatMap(([name], i): Row[] => [
    { section, figure: `apply update, codec ${name}`, unit: 'µs/update', mesh: median(times[2 * i] as number[]), baseline: { label: 'json', value: median(jsonApply) }, ratio: pairedRatio(times[2 * i] as number[], jsonApply) },
    { section, figure: `set (check + encode), codec ${name}`, unit: 'µs/set', mesh: median(times[2 * i + 1] as number[]), baseline: { label: 'json', value: median(jsonSet) }, ratio: pairedRatio(times[2 * i + 1] as number[], jsonSet) },
  ])
}
