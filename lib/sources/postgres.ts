/**
 * `meshcache/postgres`: invalidation driven by PostgreSQL's write-ahead log.
 *
 * Every instance that calls `createPostgresSource` checks the server, the
 * tables, the publication and the slot at start (typed errors), then joins
 * the election for the slot (reader-election.ts). The elected instance
 * streams the slot (postgres-stream.ts) and applies each transaction's
 * invalidations through the cache, which replicates them to every peer; the
 * others stand by and take over when it goes. The guarantees are in SPEC.md
 * "Change sources" and the contract in source.ts.
 */
import { EventEmitter } from 'node:events'
import type pg from 'pg'
import { ErrorCode, MeshCacheError, invalidOption } from '../errors.ts'
import { resolve, type PostgresSourceOptions, type ResolvedOptions } from './postgres-options.ts'
import { LagHistogram } from '../observe/lag-histogram.ts'
import { ReaderElection, type ElectionHost } from './reader-election.ts'
import { cacheSink, type ChangeSink, type SinkHost, type Source, type SourceContext, type SourceStats } from './source.ts'
import {
  checkServer, connect, createSlot, describeTables, ensurePublication, identityWarnings, recreateSlot, slotState, sourceError,
  type SourceWarning,
} from './postgres-setup.ts'
import { ReplicationSession, type MappingErrorEvent, type TableMappings } from './postgres-stream.ts'
import { addMetricSource } from '../observe/exporter.ts'
import { defaultLogger, type MeshLogger } from '../observe/logger.ts'
import { sourceMetricSource } from '../observe/source-metrics.ts'

export type { RowMapping, SourceWarning } from './postgres-setup.ts'
export type { PostgresSourceOptions } from './postgres-options.ts'
export type { MappingErrorEvent } from './postgres-stream.ts'


/** A cache the source drives: a MeshCache. */
export interface SourceHost extends SinkHost, ElectionHost {
  onClose?(hook: () => Promise<void>): () => void
  /** The cache's logger: the source's elections, failovers and lost slots go to the service's log. */
  readonly logger?: MeshLogger
}

export interface SlotLostEvent {
  slot: string
  /** 'lost': PostgreSQL invalidated it (max_slot_wal_keep_size); 'missing': it was dropped. */
  reason: 'lost' | 'missing'
  /** Whether the namespace was cleared (false only when the cache has no clear()). */
  cleared: boolean
}

export interface PostgresSourceStats extends SourceStats {
  slot: string
  /** WAL bytes written since the slot's confirmed position (read every statusIntervalMs by the reader; 0 elsewhere). */
  lagBytes: number
  /** Commit → invalidation of the last transaction applied here (ms; the database's and this host's clocks). */
  lastLagMs: number
  receivedLsn: string
  acknowledgedLsn: string
  /** Replication sessions that ended in an error (server restart, network, slot busy). */
  disconnects: number
}

/**
 * Creates the source for `cache` and starts it: checks the server, the tables, the publication and
 * the slot (typed errors), then joins the election of the slot's reader. `cache.close()` closes it.
 */
export async function createPostgresSource (cache: SourceHost, options: PostgresSourceOptions): Promise<PostgresSource> {
  const source = new PostgresSource(options)
  await source.start(cacheSink(cache), cache.logger === undefined ? { membership: cache } : { membership: cache, logger: cache.logger })
  const remove = cache.onClose?.(() => source.close())
  if (remove !== undefined) source.once('closed', remove)
  // Its figures reach the exporters (meshcache/prometheus, meshcache/otel) through the metric-source contract.
  source.once('closed', addMetricSource(cache, sourceMetricSource(source)))
  return source
}

