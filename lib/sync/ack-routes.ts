/**
 * The way back of whenReplicated's relayed requests (SPEC §5.1): for each
 * request passed on here, the neighbour it came from, kept as long as its
 * writer waits (at least MIN_ROUTE_MS, at most MAX_ROUTE_MS), so that the
 * members' answers retrace the request's path to the writer. The first copy
 * of a request to arrive sets the way; later copies (over other paths) are
 * duplicates, not passed on again, so a request crosses each link at most
 * once each way.
 *
 * Ways back make a tree rooted at the writer only if every node keeps its
 * way while copies of the request are still about, and knows the writer's
 * origin for its own. Neither always holds: a way forgotten before a late
 * copy arrives is set afresh, towards another neighbour; and a writer
 * restarted under the same peer id (a new origin) takes its predecessor's
 * requests, coming back to it, for another writer's and sets ways for them.
 * A cycle of ways then passed answers round it until a way on it expired
 * (the call's wait: 5 s by default, up to MAX_ROUTE_MS; seed 1820796 of
 * `npm run check:seeds`: 8 answers circling 5 nodes a million times first).
 * So an answer is passed back once by a node (`passBack`), and a way is kept
 * long enough for the copies of its request to have died out.
 */

/** A way back outlives its writer's wait by at most this long, whatever `wait` a request names. */
export const MAX_ROUTE_MS = 10 * 60_000
/**
 * A way back is kept at least this long, whatever `wait` a request names (a call near its deadline names a few
 * ms): a copy of the request still on its way, over a slower path, must find it here, or it is new again, passed
 * on to every neighbour again, and may circle as long as copies outrun the ways. peerTimeout's default: a link
 * holding a copy longer than that is dropped as silent.
 */
export const MIN_ROUTE_MS = 30_000
/** Answers passed back per way at most: one per member (maxOrigins' default); past it, answers are dropped and the writer times out. */
export const MAX_ANSWERS_PER_ROUTE = 4096
/** Ways kept at most; past it the oldest goes first (its answers are then dropped here, and its writer times out). */
export const MAX_ROUTES = 4096

interface Route {
  peer: string
  expires: number
  /** The answers passed back along this way, by the members they name. */
  passed: Set<string> | undefined
}

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
    this.#routes.set(key, { peer, expires: now + Math.min(Math.max(wait, MIN_ROUTE_MS), MAX_ROUTE_MS), passed: undefined })
    return true
  }

  /** The neighbour the request (origin, ackId) came from, or undefined once it expired or was never seen. */
  back (origin: string, ackId: number): string | undefined {
    return this.#live(origin, ackId)?.peer
  }

  /**
   * Where to pass an answer to the request (origin, ackId) naming `members`: the way back, the first time
   * that answer comes here; undefined for no way back, or an answer passed back already (a duplicate, or one
   * going round a cycle of ways: see above), which is dropped.
   */
  passBack (origin: string, ackId: number, members: readonly string[]): string | undefined {
    const route = this.#live(origin, ackId)
    if (route === undefined) return undefined
    const passed = route.passed ??= new Set()
    const answer = members.join('\n')
    if (passed.has(answer) || passed.size >= MAX_ANSWERS_PER_ROUTE) return undefined
    passed.add(answer)
    return route.peer
  }

  #live (origin: string, ackId: number): Route | undefined {
    const route = this.#routes.get(routeKey(origin, ackId))
    return route !== undefined && route.expires > this.#now() ? route : undefined
  }

  get size (): number {
    return this.#routes.size
  }

  clear (): void {
    this.#routes.clear()
  }

  /**
   * Drops the oldest ways until there is room and the oldest left is live: a few an add, where a walk over all
   * of them cost 4,096 steps an add once the bound was reached with none expired (ways last MIN_ROUTE_MS at least).
   * Ways are noted in the order they came, so the oldest are first; an expired one behind a longer-lived one waits
   * its turn (within the bound).
   */
  #sweep (now: number): void {
    for (const [key, route] of this.#routes) {
      if (route.expires > now && this.#routes.size < MAX_ROUTES) return
      this.#routes.delete(key)
    }
  }
}

function routeKey (origin: string, ackId: number): string {
  return `${ackId}\n${origin}`
}
