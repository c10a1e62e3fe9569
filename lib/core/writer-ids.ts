/**
 * Small integers for the writers (origin ids) of an EntryTable's slots, so
 * that the writer column is an Int32Array rather than an array of string
 * pointers: a plain array of one pointer per key grows by copying, and the
 * GC scans it (entry.ts). A handful of writers serve all keys.
 *
 * Each id counts the slots that hold it; an id no slot holds is given back,
 * so the table stays as small as the set of writers whose states are still
 * held (instances restart under new ids, and old ones fade out, SPEC §7).
 */
export class WriterIds {
  readonly #ids = new Map<string, number>()
  #names: string[] = []
  #holders: number[] = []
  readonly #free: number[] = []
  /** The last writer looked up, and its id: most runs of writes come from one writer. */
  #last = ''
  #lastId = -1

  /** `writer`'s id, counting one more holder. */
  hold (writer: string): number {
    let id = writer === this.#last ? this.#lastId : this.#ids.get(writer)
    if (id === undefined) {
      id = this.#free.pop() ?? this.#names.length
      this.#ids.set(writer, id)
      this.#names[id] = writer
      this.#holders[id] = 0
    }
    this.#last = writer
    this.#lastId = id
    this.#holders[id] = (this.#holders[id] as number) + 1
    return id
  }

  /** One holder of `id` fewer; the id is given back when none is left. */
  release (id: number): void {
    const left = (this.#holders[id] as number) - 1
    this.#holders[id] = left
    if (left !== 0) return
    const name = this.#names[id] as string
    this.#ids.delete(name)
    this.#names[id] = ''
    this.#free.push(id)
    if (name === this.#last) {
      this.#last = ''
      this.#lastId = -1
    }
  }

  name (id: number): string {
    return this.#names[id] as string
  }

  /** Ids in use (for tests). */
  get size (): number {
    return this.#ids.size
  }

  clear (): void {
    this.#ids.clear()
    this.#names = []
    this.#holders = []
    this.#free.length = 0
    this.#last = ''
    this.#lastId = -1
  }
}
