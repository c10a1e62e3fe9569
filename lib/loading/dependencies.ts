/**
 * The dependency graph of one instance: which local values were derived
 * from which keys (`set(key, v, { dependsOn, tags })`, or the same options of
 * `getOrLoad`). When a base changes, every transitive dependent is detached
 * from the graph and handed to the cache, which evicts it.
 *
 * The graph is a DAG: an edge that would close a cycle is refused with
 * E_DEPENDENCY_CYCLE before anything changes.
 *
 * Memory is bounded by what is held: a node (a dependent and its edges to
 * its bases) exists while its key holds a value here, or while some held
 * node depends on it (so a chain `dashboard → profile → user` keeps cascading
 * after `profile` itself was evicted for capacity). When neither holds, the
 * node and its edges go, and that may release its bases in turn. Bases need
 * no node: a base that was never cached here still cascades by name. A load
 * in flight pins the bases it will be stored under, so a base's own edges
 * survive its eviction until the load lands and links to it.
 *
 * One exception: a replicated dependent this instance wrote is held by the
 * other replicas too, and only this instance knows its edges (SPEC §10). Its
 * node outlives a local eviction for capacity until the value's deadline
 * (`release`'s `until`), so a change of a base still invalidates it
 * everywhere; `expire` lets it go after that. At most `maxKept` are kept:
 * past that, `release` names the oldest for the cache to invalidate
 * everywhere now (a miss on every replica rather than edges without bound).
 */
import { checkKey } from '../arguments.ts'
import { ErrorCode, MeshCacheError } from '../errors.ts'
import { assertUserKey, tagKey } from './tags.ts'

interface Node {
  readonly key: string
  /** The keys this one was derived from (user keys and tag keys), without duplicates. */
  bases: string[]
  /** Set with a replicated write: its eviction must propagate (an invalidation). */
  replicated: boolean
  /** Whether the key still holds a value (or negative entry) here. */
  holds: boolean
  /** Replicated and evicted here while the other replicas may hold it: kept until this epoch ms (0: not kept). */
  until: number
  /** The traversal that last visited it (dedup without a Set). */
  mark: number
}

/** Called once per evicted dependent, after the graph is consistent again. */
export type DependentVisitor = (key: string, replicated: boolean) => void

export class DependencyGraph {
  readonly #nodes = new Map<string, Node>()
  /** base → the nodes derived from it. A set exists only while non-empty. */
  readonly #dependents = new Map<string, Set<Node>>()
  /** key → loads in flight that will be stored under it (a pinned node is not released). */
  readonly #pins = new Map<string, number>()
  /** Keys whose nodes are kept past their eviction (`until`), for `expire` to look at. */
  readonly #kept = new Set<string>()
  #edges = 0
  #epoch = 0
  readonly #maxKept: number

  constructor (maxKept = Infinity) {
    this.#maxKept = maxKept
  }

  /** Dependents held in the graph. */
  get size (): number {
    return this.#nodes.size
  }

  /** Edges (dependent → base) in the graph. */
  get edges (): number {
    return this.#edges
  }

  /** The direct bases recorded for `key` (for tests and diagnostics). */
  basesOf (key: string): string[] {
    return this.#nodes.get(key)?.bases.slice() ?? []
  }

