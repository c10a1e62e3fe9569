/**
 * One replication session on the slot: pgoutput messages in, one batch of
 * invalidations per transaction out, acknowledgements back.
 *
 * - Changes are gathered per transaction and applied at its COMMIT in one
 *   synchronous run (source.ts rule 1).
 * - A transaction's end LSN is acknowledged only once its batch was applied
 *   and handed to the mesh, and `ackDelayMs` later: the frame has then left
 *   this process, so a kill -9 after the acknowledgement cannot take the
 *   only copy with it (rule 2). Until acknowledged, a crash replays it.
 * - pg-logical-replication's automatic acknowledgement is off, and so is its
 *   standby-status timer: that timer acknowledges the last LSN *received*,
 *   which would confirm transactions not applied yet.
 * - The library's `acknowledge(lsn)` reports lsn + 1; PostgreSQL skips, on
 *   restart, every transaction whose commit record starts before the
 *   confirmed position, and the next commit record may start exactly at this
 *   one's end. So we pass end − 1, and the server hears the end itself.
 */
import type { LogicalReplicationService, Pgoutput } from 'pg-logical-replication'
import { replication } from './pg-peers.ts'
import type pg from 'pg'
import { applyBatch, handedToMesh, type ChangeSink, type RefusedKey } from './source.ts'
import type { RowMapping } from './postgres-setup.ts'

/** A table's mappings, resolved by relation name. */
export interface TableMappings {
  keys?: RowMapping
  tags?: RowMapping
  /** Columns that name a row in events (the primary key); the replica identity's when empty. */
  rowKey?: string[]
}

export interface MappingErrorEvent {
  table: string
  /** The row's identity (its replica-identity or primary-key columns), as far as the message carries it. */
  key: Record<string, unknown>
  error: unknown
}

export interface SessionHooks {
  sink: ChangeSink
  mappings: Map<string, TableMappings>
  /** Most keys one transaction may invalidate before it clears the namespace instead. */
  maxKeysPerTransaction: number
  ackDelayMs: number
  /**
   * Whether what was handed to the mesh reaches someone: false while live members exist and none is
   * connected. Acknowledgements wait then, and ackDelayMs counts again from the reconnection, so
   * anti-entropy can carry the invalidations before the slot forgets them.
   */
  meshReachable(): boolean
  onStart(): void
  onBatch(commitTimeMs: number, invalidations: number): void
  onMappingError(e: MappingErrorEvent): void
  onTruncate(tables: string[]): void
}

interface PendingAck { lsn: bigint, handedAt: number }

export function parseLsn (lsn: string): bigint {
  const [hi, lo] = lsn.split('/')
  return (BigInt(`0x${hi ?? '0'}`) << 32n) | BigInt(`0x${lo ?? '0'}`)
}

