/**
 * Type-level test, checked by `npm run typecheck` (tsc over test/), never
 * run: the event map is in the types, so a misspelt event name or a
 * listener of the wrong shape fails to compile. Each `@ts-expect-error`
 * fails the type-check if its line ever compiles.
 */
import type { ChangeEvent, EvictEvent, MeshCache, PeerErrorEvent } from '../../lib/index.ts'

export function typedEvents (cache: MeshCache<string>): void {
  cache.on('evict', (e: EvictEvent) => { void e.reason })
  cache.on('change', (e: ChangeEvent) => { void e.source })
  cache.on('frameError', (e) => { void e.error.code })
  cache.on('peer:join', (e) => { void e.peer })
  cache.on('peer:leave', ({ peer }) => { void peer })
  cache.on('peer:error', (e: PeerErrorEvent) => { void e.address; void e.error.code })
  cache.once('evict', ({ key }) => { void key.length })

  // @ts-expect-error 'evicted' is not an event (the event is 'evict')
  cache.on('evicted', () => {})
  // @ts-expect-error an evict listener receives an EvictEvent, not a ChangeEvent
  cache.on('evict', (e: ChangeEvent) => { void e })
  // @ts-expect-error peer:error carries { address, error }, not a string
  cache.on('peer:error', (address: string) => { void address })
  // @ts-expect-error 'peer:joined' is not an event
  cache.off('peer:joined', () => {})
  // @ts-expect-error addListener is typed the same way
  cache.addListener('evicted', () => {})
}
