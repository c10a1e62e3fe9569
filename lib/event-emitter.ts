/**
 * The event side of MeshCache, apart from its API and wiring: EventEmitter's
 * listener methods typed by the event map (lib/events.ts), and emission that
 * is safe in the middle of an operation. MeshCache extends this class; the
 * parts that fire events (lib/wiring.ts) get its emission as an EventSink.
 */
import { EventEmitter } from 'node:events'
import type { RecordKindValue } from '../protocol/constants.ts'
import type { EvictEvent, EvictReason } from './core/store.ts'
import type { ChangeEvent, MeshCacheEventPayloads } from './events.ts'
import { KIND_NAMES } from './observe/inspect.ts'
import { closest, optionNames } from './core/suggest.ts'
import type { MeshLogger } from './observe/logger.ts'

/** Every event a cache emits (a name left out fails to compile). */
const EVENT_NAMES = optionNames<MeshCacheEventPayloads>()([
  'evict', 'change', 'frameError', 'peer:join', 'peer:leave', 'peer:error', 'stale', 'tierError', 'clockSkew',
])
/** EventEmitter's own: generic code listens for them on any emitter, and they must keep working. */
const EMITTER_EVENTS = ['error', 'newListener', 'removeListener']

/**
 * What to say of a listener for a name the cache never emits, or undefined
 * for one it does (and for EventEmitter's own names, and symbols).
 */
function unknownEvent (method: string, event: unknown): string | undefined {
  if (typeof event !== 'string' || (EVENT_NAMES as readonly string[]).includes(event) || EMITTER_EVENTS.includes(event)) return undefined
  const guess = closest(event, EVENT_NAMES)
  return `${method}: ${JSON.stringify(event)} is not an event of a cache, so this listener is never called` +
    `${guess === undefined ? '' : `; did you mean '${guess}'?`} (the events are ${EVENT_NAMES.join(', ')})`
}

/** Emission, lent to the parts that fire events (lib/wiring.ts) without making it public API. */
export interface EventSink {
  change: (key: string, kind: RecordKindValue, source: ChangeEvent['source']) => void
  evict: (key: string, reason: EvictReason) => void
  safely: <K extends keyof MeshCacheEventPayloads>(name: K, payload: MeshCacheEventPayloads[K]) => void
  /** Whether `name` has a listener: payloads are built only then. */
  listening: (name: keyof MeshCacheEventPayloads) => boolean
}

export abstract class MeshCacheEmitter extends EventEmitter {
  /** Where a listener for an unknown event is reported (the cache's `logger` option). */
  abstract get logger (): MeshLogger

  /** Names already reported: once each is enough. */
  readonly #reported = new Set<string>()

  /**
   * A listener for a name the cache never emits would wait in silence (from
   * JavaScript; TypeScript refuses the name already). It is kept, as any
   * EventEmitter keeps it (generic code listens for lists of names on many
   * emitters), and a warning names the closest event, once per name.
   */
  #checkEventName (method: string, event: unknown): void {
    const problem = unknownEvent(method, event)
    if (problem === undefined || this.#reported.has(event as string)) return
    this.#reported.add(event as string)
    this.logger.warn({ event }, problem)
  }

  // The event methods, typed by MeshCacheEventPayloads: a name not in it, or
  // a listener of another shape, does not compile. Declared here rather
  // than through EventEmitter<Map>, whose conditional listener types other
  // interfaces (ObservedCache) cannot be matched against.
  override on<K extends keyof MeshCacheEventPayloads> (event: K, listener: (payload: MeshCacheEventPayloads[K]) => void): this {
    this.#checkEventName('on', event)
    return super.on(event, listener as never)
  }

  override once<K extends keyof MeshCacheEventPayloads> (event: K, listener: (payload: MeshCacheEventPayloads[K]) => void): this {
    this.#checkEventName('once', event)
    return super.once(event, listener as never)
  }

  override off<K extends keyof MeshCacheEventPayloads> (event: K, listener: (payload: MeshCacheEventPayloads[K]) => void): this {
    return super.off(event, listener as never)
  }

  override addListener<K extends keyof MeshCacheEventPayloads> (event: K, listener: (payload: MeshCacheEventPayloads[K]) => void): this {
    this.#checkEventName('addListener', event)
    return super.addListener(event, listener as never)
  }

  override prependListener<K extends keyof MeshCacheEventPayloads> (event: K, listener: (payload: MeshCacheEventPayloads[K]) => void): this {
    this.#checkEventName('prependListener', event)
    return super.prependListener(event, listener as never)
  }

  override prependOnceListener<K extends keyof MeshCacheEventPayloads> (event: K, listener: (payload: MeshCacheEventPayloads[K]) => void): this {
    this.#checkEventName('prependOnceListener', event)
    return super.prependOnceListener(event, listener as never)
  }

  override removeListener<K extends keyof MeshCacheEventPayloads> (event: K, listener: (payload: MeshCacheEventPayloads[K]) => void): this {
    return super.removeListener(event, listener as never)
  }

  /**
   * Events fire in the middle of an operation (a merge, an LRU eviction, the
   * expiry timer). A listener that throws must not leave it half done (an
   * entry updated but its old value still held), nor pass for a bad frame:
   * its error is rethrown on its own once the operation is over, where it
   * surfaces as an uncaught exception like any listener error in Node.
   */
  protected emitSafely<K extends keyof MeshCacheEventPayloads> (name: K, payload: MeshCacheEventPayloads[K]): void {
    try {
      this.emit(name, payload)
    } catch (error) {
      queueMicrotask(() => { throw error })
    }
  }

  /** `evict`, built only when someone listens. */
  protected emitEvict (key: string, reason: EvictReason): void {
    if (this.listenerCount('evict') > 0) this.emitSafely('evict', { key, reason } satisfies EvictEvent)
  }

  /** `change`, built only when someone listens. */
  protected emitChange (key: string, kind: RecordKindValue, source: ChangeEvent['source']): void {
    if (this.listenerCount('change') > 0) this.emitSafely('change', { key, kind: KIND_NAMES[kind], source } satisfies ChangeEvent)
  }

  /** This emitter's emission, for the parts that fire events. */
  protected eventSink (): EventSink {
    return {
      change: (key, kind, source) => { this.emitChange(key, kind, source) },
      evict: (key, reason) => { this.emitEvict(key, reason) },
      safely: (name, payload) => { this.emitSafely(name, payload) },
      listening: (name) => this.listenerCount(name) > 0,
    }
  }
}