export function formatLsn (lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`
}

export class ReplicationSession {
  readonly #hooks: SessionHooks
  readonly #service: LogicalReplicationService
  readonly #slot: string
  readonly #publication: string
  #keys = new Set<string>()
  #tags = new Set<string>()
  #clear = false
  #inTransaction = false
  /** Messages parsed by the library vs handled here: equal when nothing waits in its queue. */
  #received = 0
  #handled = 0
  readonly #pending: PendingAck[] = []
  /** Commits applied whose hand-over to the mesh is not stamped yet (they are not in #pending). */
  #handingOver = 0
  #acked = 0n
  #lastReceived = 0n
  #timer: NodeJS.Timeout | undefined
  #ended = false
  readonly ended: Promise<Error | undefined>
  #end!: (cause: Error | undefined) => void

  constructor (config: pg.ClientConfig, slot: string, publication: string, hooks: SessionHooks) {
    this.#hooks = hooks
    this.#slot = slot
    this.#publication = publication
    this.ended = new Promise((resolve) => { this.#end = resolve })
    this.#service = new replication.LogicalReplicationService(config, {
      acknowledge: { auto: false, timeoutSeconds: 0 },
      flowControl: { enabled: true },
    })
    this.#service.on('error', (error: Error) => { void this.stop(error) })
    this.#service.on('start', () => {
      this.#timer = setInterval(() => { this.#ackDue() }, Math.max(10, Math.floor(hooks.ackDelayMs / 2)))
      this.#timer.unref()
      hooks.onStart()
    })
    this.#service.on('data', (lsn: string, message: Pgoutput.Message) => { this.#onMessage(lsn, message) })
    this.#service.on('heartbeat', (lsn: string, _ts: number, shouldRespond: boolean) => { this.#onHeartbeat(lsn, shouldRespond) })
  }

  /** Starts streaming from the slot's confirmed position; resolve `ended` to learn when it stops. */
  run (): void {
    const plugin = new replication.PgoutputPlugin({ protoVersion: 1, publicationNames: [this.#publication] })
    const parse = plugin.parse.bind(plugin)
    plugin.parse = (buffer: Buffer) => {
      this.#received++
      return parse(buffer)
    }
    // '0/0': PostgreSQL starts at the slot's confirmed_flush_lsn. Never the library's last received LSN:
    // transactions committed before a requested start are skipped.
    this.#service.subscribe(plugin, this.#slot, '0/00000000')
      .then(() => { void this.stop(new Error('replication stream ended')) }, (error: Error) => { void this.stop(error) })
  }

  get acknowledgedLsn (): string {
    return formatLsn(this.#acked)
  }

  get receivedLsn (): string {
    return formatLsn(this.#lastReceived)
  }

  #onMessage (lsn: string, m: Pgoutput.Message): void {
    this.#handled++
    const at = parseLsn(lsn)
    if (at > this.#lastReceived) this.#lastReceived = at
    switch (m.tag) {
      case 'begin':
        this.#inTransaction = true
        break
      case 'insert': this.#map(m.relation, m.new, undefined); break
      case 'update': {
        const old = m.old ?? m.key ?? undefined
        this.#map(m.relation, m.new, old)
        if (old !== undefined) this.#map(m.relation, old, undefined) // the keys the row had before
        break
      }
      case 'delete': {
        const old = m.old ?? m.key ?? {}
        this.#map(m.relation, old, old)
        break
      }
      case 'truncate': {
        const mapped = m.relations.map(relationName).filter((name) => this.#hooks.mappings.has(name))
        if (mapped.length > 0) {
          this.#clear = true
          this.#hooks.onTruncate(mapped)
        }
        break
      }
      case 'commit': this.#commit(m); break
    }
  }

  #map (relation: Pgoutput.MessageRelation, row: Record<string, unknown>, old: Record<string, unknown> | undefined): void {
    const table = relationName(relation)
    const mapping = this.#hooks.mappings.get(table)
    if (mapping === undefined) return
    const columns = mapping.rowKey !== undefined && mapping.rowKey.length > 0 ? mapping.rowKey : relation.keyColumns
    if (mapping.keys !== undefined) this.#collect(mapping.keys, row, old, table, columns, this.#keys)
    if (mapping.tags !== undefined) this.#collect(mapping.tags, row, old, table, columns, this.#tags)
  }

  #collect (fn: RowMapping, row: Record<string, unknown>, old: Record<string, unknown> | undefined,
    table: string, columns: string[], into: Set<string>): void {
    let out: unknown
    try {
      out = fn(row, old)
    } catch (error) {
      this.#hooks.onMappingError({ table, key: rowKey(columns, row), error })
      return
    }
    const list = Array.isArray(out) ? out : [out]
    for (const k of list) {
      if (typeof k === 'string' && k.length > 0) into.add(k)
      else this.#hooks.onMappingError({ table, key: rowKey(columns, row), error: new TypeError(`mapping returned ${k === '' ? 'an empty string' : typeof k}, not a key string`) })
    }
  }

  #commit (m: Pgoutput.MessageCommit): void {
    this.#inTransaction = false
    const commitMs = Number((m.commitTime as bigint) / 1000n)
    let n = 0
    if (this.#keys.size + this.#tags.size > 0 || this.#clear) {
      const tooMany = this.#keys.size + this.#tags.size > this.#hooks.maxKeysPerTransaction
      n = applyBatch(this.#hooks.sink, tooMany
        ? { keys: [], tags: [], clear: true }
        : { keys: this.#keys, tags: this.#tags, clear: this.#clear }, (r: RefusedKey) => {
        this.#hooks.onMappingError({ table: '(transaction)', key: { key: r.key }, error: r.error })
      })
      this.#keys = new Set()
      this.#tags = new Set()
      this.#clear = false
    }
    this.#hooks.onBatch(commitMs, n)
    const end = m.commitEndLsn === null ? 0n : parseLsn(m.commitEndLsn)
    // Stamped once the outbox has flushed (a macrotask later): ackDelay counts from the hand-over.
    this.#handingOver++
    void handedToMesh().then(() => {
      this.#handingOver--
      this.#pending.push({ lsn: end, handedAt: Date.now() })
    })
  }

  /** Nothing received is unhandled and no transaction is open: the stream's position is ours. */
  #idle (): boolean {
    return !this.#inTransaction && this.#received === this.#handled && this.#handingOver === 0 && this.#pending.length === 0
  }

  #onHeartbeat (lsn: string, shouldRespond: boolean): void {
    // An idle slot's confirmed position follows the server's WAL (other databases, checkpoints),
    // or its lag in bytes would grow with no change to read.
    if (this.#idle() && this.#hooks.meshReachable()) {
      const at = parseLsn(lsn)
      if (at > this.#acked) this.#ack(at)
      return
    }
    if (shouldRespond) void this.#service.acknowledge(formatLsn(this.#acked > 0n ? this.#acked - 1n : 0n))
  }

  #ackDue (): void {
    if (!this.#hooks.meshReachable()) {
      const now = Date.now()
      for (const p of this.#pending) p.handedAt = now
      return
    }
    const due = Date.now() - this.#hooks.ackDelayMs
    let upTo = -1n
    while (this.#pending.length > 0 && (this.#pending[0] as PendingAck).handedAt <= due) upTo = (this.#pending.shift() as PendingAck).lsn
    if (upTo > this.#acked) this.#ack(upTo)
  }

  #ack (lsn: bigint): void {
    this.#acked = lsn
    void this.#service.acknowledge(formatLsn(lsn - 1n))
  }

  /** Asks the server for a keepalive (its current position), so an idle slot's position can follow it. */
  ping (): void {
    if (this.#idle()) void this.#service.acknowledge(formatLsn(this.#acked > 0n ? this.#acked - 1n : 0n), true)
  }

  /**
   * Ends the session. A graceful stop first acknowledges every transaction
   * already handed to the mesh (the process lives on and flushes); an error
   * acknowledges nothing more.
   */
  async stop (cause?: Error): Promise<void> {
    if (this.#ended) return
    this.#ended = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    if (cause === undefined && this.#hooks.meshReachable()) {
      await handedToMesh()
      const last = this.#pending.at(-1)
      if (last !== undefined && last.lsn > this.#acked) this.#ack(last.lsn)
    }
    await this.#service.destroy().catch(() => {})
    this.#end(cause)
  }
}

function relationName (r: Pgoutput.MessageRelation): string {
  return `${r.schema}.${r.name}`
}

function rowKey (columns: string[], row: Record<string, unknown>): Record<string, unknown> {
  const key: Record<string, unknown> = {}
  for (const c of columns) key[c] = row[c]
  return key
}
