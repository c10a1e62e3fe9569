/**
 * Seeded randomised convergence across departures, restarts and the GC
 * horizon (SPEC §7), the part test/convergence.test.ts keeps out of reach
 * with its hour-long TTL. 4–5 replicas make random sets, deletes and
 * invalidations while the network drops, duplicates and reorders frames,
 * partitions come and go, the clock moves by up to a third of the horizon
 * at a time, sweeps run on random replicas, and replicas leave for good or
 * restart as new incarnations. Then the survivors keep rewriting a few keys
 * for five horizons (the "hot keys" whose vectors name departed origins)
 * with the network healed. Checked:
 *   - at every step, no replica serves a value nobody wrote, or one past its
 *     write's TTL;
 *   - at the end, no vector names a departed incarnation, every survivor
 *     tracks exactly the survivors' origins and sees the others as members;
 *     each key written in the last horizon holds its last write on every
 *     survivor, with identical vector entries of writes within the horizon
 *     (older ones may differ: SPEC §7) and its value where the mode keeps
 *     one; a key last written more than ttl + horizon + one sweep ago is gone
 *     everywhere (metadata bounded by recent writes); in between, no replica
 *     holds a state newer than the last write.
 *
 * Membership (y-protocols awareness) renews and expires members in real
 * time, every 15 s and after 30 s, which this test's clock never lets pass.
 * So goodbyes reach everyone, and survivors greet each other once more
 * before the final phase, standing for what renewals and expiry do.
 *
 * SEEDS=n runs n seeds (default 100); SEED=s replays one.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as prng from 'lib0/prng'
import { createMeshCache, type MeshCache } from '../lib/index.ts'
import { physicalMs } from '../lib/core/clock.ts'
import { vectorGet, type VersionVector } from '../lib/core/version-vector.ts'
import { createMemoryNetwork, createTestClock, type MemoryNetwork } from '../lib/testing/index.ts'
import { eachSeed, seedsFromEnv } from './helpers/seeds.ts'

/** ttl = horizon (maxClockSkew 0), in the test clock's ms. */
const HORIZON = 60_000
/**
 * Also a real-time period: the sweep timer never fires within a seed's
 * lifetime (well under a second), so sweeps happen only where the seed
 * says, and a replay is exact.
 */
const GC_INTERVAL = HORIZON / 4
const KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
const SETTLE_STEPS = 20 // of HORIZON / 4 each: five horizons

interface Write {
  hlc: number
  writer: string
  kind: 'set' | 'delete' | 'invalidate'
  value: string | undefined
}

class World {
  readonly net: MemoryNetwork
  readonly clock = createTestClock()
  readonly live = new Map<string, MeshCache<string>>()
  /** Incarnations (origins) that left for good. */
  readonly departed = new Set<string>()
  readonly log = new Map<string, Write[]>()
  /** Every value ever written, with the write: values are unique. */
  readonly byValue = new Map<string, Write>()
  /** `origin counter` of every write (a vector entry names one) → its physical time. */
  readonly writtenAt = new Map<string, number>()
  readonly #mode: 'invalidate' | 'replicate'
  #names = 0
  #values = 0

  readonly #faults: { dropRate: number, duplicateRate: number }

  constructor (seed: number, mode: 'invalidate' | 'replicate', dropRate: number, duplicateRate: number) {
    this.#mode = mode
    this.#faults = { dropRate, duplicateRate }
    this.net = createMemoryNetwork({ seed, dropRate, duplicateRate })
  }

  /** Joins (a newcomer, or a restart of `name` as a new incarnation) and greets whoever it reaches. */
  async start (name = `n${this.#names++}`): Promise<void> {
    this.live.set(name, await createMeshCache<string>({
      namespace: 'retire',
      nodeId: name,
      mode: this.#mode,
      now: this.clock.now,
      ttl: HORIZON,
      maxClockSkew: 0,
      syncInterval: 0,
      gcInterval: GC_INTERVAL,
      transport: this.net.transport(name),
    }))
    await this.#lossless()
  }

  /** Reconnects everyone, who greet each other. */
  async heal (): Promise<void> {
    this.net.heal()
    await this.#lossless()
  }

  /**
   * Every pair of survivors meets again and greets: a greeting lost when a
   * partition changed (those are not lossless) stands for the renewals
   * awareness would have sent meanwhile, every 15 s of real time.
   */
  async regreet (): Promise<void> {
    this.net.partition(...[...this.live.keys()].map((name) => [name]))
    await this.heal()
  }

  /**
   * Delivers what waits without losing any of it. Membership renews itself
   * every 15 s of real time, which this test's clock never lets pass, so a
   * greeting lost here would stay lost and a live replica would look
   * departed to some peers for the whole run: a partition from them longer
   * than the horizon, which SPEC §7 says leaves their vectors apart.
   * Greetings (on start and heal) and goodbyes therefore go through
   * losslessly; every other delivery keeps the seed's loss rates.
   */
  async #lossless (): Promise<void> {
    this.net.setFaults({ dropRate: 0, duplicateRate: 0 })
    await this.net.flush()
    this.net.setFaults(this.#faults)
  }

