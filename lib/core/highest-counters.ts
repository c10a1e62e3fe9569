/**
 * The highest counter of each origin in any vector an entry table was given
 * (entry.ts), never lowered between recounts: when a state vector reaches
 * every one of them, no slot's vector is beyond it, and an anti-entropy
 * answer needs no walk over the keys (records-beyond.ts, SPEC §6). A freed
 * or trimmed vector leaves its counters here until the next recount (the
 * GC pass that forgets retired origins), so the answer may walk when it
 * need not, never the reverse.
 */
export class HighestCounters {
  readonly #highest = new Map<string, number>()
  /** The last origin raised, and its entry (0: none): most writes come from one origin, so most raises skip the Map. */
  #last = ''
  #lastTo = 0

  raise (origin: string, counter: number): void {
    if (origin !== this.#last) {
      this.#last = origin
      this.#lastTo = this.#highest.get(origin) ?? 0
    }
    if (counter <= this.#lastTo) return
    this.#lastTo = counter
    this.#highest.set(origin, counter)
  }

  /** Whether `sv` is at or above every origin's highest counter. */
  within (sv: ReadonlyMap<string, number>): boolean {
    for (const [origin, counter] of this.#highest) if (counter > (sv.get(origin) ?? 0)) return false
    return true
  }

  clear (): void {
    this.#highest.clear()
    this.#last = ''
    this.#lastTo = 0
  }
}
