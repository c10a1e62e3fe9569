/**
 * A local delete or invalidate looks in the LRU only when the key had a state
 * or is held local-only (Replica.remove): the LRU holds a key only under a
 * state (written, loaded: a placeholder) or local-only. Every way a value
 * enters the LRU is tried here, each followed by delete and invalidate: the
 * call reports the value held, and the value is gone.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cluster } from './helpers/cluster.ts'

type Way = (a: import('../lib/index.ts').MeshCache<string>, b: import('../lib/index.ts').MeshCache<string>, flush: () => Promise<void>) => Promise<void>

const ways: Record<string, Way> = {
  'set here': async (a) => { a.set('k', 'v') },
  'set local-only here': async (a) => { a.set('k', 'v', { local: true }) },
  'loaded here': async (a) => { await a.getOrLoad('k', async () => 'v') },
  'loaded, then a placeholder-free local set': async (a) => { await a.getOrLoad('k', async () => 'old'); a.set('k', 'v', { local: true }) },
  'replicated from a peer': async (_a, b, flush) => { b.set('k', 'v'); await flush() },
}

for (const mode of ['invalidate', 'replicate'] as const) {
  for (const [way, put] of Object.entries(ways)) {
    for (const op of ['delete', 'invalidate'] as const) {
      test(`${mode}: ${op} after "${way}" finds the value and drops it`, async () => {
        const { nodes: [a, b], net, close } = await cluster<string>(2, { mode })
        try {
          await put(a!, b!, () => net.flush())
          if (a!.get('k') === undefined) {
            // invalidate mode does not replicate values: nothing is held here to find
            assert.is(way, 'replicated from a peer')
            assert.is(mode, 'invalidate')
            return
          }
          assert.is(a!.get('k'), 'v')
          assert.ok(a![op]('k'), 'the value was held')
          assert.is(a!.get('k'), undefined)
          assert.not.ok(a![op]('never-seen'), 'a key never seen holds nothing')
        } finally {
          await close()
        }
      })
    }
  }
}

test.run()