  /**
   * Leaves for good: what it sent first goes out, with the seed's losses (a
   * graceful stop); writes nobody received are gone with it. Its goodbye to
   * membership is not lost (see #lossless; a lost one is made good by
   * awareness' 30 s timeout, in real time).
   */
  async stop (name: string): Promise<void> {
    const node = this.live.get(name) as MeshCache<string>
    await this.net.flush()
    this.live.delete(name)
    this.departed.add(node.origin)
    // Everyone hears the goodbye, partitioned or not, then the partition is
    // as it was: a replica that missed it would keep the member live until
    // awareness' real-time timeout, i.e. for the whole run.
    const groups = this.#groups()
    this.net.heal()
    await this.#lossless()
    await node.close()
    await this.#lossless()
    if (groups.length > 1) this.net.partition(...groups)
  }

  /** The live replicas, grouped by who reaches whom. */
  #groups (): string[][] {
    const groups: string[][] = []
    for (const name of this.live.keys()) {
      const group = groups.find((g) => this.net.reachable(g[0] as string, name))
      if (group !== undefined) group.push(name)
      else groups.push([name])
    }
    return groups
  }

  write (node: MeshCache<string>, key: string, r: number): void {
    let value: string | undefined
    let kind: Write['kind'] = 'set'
    if (r < 0.6) node.set(key, value = `${node.origin}#${++this.#values}`)
    else if (r < 0.8) { node.delete(key); kind = 'delete' } else { node.invalidate(key); kind = 'invalidate' }
    const view = node.inspect(key)
    assert.ok(view, 'a write leaves metadata')
    const w: Write = { hlc: view.hlc, writer: view.writer, kind, value }
    this.writtenAt.set(`${view.writer} ${vectorGet(view.vv, view.writer)}`, physicalMs(view.hlc))
    this.log.set(key, [...(this.log.get(key) ?? []), w])
    if (value !== undefined) this.byValue.set(value, w)
  }

  nodes (): Array<MeshCache<string>> {
    return [...this.live.values()]
  }

  async close (): Promise<void> {
    for (const node of this.live.values()) await node.close()
  }
}

async function runSeed (seed: number): Promise<{ ops: number, departures: number }> {
  const gen = prng.create(seed)
  const mode = prng.bool(gen) ? 'replicate' : 'invalidate'
  const w = new World(seed, mode, prng.real53(gen) * 0.2, prng.real53(gen) * 0.1)
  for (let i = prng.int32(gen, 4, 5); i > 0; i--) await w.start()
  const ops = prng.int32(gen, 60, 160)
  let departures = 0
  try {
    for (let step = 0; step < ops; step++) {
      const r = prng.real53(gen)
      if (r < 0.45) {
        w.write(prng.oneOf(gen, w.nodes()), prng.oneOf(gen, KEYS), prng.real53(gen))
      } else if (r < 0.65) {
        for (let i = prng.int32(gen, 1, 8); i > 0; i--) w.net.step()
      } else if (r < 0.71) {
        const names = [...w.live.keys()].sort(() => prng.real53(gen) - 0.5)
        const cut = prng.int32(gen, 1, names.length - 1)
        w.net.partition(names.slice(0, cut), names.slice(cut))
      } else if (r < 0.76) {
        await w.heal()
      } else if (r < 0.86) {
        w.clock.advance(prng.int32(gen, 0, HORIZON / 3))
      } else if (r < 0.92) {
        prng.oneOf(gen, w.nodes()).purgeStale()
      } else if (r < 0.95) {
        prng.oneOf(gen, w.nodes()).sync()
      } else if (r < 0.975) {
        if (w.live.size > 3) {
          await w.stop(prng.oneOf(gen, [...w.live.keys()]))
          departures++
        }
      } else {
        // A restart (same node id, a new incarnation) or a newcomer.
        const gone = [...new Set([...w.departed].map((o) => o.split('~')[0] as string))].filter((n) => !w.live.has(n))
        await w.start(gone.length > 0 && prng.bool(gen) ? prng.oneOf(gen, gone) : undefined)
      }
      checkReads(w)
      await Promise.resolve()
    }
    // The survivors keep rewriting a few keys, healed and lossless, for five
    // horizons, sweeping and exchanging state every quarter horizon.
    await w.regreet()
    w.net.setFaults({ dropRate: 0, duplicateRate: 0 })
    const settleStart = w.clock.now()
    for (let s = 0; s < SETTLE_STEPS; s++) {
      w.clock.advance(HORIZON / 4)
      for (const node of w.nodes()) {
        if (prng.bool(gen)) w.write(node, prng.oneOf(gen, KEYS), prng.real53(gen))
      }
      await w.net.flush()
      for (const node of w.nodes()) node.purgeStale()
      for (const node of w.nodes()) node.sync()
      await w.net.flush()
      checkReads(w)
    }
    assert.ok(w.clock.now() - settleStart >= 5 * HORIZON)
    checkSettled(w, mode)
    return { ops, departures }
  } finally {
    await w.close()
  }
}