  /** The direct dependents of `base` (for tests and diagnostics). */
  dependentsOf (base: string): string[] {
    return [...(this.#dependents.get(base) ?? [])].map((n) => n.key)
  }

  /**
   * Throws E_DEPENDENCY_CYCLE when deriving `key` from `bases` would close a
   * cycle: some base is `key` itself or one of its transitive dependents.
   * Changes nothing. Costs O(1) when `key` has no dependents.
   */
  assertAcyclic (key: string, bases: readonly string[]): void {
    for (const b of bases) if (b === key) throw cycleError(key, [key])
    const direct = this.#dependents.get(key)
    if (direct === undefined) return
    const targets = new Set(bases)
    // Depth-first over dependents, remembering each node's parent to name the cycle.
    const parent = new Map<string, string>()
    const stack: string[] = []
    for (const d of direct) {
      parent.set(d.key, key)
      stack.push(d.key)
    }
    while (stack.length > 0) {
      const d = stack.pop() as string
      if (targets.has(d)) throw cycleError(key, pathTo(parent, d, key))
      const next = this.#dependents.get(d)
      if (next === undefined) continue
      for (const n of next) {
        if (parent.has(n.key)) continue
        parent.set(n.key, d)
        stack.push(n.key)
      }
    }
  }

  /**
   * Records that the value `key` now holds was derived from `bases`,
   * replacing its earlier edges. Callers check `assertAcyclic` first.
   */
  link (key: string, bases: string[], replicated: boolean): void {
    let node = this.#nodes.get(key)
    if (node !== undefined && node.until !== 0 && node.replicated && !replicated) {
      // A value loaded here over a replicated dependent this instance wrote and evicted: the other
      // replicas still hold that one, so its edges stay with the new ones, and a change still reaches them.
      replicated = true
      bases = [...new Set([...node.bases, ...bases])]
    }
    if (node === undefined) {
      node = { key, bases, replicated, holds: true, until: 0, mark: 0 }
      this.#nodes.set(key, node)
    } else {
      // Reused, so the dependents sets of bases it keeps still hold this object.
      this.#unlinkBases(node, bases)
      node.bases = bases
      node.replicated = replicated
      node.holds = true
      this.#unkeep(node)
    }
    for (const b of bases) {
      let set = this.#dependents.get(b)
      if (set === undefined) {
        set = new Set()
        this.#dependents.set(b, set)
      }
      set.add(node)
    }
    this.#edges += bases.length
  }

  /** `key` now holds a value derived from nothing declared: its edges go (its dependents stay linked by name). */
  unlink (key: string): void {
    const node = this.#nodes.get(key)
    if (node !== undefined) this.#remove(key, node)
  }

  /**
   * `key` no longer holds a value here (TTL, capacity): its edges go unless
   * something depends on it, or unless it is a replicated dependent whose
   * value the other replicas may hold until `until` (epoch ms; 0 when they
   * hold it no longer): then they stay until `expire` passes that time.
   * Returns the oldest kept dependent when that makes more than `maxKept`:
   * the caller invalidates it (which lets its node go).
   */
  release (key: string, until = 0): string | undefined {
    const node = this.#nodes.get(key)
    if (node === undefined) return undefined
    node.holds = false
    if (node.replicated && until > 0) {
      this.#kept.delete(key) // kept again: now the newest
      this.#kept.add(key)
      node.until = until
      if (this.#kept.size <= this.#maxKept) return undefined
      const oldest = this.#kept.values().next().value as string
      this.#unkeep(this.#nodes.get(oldest) as Node) // its invalidation, by the caller, lets it go
      return oldest
    }
    this.#unkeep(node)
    this.#removeIfUnused(key, node)
    return undefined
  }

  /** Lets go of the evicted replicated dependents whose values have expired everywhere by `now`. */
  expire (now: number): void {
    for (const key of this.#kept) {
      const node = this.#nodes.get(key) as Node // a node leaves #kept before it leaves the graph (#unkeep)
      if (node.until > now) continue
      this.#unkeep(node)
      this.#removeIfUnused(key, node)
    }
  }

  /** Whether `key` is a dependent written here with a replicated write. */
  replicated (key: string): boolean {
    return this.#nodes.get(key)?.replicated === true
  }

  /** The replicated dependents whose edges are here (held or kept past an eviction). */
  replicatedKeys (): string[] {
    const keys: string[] = []
    for (const node of this.#nodes.values()) if (node.replicated) keys.push(node.key)
    return keys
  }

  /** A load that will be stored under `base` started: keep `base`'s edges until it ends. */
  pin (base: string): void {
    this.#pins.set(base, (this.#pins.get(base) ?? 0) + 1)
  }

  /** That load ended (landed, failed or detached): `base` goes if nothing else keeps it. */
  unpin (base: string): void {
    const n = (this.#pins.get(base) ?? 0) - 1
    if (n > 0) {
      this.#pins.set(base, n)
      return
    }
    this.#pins.delete(base)
    const node = this.#nodes.get(base)
    if (node !== undefined) this.#removeIfUnused(base, node)
  }

  /**
   * `key` changed (written, deleted, invalidated, here or elsewhere): its own
   * node goes (its value is replaced or gone), and every transitive
   * dependent is detached and passed to `visit`, once each, after the graph
   * is consistent again (so `visit` may write). Returns how many were visited.
   * `keepOwn`: `key`'s value stays (a local-only value whose replicated state
   * changed beside it), and so do its own edges.
   */
  changed (key: string, visit: DependentVisitor, keepOwn = false): number {
    const own = this.#nodes.get(key)
    const direct = this.#dependents.get(key)
    if (direct === undefined) {
      if (own !== undefined && !keepOwn) this.#remove(key, own)
      return 0
    }
    // Breadth-first closure. Every key in a dependents set has a node (edges
    // belong to nodes), so nodes carry the visit mark; each visited key's
    // dependents set is removed whole, so a fan-out of n costs no deletions.
    this.#dependents.delete(key)
    const epoch = ++this.#epoch
    const order: Node[] = []
    this.#collect(direct, epoch, order)
    for (let i = 0; i < order.length; i++) {
      const k = (order[i] as Node).key
      const next = this.#dependents.get(k)
      if (next === undefined) continue
      this.#dependents.delete(k)
      this.#collect(next, epoch, order)
    }
    // Detach every visited node (its edges into the closure are gone already).
    for (let i = 0; i < order.length; i++) {
      const node = order[i] as Node
      this.#nodes.delete(node.key)
      this.#unkeep(node)
      const bases = node.bases
      this.#edges -= bases.length
      if (bases.length === 1 && bases[0] === key) continue
      for (const b of bases) this.#dropEdge(b, node)
    }
    const ownNow = keepOwn ? undefined : this.#nodes.get(key)
    if (ownNow !== undefined) this.#remove(key, ownNow)
    for (let i = 0; i < order.length; i++) {
      const node = order[i] as Node
      visit(node.key, node.replicated)
    }
    return order.length
  }

  #collect (nodes: Set<Node>, epoch: number, into: Node[]): void {
    for (const node of nodes) {
      if (node.mark === epoch) continue
      node.mark = epoch
      into.push(node)
    }
  }

  /** Forgets everything (cache closed). */
  clear (): void {
    this.#nodes.clear()
    this.#dependents.clear()
    this.#pins.clear()
    this.#kept.clear()
    this.#edges = 0
  }

  /** Removes `key`'s node and its edges; bases left with no dependent and no value go too. */
  #remove (key: string, node: Node): void {
    this.#nodes.delete(key)
    this.#unkeep(node)
    this.#edges -= node.bases.length
    for (const b of node.bases) this.#dropEdge(b, node)
  }

  #dropEdge (base: string, dependent: Node): void {
    const set = this.#dependents.get(base)
    if (set === undefined || !set.delete(dependent) || set.size > 0) return
    this.#dependents.delete(base)
    const node = this.#nodes.get(base)
    if (node !== undefined) this.#removeIfUnused(base, node)
  }

  /** Removes `key`'s node unless something keeps it: its value, a kept replicated value elsewhere, a dependent or a load. */
  #removeIfUnused (key: string, node: Node): void {
    if (!node.holds && node.until === 0 && !this.#dependents.has(key) && !this.#pins.has(key)) this.#remove(key, node)
  }

  /** `node` holds a value again, changed or went: it no longer counts against `maxKept`. */
  #unkeep (node: Node): void {
    if (node.until === 0) return
    node.until = 0
    this.#kept.delete(node.key)
  }

  /** Drops the old edges of `node` before new ones are linked, keeping those the new value declares too. */
  #unlinkBases (node: Node, keep: string[]): void {
    this.#edges -= node.bases.length
    for (const b of node.bases) if (!keep.includes(b)) this.#dropEdge(b, node)
  }
}

