/**
 * The way back of whenReplicated's relayed requests (SPEC §5.1): for each
 * request passed on here, the neighbour it came from, kept as long as its
 * writer waits (at most MAX_ROUTE_MS), so that the members' answers retrace
 * the request's path to the writer. The first copy of a request to arrive
 * sets the way; later copies (over other paths) are duplicates, not passed
 * on again, so a request crosses each link at most once each way.
 */

/** A way back outlives its writer's wait by at most this long, whatever `wait` a request names. */
export const MAX_ROUTE_MS = 10 * 60_000
/** Ways kept at most; past it the oldest goes first (its answers are then dropped here, and its writer times out). */
export const MAX_ROUTES = 4096

interface Route { peer: string, expires: number }

export class AckRoutes {
  readonly #routes = new Map<string, Route>()
  readonly #now: () => number

  constructor (now: () => number = () => performance.now()) {
    this.#now = now
  }

  /** Notes that the request (origin, ackId) came from `peer`: true if it is new here (pass it on), false for a duplicate. */
  add (origin: string, ackId: number, peer: string, wait: number): boolean {
    const key = routeKey(origin, ackId)
    const now = this.#now()
    const known = this.#routes.get(key)
    if (known !== undefined && known.expires > now) return false
    if (known !== undefined) this.#routes.delete(key)
    if (this.#routes.size >= MAX_ROUTES) this.#sweep(now)
    this.#routes.set(key, { peer, expires: now + Math.min(wait, MAX_ROUTE_MS) })
    return true
  }

  /** The neighbour the request (origin, ackId) came from, or undefined once it expired or was never seen. */
  back (origin: string, ackId: number): string | undefined {
    const route = this.#routes.get(routeKey(origin, ackId))
    return route !== undefined && route.expires > this.#now() ? route.peer : undefined
  }

  get size (): number {
    return this.#routes.size
  }

  clear (): void {
    this.#routes.clear()
  }

  /** Drops the expired ways, and if none had, the oldest. */
  #sweep (now: number): void {
    for (const [key, route] of this.#routes) if (route.expires <= now) this.#routes.delete(key)
    if (this.#routes.size >= MAX_ROUTES) this.#routes.delete(this.#routes.keys().next().value as string)
  }
}

function routeKey (origin: string, ackId: number): string {
  return `${ackId}\n${origin}`
}