export class PostgresSource extends EventEmitter implements Source {
  readonly name = 'postgres'
  readonly slot: string
  readonly #config: pg.ClientConfig
  readonly #o: ResolvedOptions
  readonly #mappings = new Map<string, TableMappings>()
  #sink: ChangeSink | undefined
  #election: ReaderElection | undefined
  #membership: ElectionHost | undefined
  readonly #lag = new LagHistogram()
  #session: ReplicationSession | undefined
  #status: pg.Client | undefined
  #statusTimer: NodeJS.Timeout | undefined
  #reading: Promise<void> | undefined
  #wake: (() => void) | undefined
  #closed = false
  #lagWarned = false
  #log: MeshLogger = defaultLogger('meshcache:postgres')
  readonly #counts = { batches: 0, invalidations: 0, mappingErrors: 0, positionLosses: 0, takeovers: 0, disconnects: 0, lagBytes: 0, lastLagMs: 0 }

  /** Checks the options (E_INVALID_OPTION); `start` connects. `createPostgresSource` does both. */
  constructor (options: PostgresSourceOptions) {
    super()
    const o = resolve(options)
    this.#o = o
    this.slot = o.slot
    this.#config = typeof o.connection === 'string' ? { connectionString: o.connection } : { ...o.connection }
    for (const [name, keys] of Object.entries(o.tables)) this.#mappings.set(qualified(name), { keys })
    for (const [name, tags] of Object.entries(o.tags ?? {})) {
      const m = this.#mappings.get(qualified(name))
      if (m === undefined) invalidOption(`tags['${name}']`, 'names a table that `tables` does not map')
      m.tags = tags
    }
  }

