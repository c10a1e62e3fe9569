/**
 * The source-of-truth checker with an L2 (SPEC §14) on a real redis-server:
 * truth.ts's database and operations in invalidate mode, every instance
 * with its own Redis client through its own TCP proxy, and these faults on
 * top of the mesh's (drops, duplicates, partitions, clock jumps, restarts):
 *
 * - one instance cut off from Redis (its proxy resets every connection and
 *   refuses new ones) while the others go on, and its return;
 * - Redis killed and restarted from its append-only file (what it held
 *   before comes back), or hung (SIGSTOP) for a while;
 * - real time passing (deadlines, the breaker's probes, Redis's own expiry).
 *
 * After every heal, flush, sync and recovery of every tier, each instance
 * reads every key through `getOrLoad` with a loader that returns the
 * database's current row: whatever it serves without calling the loader
 * (from L1 or from L2) must be that row.
 *
 * A seed fixes every choice, so a failure replays the same operations; the
 * timing of real sockets and timers is not fixed, and a replay may need a
 * few runs to fail again (`SEED=s ./node_modules/.bin/node test/tiers/l2-truth.test.ts`;
 * `TRUTH_VERBOSE=1` prints each step as it runs, for a run that hangs).
 */
import * as prng from 'lib0/prng'
import { createMeshCache } from '../../lib/index.ts'
import { createMemoryNetwork } from '../../lib/testing/index.ts'
import { RedisTier } from '../../lib/tiers/redis.ts'
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts'
import type { RedisServer } from './redis.ts'
import { History, READ_KEYS, type HistoryNode, type HistorySetup } from './history.ts'

const TTL = 3_000
const SKEW = 500
/** How long the tiers may take to come back after every fault is lifted. */
const RECOVERY_MS = 20_000

export interface L2TruthSummary {
  steps: number
  checks: number
  loads: number
  /** Reads the check answered from L2 (a copy the guard accepted). */
  l2Hits: number
  l2Refused: number
  restarts: number
  faults: number
}

interface Node extends HistoryNode {
  tier: RedisTier<string>
  proxy: TcpProxy
}

interface TierChoice {
  timeout: number
  failureThreshold: number
  probeInterval: number
  tombstoneTtl: number
  ttl: number | undefined
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export async function runL2TruthSeed (seed: number, server: RedisServer): Promise<L2TruthSummary> {
  const gen = prng.create(seed)
  const n = prng.int32(gen, 2, 4)
  const dropRate = prng.real53(gen) * 0.1
  const duplicateRate = prng.real53(gen) * 0.05
  const choice: TierChoice = {
    timeout: prng.oneOf(gen, [30, 100, 300]),
    failureThreshold: prng.int32(gen, 1, 4),
    probeInterval: prng.oneOf(gen, [10, 30, 100]),
    tombstoneTtl: prng.oneOf(gen, [1_000, 3_000, 10_000]),
    ttl: prng.bool(gen) ? undefined : prng.int32(gen, 500, TTL),
  }
  const net = createMemoryNetwork({ seed, dropRate, duplicateRate })
  const sim = new L2Simulation({ gen, net, mode: 'invalidate', ttl: TTL, horizon: TTL + SKEW, dropRate, duplicateRate }, { seed, server, choice })
  try {
    const steps = await sim.play(n, 40, 120)
    await sim.settleAndCheck('end')
    return sim.summary(steps)
  } finally {
    await sim.closeAll()
  }
}

class L2Simulation extends History<Node> {
  readonly seed: number
  readonly server: RedisServer
  readonly choice: TierChoice
  /** Shared clock jumps: every instance's clock is real time plus these, plus its own offset. */
  jumped = 0
  serverDown: 'killed' | 'paused' | undefined
  l2Hits = 0
  faults = 0

  constructor (setup: HistorySetup, o: { seed: number, server: RedisServer, choice: TierChoice }) {
    super(setup)
    this.seed = o.seed
    this.server = o.server
    this.choice = o.choice
  }

  when (): string {
    return `+${this.jumped}`
  }

  advance (ms: number): void {
    this.jumped += ms
  }

  override context (): string {
    return `\n  tier options ${JSON.stringify(this.choice)}`
  }

  summary (steps: number): L2TruthSummary {
    const refused = this.nodes.reduce((sum, x) => sum + Number(x.cache.stats().tier?.l2Refused ?? 0), 0)
    return { steps, checks: this.checks, loads: this.loads, l2Hits: this.l2Hits, l2Refused: refused, restarts: this.restarts, faults: this.faults }
  }

  async start (name: string, previous?: Node): Promise<Node> {
    const offset = prng.int32(this.gen, 0, SKEW - 1)
    const proxy = previous?.proxy ?? await startTcpProxy(this.server.port)
    const { ttl, ...tierOptions } = this.choice
    const tier = new RedisTier<string>({ redis: `redis://127.0.0.1:${proxy.port}`, prefix: `l2t${this.seed}:`, ...tierOptions, ...(ttl === undefined ? {} : { ttl }) })
    const cache = await createMeshCache<string>({ ...this.cacheOptions(name, () => Date.now() + this.jumped + offset), namespace: 'l2truth', l2: tier })
    return this.place({ name, cache, tier, proxy, dirty: false, localHeld: new Map() }, offset)
  }