/**
 * Validates `dependsOn` and `tags` and returns the bases they name (tags as
 * their internal keys), or undefined when there are none. Throws
 * E_INVALID_ARGUMENT for a malformed list, before any state changes.
 */
export function resolveBases (dependsOn: unknown, tags: unknown, maxKeyBytes: number): string[] | undefined {
  if (dependsOn === undefined && tags === undefined) return undefined
  const out = new Set<string>()
  if (dependsOn !== undefined) {
    if (!Array.isArray(dependsOn)) throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, '`dependsOn` must be an array of keys')
    for (const b of dependsOn) {
      if (typeof b !== 'string') throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `\`dependsOn\` holds a ${typeof b}, not a key`)
      assertUserKey(b)
      checkKey(b, maxKeyBytes, '`dependsOn` key')
      out.add(b)
    }
  }
  if (tags !== undefined) {
    if (!Array.isArray(tags)) throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, '`tags` must be an array of strings')
    for (const t of tags) {
      const k = tagKey(t)
      checkLength(k, maxKeyBytes, 'tag')
      out.add(k)
    }
  }
  return out.size === 0 ? undefined : [...out]
}

function checkLength (key: string, limit: number, what: string): void {
  if (key.length * 3 > limit && Buffer.byteLength(key) > limit) {
    throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, `${what} of ${Buffer.byteLength(key)} bytes exceeds maxKeyBytes ${limit}`)
  }
}

function pathTo (parent: Map<string, string>, from: string, root: string): string[] {
  const path = [from]
  let k = from
  while (k !== root) {
    k = parent.get(k) as string
    path.push(k)
  }
  return path.reverse()
}

function cycleError (key: string, path: string[]): MeshCacheError {
  // path: key → … → base, each derived from the one before; the new edge closes it back to key.
  const shown = [...path, key].map((k) => JSON.stringify(k)).join(' → ')
  return new MeshCacheError(ErrorCode.DEPENDENCY_CYCLE, `deriving ${JSON.stringify(key)} from it would close a cycle: ${shown} (each derived from the one before)`)
}
