/**
 * The shape every system under test implements for `npm run bench:mesh`.
 *
 * One module per system in bench/mesh/systems/<name>.ts exports `system: System`.
 * The module is imported twice: in the bench process (for `unavailable` and
 * `setup`, e.g. starting redis-server) and in each node process (for `node`).
 * Node 0 is the writer, nodes 1..n-1 are receivers. Nodes are initialised in
 * the order 1, 2, ..., n-1, 0, and each is handed the addresses of the nodes
 * initialised before it, so a writer that dials its receivers knows them all
 * and a mesh node can bootstrap from every earlier node.
 */

export type Scenario = 'fanout' | 'heal'

/** What a node process gets from the harness. */
export interface NodeContext {
  /** 0 is the writer, 1..n-1 are receivers. */
  readonly index: number
  readonly n: number
  readonly role: 'writer' | 'receiver'
  /** Which benchmark runs: 'fanout' (run.ts) or 'heal' (heal.ts, which needs `command`). */
  readonly scenario: Scenario
  /** Whatever `setup` returned as `config` (structured-clone-able). */
  readonly config: unknown
  /** `address` of every node initialised before this one. */
  readonly peers: readonly unknown[]
  /**
   * A receiver calls this the moment invalidation `seq` takes effect locally
   * (the write→evict latency ends here). Cheap: stores a timestamp.
   */
  received(seq: number): void
}

/** A running node. */
export interface NodeHandle {
  /** How later nodes reach this one (a port, multiaddrs…); structured-clone-able. */
  readonly address?: unknown
  /**
   * Writer only: publishes invalidation `seq` to every receiver. Returns a
   * promise only when the writer must wait before publishing more
   * (backpressure); the harness awaits it.
   */
  publish?(seq: number): Promise<void> | undefined
  /**
   * Scenario-specific commands beyond plain fan-out (the heal benchmark's
   * `fill`, `partition`, `heal`, …). Rejects names it does not know.
   */
  command?(name: string, args: unknown): Promise<unknown>
  close(): Promise<void>
}

/** Shared infrastructure a system needs for one run (a broker, say). */
export interface SystemEnv {
  /** Passed to every node as `NodeContext.config`. */
  readonly config: unknown
  close(): Promise<void>
}

export interface System {
  readonly name: string
  /** Why this system cannot run on this machine, or undefined when it can. */
  unavailable?(): Promise<string | undefined>
  /** Runs in the bench process before the nodes start. */
  setup?(n: number): Promise<SystemEnv>
  /** Runs in a node process. */
  node(ctx: NodeContext): Promise<NodeHandle>
}

/** Monotonic milliseconds, comparable across processes on one machine (CLOCK_MONOTONIC). */
export function now(): number {
  return Number(process.hrtime.bigint()) / 1e6
}

/** The invalidated key for `seq`: what a cache would evict. */
export function keyOf(seq: number): string {
  return `user:${seq}`
}

/** The inverse of `keyOf`. */
export function seqOf(key: string): number {
  return Number(key.slice(key.indexOf(':') + 1))
}