  async closeAll (): Promise<void> {
    for (const p of this.pending.splice(0)) p.resolve()
    if (this.serverDown === 'paused') this.server.resume()
    if (this.serverDown === 'killed') await this.server.restart()
    this.serverDown = undefined
    for (const node of this.nodes) node.proxy.restore()
    for (const node of this.nodes) {
      await node.cache.close()
      await node.proxy.close()
    }
  }

  async randomStep (): Promise<void> {
    const r = prng.real53(this.gen)
    if (r < 0.25) this.read()
    else if (r < 0.37) this.land()
    else if (r < 0.55) this.write()
    else if (r < 0.63) { for (let i = prng.int32(this.gen, 1, 8); i > 0; i--) this.net.step() }
    else if (r < 0.67) this.partition()
    else if (r < 0.70) { this.net.heal(); this.log('heal') }
    else if (r < 0.77) await this.redisFault()
    else if (r < 0.84) { const ms = prng.int32(this.gen, 1, 40); this.log(`sleep ${ms} ms`); await sleep(ms) }
    else if (r < 0.89) this.jump()
    else if (r < 0.91) await this.restart()
    else if (r < 0.92) { const node = this.pick(this.nodes); node.dirty = true; this.log(`${node.name} clears the namespace`); node.cache.clear() }
    else if (r < 0.96) await this.net.flush()
    else await this.settleAndCheck(`step ${this.step}`)
    await new Promise((resolve) => setImmediate(resolve))
  }

  async redisFault (): Promise<void> {
    this.faults++
    const r = prng.real53(this.gen)
    const node = this.pick(this.nodes)
    if (r < 0.45) { node.proxy.cut(); this.log(`${node.name} cut off from Redis`) }
    else if (r < 0.8) { node.proxy.restore(); this.log(`${node.name} reaches Redis again`) }
    else if (r < 0.9) {
      if (this.serverDown === 'killed') { await this.server.restart(); this.serverDown = undefined; this.log('Redis restarted from its append-only file') }
      else if (this.serverDown === undefined) { await this.server.kill(); this.serverDown = 'killed'; this.log('Redis killed') }
    } else if (this.serverDown === undefined) {
      const ms = prng.int32(this.gen, 20, 300)
      this.server.pause()
      this.log(`Redis hung for ${ms} ms`)
      await sleep(ms)
      this.server.resume()
    }
  }

  override async restart (): Promise<void> {
    await super.restart()
    // The restarted instance holds nothing until it has synced: until the next settle no other may
    // crash (truth.ts runs three or more instances; here two may be all). With every instance fresh
    // at once, nothing is left that knew the writes, and an L2 fill read before them would pass the
    // guard (SPEC §14.4: what the guard cannot cover).
    this.crashed = true
  }

  // ---- settling and the check ----

  async settle (): Promise<void> {
    for (const node of this.nodes) node.proxy.restore()
    if (this.serverDown === 'paused') this.server.resume()
    if (this.serverDown === 'killed') await this.server.restart()
    this.serverDown = undefined
    // Loads land; a read still waiting on a deadline calls its loader later, and that lands too.
    while (this.reads.size > 0 || this.pending.length > 0) {
      for (const p of this.pending.splice(0)) p.resolve()
      await Promise.race([Promise.all(this.reads), sleep(10)])
    }
    await this.syncAll()
    const deadline = Date.now() + RECOVERY_MS
    while (!this.nodes.every((x) => x.tier.breaker === 'closed' && Number(x.tier.stats().l2Pending) === 0)) {
      if (Date.now() > deadline) this.fail(`the tiers did not recover within ${RECOVERY_MS} ms: ${this.nodes.map((x) => `${x.name} ${JSON.stringify(x.tier.stats())}`).join('; ')}`)
      await sleep(5)
    }
    this.settled()
  }

  /** Every key through `getOrLoad`: what comes without a loader call (L1, L2, a remembered "not found") must be the database's row. */
  async check (node: Node): Promise<void> {
    for (const key of READ_KEYS) {
      const truth = this.truth(key)
      const inL1 = node.cache.peek(key)
      const hits = Number(node.cache.stats().tier?.l2Hits ?? 0)
      let loaded = false
      const served = await node.cache.getOrLoad(key, async () => { loaded = true; return truth }, this.bases(key))
      if (loaded) continue
      const from = inL1 !== undefined ? 'L1' : Number(node.cache.stats().tier?.l2Hits ?? 0) > hits ? 'L2' : 'a remembered "not found"'
      if (from === 'L2') this.l2Hits++
      if (served !== truth) this.fail(`${node.name} (${node.cache.origin}) serves ${key}=${String(served)} from ${from}, the database holds ${String(truth)}`)
    }
  }
}