/** No replica serves a value nobody wrote, nor one whose write is past its TTL. */
function checkReads (w: World): void {
  const now = w.clock.now()
  for (const node of w.nodes()) {
    for (const key of KEYS) {
      const v = node.get(key)
      if (v === undefined) continue
      const write = w.byValue.get(v)
      assert.ok(write, `${node.origin} serves ${key}=${v}, which nobody wrote`)
      assert.ok(physicalMs(write.hlc) + HORIZON > now, `${node.origin} serves ${key}=${v} ${now - physicalMs(write.hlc)} ms after its write, past its ttl of ${HORIZON}`)
    }
  }
}

/** Metadata goes at most ttl + horizon (a value that expired) plus one sweep after its write (SPEC §7). */
const COLLECTED_AFTER = HORIZON + HORIZON + GC_INTERVAL

function checkSettled (w: World, mode: string): void {
  const now = w.clock.now()
  const nodes = w.nodes()
  // Vectors are compared on their entries within the horizon: an entry of a
  // write older than that may be known to some replicas only (SPEC §7), and
  // orders nothing still alive.
  const recentEntries = (vv: VersionVector): VersionVector => vv.filter((_, i) => i % 2 === 0 && (w.writtenAt.get(`${vv[i] as string} ${vv[i + 1] as number}`) ?? -Infinity) + HORIZON > now)
    .flatMap((o) => [o, vectorGet(vv, o as string)])
  const state = (node: MeshCache<string>, key: string): string => {
    const v = node.inspect(key)
    return v === undefined ? 'none' : `${v.kind} hlc ${v.hlc} by ${v.writer} recent vv ${JSON.stringify(recentEntries(v.vv))}`
  }
  // Departed incarnations are retired everywhere, and their vector entries
  // forgotten: two horizons after their last write at most (SPEC §7), and
  // the settling phase lasts five.
  for (const node of nodes) {
    for (const [key, view] of node.metadata()) {
      const named = view.vv.filter((_, i) => i % 2 === 0).filter((o) => w.departed.has(o as string))
      assert.equal(named, [], `${node.origin}: the vector of ${key} still names departed ${named.join(', ')}`)
    }
    assert.is(node.stats().origins, nodes.length, `${node.origin} tracks ${node.stats().origins} origins, not the ${nodes.length} survivors`)
    assert.is(node.peers().length, nodes.length - 1, `${node.origin}: live members`)
  }
  const first = nodes[0] as MeshCache<string>
  for (const key of KEYS) {
    const writes = w.log.get(key) ?? []
    const last = writes.reduce<Write | undefined>((a, b) => (a === undefined || b.hlc > a.hlc || (b.hlc === a.hlc && b.writer > a.writer)) ? b : a, undefined)
    const age = last === undefined ? Infinity : now - physicalMs(last.hlc)
    for (const node of nodes) {
      const view = node.inspect(key)
      if (age >= COLLECTED_AFTER) {
        assert.is(view, undefined, `${node.origin} still holds ${key}, last written ${age} ms ago`)
        continue
      }
      if (age >= HORIZON) {
        // Between: each replica collects on its own schedule; what is left is no newer than the last write.
        if (view !== undefined) assert.ok(view.hlc <= (last as Write).hlc, `${node.origin} holds a state of ${key} newer than its last write`)
        continue
      }
      // Within the horizon: the last write everywhere, states identical (key by key, so a failure names the key).
      assert.is(state(node, key), state(first, key), `${key}: ${node.origin} and ${first.origin} differ`)
      assert.ok(view, `${node.origin} lost ${key}, written ${age} ms ago`)
      assert.equal([view.kind, view.hlc, view.writer], [last?.kind, last?.hlc, last?.writer], `${key} on ${node.origin}: not its last write`)
      const value = node.get(key)
      if (last?.kind !== 'set') assert.is(value, undefined, `${node.origin} serves deleted ${key}`)
      else if (mode === 'replicate') assert.is(value, last.value, `${node.origin}: the value of ${key}`)
      // Invalidate mode: a miss, or the writer's own copy (a conflict drops that too, §4).
      else if (value !== undefined) assert.is(value, last.value, `${node.origin} serves ${key}=${value}, not its last write`)
    }
  }
}

const { seeds, replaying } = seedsFromEnv(100)

test(`${seeds.length} seeded runs with departures, restarts and GC converge`, async () => {
  const results = await eachSeed(seeds, 'retirement convergence', 'test/retirement.test.ts', runSeed)
  const ops = results.reduce((sum, r) => sum + r.ops, 0)
  const departures = results.reduce((sum, r) => sum + r.departures, 0)
  assert.ok(ops >= seeds.length * 60, 'every seed made its steps')
  if (!replaying) assert.ok(departures > seeds.length / 4, `replicas left in enough seeds (${departures} departures)`)
})

test.run()
