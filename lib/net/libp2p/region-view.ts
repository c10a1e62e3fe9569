/**
 * Region links' reports (VIEW, SPEC.md §11.4): each node of a partial mesh
 * with a region tells its neighbours whether it holds a far link and which of
 * its same-region neighbours said they do, so that a holder hearing of
 * `crossRegionLinks` smaller ones stands down (regions.ts). Without them each
 * node judges by the dozen peers it is connected to, and two regions of 50
 * kept 12-15 links between them where two are asked.
 *
 * A report goes in the greeting and, when it changed, to every connected
 * peer not known to be far: at once when a link came or went or a
 * neighbour's report changed ours (partial-mesh.ts linksChanged: the
 * lane's carriers are chosen by these claims, regions.ts `carries`), and
 * on a tick for anything else. A claim whose holder lost its far link is
 * gone at two hops within a round trip or two; one whose holder died, once
 * liveness drops the holder's connections.
 */
import { encodeView } from './envelope.ts'
import type { RegionLinks } from './regions.ts'

/** How often a node looks whether its report changed (and sends it if so). */
export const VIEW_EVERY_MS = 1_000

/** What the reports need of the mesh. */
export interface RegionViewHost {
  connectedPeers (): string[]
  /** Connected peers but those whose link is being let go (a far link so is none held). */
  linkedPeers (): string[]
  /** Writes `envelope` on our stream to `peer`, if it is open. */
  sendEnvelope (peer: string, envelope: Uint8Array): void
  /** Whether `peer`'s link is up in a namespace: a far link claimed only then carries writes (the lane's). */
  isUp (peer: string): boolean
}

export class RegionView {
  readonly #regions: RegionLinks
  readonly #host: RegionViewHost
  #timer: ReturnType<typeof setInterval> | undefined
  /** The report last sent on a tick (a greeting sends the current one whatever it was). */
  #last: Uint8Array = new Uint8Array(0)

  constructor (regions: RegionLinks, host: RegionViewHost) {
    this.#regions = regions
    this.#host = host
  }

  start (): void {
    this.#timer ??= setInterval(() => { this.tick() }, VIEW_EVERY_MS)
    this.#timer.unref()
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** This node's report now, as an envelope (for a greeting). */
  current (): Uint8Array {
    const report = this.#regions.report(this.#host.linkedPeers(), peer => this.#host.isUp(peer))
    return encodeView(report.holds, report.holders)
  }

  /**
   * Sends the report to every connected peer not known to be far if it changed since the last tick's (far peers
   * ignore it; one whose HELLO has not been read yet may be of our region, and must not keep a stale claim).
   */
  tick (): void {
    const view = this.current()
    if (sameBytes(view, this.#last)) return
    this.#last = view
    for (const peer of this.#host.connectedPeers()) if (!this.#regions.isFar(peer)) this.#host.sendEnvelope(peer, view)
  }
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