  /**
   * Checks the server, the tables (REPLICA IDENTITY warnings), the publication and the slot, creating
   * what is missing, then joins the election of the slot's reader among `context.membership`'s live
   * members (without one, this instance reads). Rejects with a typed MeshCacheError.
   */
  async start (sink: ChangeSink, context: SourceContext = {}): Promise<void> {
    if (this.#sink !== undefined) throw new MeshCacheError(ErrorCode.INVALID_ARGUMENT, 'postgres source: start() was called already')
    const client = await connect(this.#config)
    const warnings: SourceWarning[] = []
    try {
      await checkServer(client)
      const tables = await describeTables(client, [...this.#mappings.keys()])
      for (const t of tables) (this.#mappings.get(t.name) as TableMappings).rowKey = t.primaryKey
      const byTable = new Map([...this.#mappings].map(([name, m]) => [name, [m.keys, m.tags].filter((f) => f !== undefined)]))
      warnings.push(...identityWarnings(tables, byTable))
      // Every check before anything is created: a start that fails leaves the database as it was.
      const slot = await slotState(client, this.#o.slot)
      await ensurePublication(client, this.#o.publication, tables)
      if (!slot.exists) await createSlot(client, this.#o.slot)
    } catch (error) {
      throw sourceError(error, 'start')
    } finally {
      await client.end().catch(() => {})
    }
    this.#sink = sink
    if (context.logger !== undefined) this.#log = context.logger
    for (const w of warnings) this.warn(w)
    this.#membership = context.membership
    this.#election = new ReaderElection(context.membership ?? alone(), `pg-slot:${this.slot}`, {
      intervalMs: this.#o.electionIntervalMs,
      onChange: (elected) => {
        this.#log.info({ slot: this.slot, elected }, elected ? 'CDC: elected to read the slot' : 'CDC: another instance reads the slot')
        if (elected) this.#startReading()
        else void this.#stopReading()
      },
    })
    this.#election.evaluate()
  }

  /** Whether this instance streams the slot now. */
  get reading (): boolean {
    return this.#session !== undefined && this.#holds
  }

  #holds = false
  /** Whether the last session got as far as streaming (resets the failure clock of #readLoop). */
  #streamed = false

  stats (): PostgresSourceStats {
    const c = this.#counts
    return {
      reading: this.reading,
      batches: c.batches,
      invalidations: c.invalidations,
      mappingErrors: c.mappingErrors,
      positionLosses: c.positionLosses,
      takeovers: c.takeovers,
      commitToInvalidation: this.#lag.snapshot(),
      slot: this.slot,
      lagBytes: this.reading ? c.lagBytes : 0,
      lastLagMs: c.lastLagMs,
      receivedLsn: this.#session?.receivedLsn ?? '0/0',
      acknowledgedLsn: this.#session?.acknowledgedLsn ?? '0/0',
      disconnects: c.disconnects,
    }
  }

  /** Reports a warning to `onWarning` (or the debug log) and as a `warning` event. */
  warn (w: SourceWarning): void {
    if (this.#o.onWarning !== undefined) this.#o.onWarning(w)
    else this.#log.warn({ slot: this.slot }, `CDC: ${w.message}`)
    if (this.listenerCount('warning') > 0) this.emit('warning', w)
  }

  #startReading (): void {
    if (this.#reading !== undefined || this.#closed) return
    this.#reading = this.#readLoop().finally(() => {
      this.#reading = undefined
      // Elected again while the loop was winding down (onChange fires once per change): read again.
      if (this.#election?.elected === true && !this.#closed) this.#startReading()
    })
  }

  async #stopReading (): Promise<void> {
    this.#wake?.()
    await this.#session?.stop()
    await this.#reading
  }

  /** Reads while elected: (re)checks the slot, streams it, and after a failure waits retryIntervalMs and tries again. */
  async #readLoop (): Promise<void> {
    let failingSince = 0
    const election = this.#election as ReaderElection
    while (election.elected && !this.#closed) {
      let cause: Error | undefined
      try {
        await this.#prepareSlot()
        if (!election.elected || this.#closed) break
        cause = await this.#stream()
      } catch (error) {
        cause = error as Error
      }
      this.#setHolds(false)
      if (cause === undefined || !election.elected || this.#closed) break
      this.#counts.disconnects++
      this.#log.warn({ slot: this.slot }, `CDC: replication stream ended: ${cause.message}`)
      if (this.listenerCount('disconnected') > 0) this.emit('disconnected', { error: cause })
      if (this.#streamed) failingSince = 0
      this.#streamed = false
      failingSince ||= Date.now()
      if (Date.now() - failingSince >= this.#o.releaseAfterMs) {
        this.#log.warn({ slot: this.slot, failingMs: Date.now() - failingSince }, 'CDC: the slot keeps failing here: leaving the election so another instance takes over')
        election.withdraw(this.#o.releaseAfterMs)
        break
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.#o.retryIntervalMs)
        this.#wake = () => { clearTimeout(t); resolve() }
      })
      this.#wake = undefined
    }
  }

  /** Connects the status client and repairs a lost or missing slot before streaming it. */
  async #prepareSlot (): Promise<void> {
    if (this.#status === undefined) this.#status = await connect(this.#config)
    let state
    try {
      state = await slotState(this.#status, this.slot)
    } catch (error) {
      await this.#dropStatus()
      throw error
    }
    if (state.exists && state.walStatus !== 'lost') return
    const reason = state.exists ? 'lost' : 'missing'
    await recreateSlot(this.#status, this.slot)
    // The slot no longer knows what was committed since our last acknowledgement: anything cached may be stale.
    let cleared = true
    try {
      this.#sink?.clear()
    } catch (error) {
      cleared = false
      this.#log.error({ slot: this.slot, reason }, `CDC: slot ${reason}, and the namespace could not be cleared: ${(error as Error).message}`)
    }
    this.#counts.positionLosses++
    this.#log.warn({ slot: this.slot, reason, cleared }, 'CDC: the slot was lost: recreated, and the namespace cleared (changes since the last acknowledgement are unknown)')
    this.emit('slotLost', { slot: this.slot, reason, cleared } satisfies SlotLostEvent)
  }

  /** One replication session; resolves with its error, or undefined when stopped on purpose. */
  async #stream (): Promise<Error | undefined> {
    const session = new ReplicationSession(this.#config, this.slot, this.#o.publication, {
      sink: this.#sink as ChangeSink,
      mappings: this.#mappings,
      maxKeysPerTransaction: this.#o.maxKeysPerTransaction,
      ackDelayMs: this.#o.ackDelayMs,
      meshReachable: () => {
        const m = this.#membership
        return m === undefined || m.peers().length === 0 || m.connectedPeers().length > 0
      },
      onStart: () => {
        this.#streamed = true
        this.#counts.takeovers++
        this.#log.info({ slot: this.slot }, 'CDC: reading the slot (this instance is the reader now)')
        this.#setHolds(true)
        this.#startStatus()
        this.emit('reading', true)
      },
      onBatch: (commitMs, n) => this.#batchApplied(commitMs, n),
      onMappingError: (e) => {
        this.#counts.mappingErrors++
        if (this.listenerCount('mappingError') > 0) this.emit('mappingError', e satisfies MappingErrorEvent)
        else this.#log.warn({ table: e.table, key: e.key }, `CDC: mapping failed: ${(e.error as Error)?.message}`)
      },
      onTruncate: (tables) => { if (this.listenerCount('truncate') > 0) this.emit('truncate', { tables }) },
    })
    this.#session = session
    session.run()
    const cause = await session.ended
    this.#stopStatus()
    if (this.#session === session) this.#session = undefined
    if (this.#holds) this.emit('reading', false)
    return cause
  }

  #batchApplied (commitMs: number, n: number): void {
    const now = Date.now()
    this.#counts.batches++
    this.#counts.invalidations += n
    this.#counts.lastLagMs = Math.max(0, now - commitMs)
    if (n > 0) this.#lag.record(commitMs, now)
    if (this.#counts.lastLagMs > this.#o.lagWarningMs) this.#lagWarning(`the last transaction was invalidated ${this.#counts.lastLagMs} ms after its commit`)
  }

  #setHolds (holds: boolean): void {
    this.#holds = holds
    this.#election?.setHolds(holds)
  }

  #startStatus (): void {
    this.#stopStatus()
    this.#statusTimer = setInterval(() => { void this.#checkStatus() }, this.#o.statusIntervalMs)
    this.#statusTimer.unref()
  }

  #stopStatus (): void {
    if (this.#statusTimer !== undefined) clearInterval(this.#statusTimer)
    this.#statusTimer = undefined
  }

  /** Lag and health of the slot; a slot PostgreSQL invalidated ends the session (the loop recreates it). */
  async #checkStatus (): Promise<void> {
    const client = this.#status
    if (client === undefined) return
    try {
      const state = await slotState(client, this.slot)
      this.#counts.lagBytes = state.lagBytes
      if (state.walStatus === 'lost' || !state.exists) {
        await this.#session?.stop(new MeshCacheError(ErrorCode.SOURCE_FAILED, `slot ${this.slot} is ${state.exists ? 'lost' : 'gone'}`))
        return
      }
      this.#session?.ping()
      if (state.lagBytes > this.#o.lagWarningBytes) this.#lagWarning(`slot ${this.slot} is ${state.lagBytes} bytes of WAL behind`)
      else if (state.lagBytes < this.#o.lagWarningBytes / 2) this.#lagWarned = false
    } catch (error) {
      this.#log.debug({ slot: this.slot }, `CDC: status check failed: ${(error as Error).message}`)
      await this.#dropStatus()
    }
  }

  #lagWarning (message: string): void {
    if (this.#lagWarned) return
    this.#lagWarned = true
    this.warn({ code: 'lag', message })
  }

  async #dropStatus (): Promise<void> {
    const client = this.#status
    this.#status = undefined
    await client?.end().catch(() => {})
  }

  /** Stops reading (acknowledging what was handed to the mesh), leaves the election and closes every connection. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#election?.stop()
    this.#stopStatus()
    await this.#stopReading()
    await this.#dropStatus()
    this.emit('closed')
  }
}

/** Membership of an instance alone (no context given): it is always elected. */
function alone (): ElectionHost {
  return { origin: '', advertise: () => {}, peers: () => [], connectedPeers: () => [] }
}

function qualified (name: string): string {
  return name.includes('.') ? name : `public.${name}`
}

