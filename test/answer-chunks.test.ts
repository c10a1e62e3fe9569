/**
 * An anti-entropy answer over a store larger than a chunk (8,192 slots) is
 * built over several event-loop turns (records-beyond.ts
 * `recordsBeyondInChunks`), so one answer is never a long synchronous run:
 * it still carries every record, keys written during the walk do no harm,
 * and a cache closed mid-walk sends nothing and throws nothing.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cluster } from './helpers/cluster.ts'

const N = 20_000

async function splitPair () {
  const c = await cluster<string>(2, { mode: 'replicate', max: 2 * N })
  const [a, b] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0]]
  c.net.partition([c.names[0] as string], [c.names[1] as string])
  for (let i = 0; i < N; i++) a.set(`k${i}`, `v${i}`)
  await c.net.flush() // every frame to b is lost in the partition
  assert.is(b.get('k0'), undefined)
  c.net.heal()
  return { ...c, a, b }
}

test('a large answer leaves over several turns and carries every record', async () => {
  const { a, b, net, close } = await splitPair()
  try {
    // Deliver what is queued now (the exchange's request, its answer's first chunk) without yielding:
    // a synchronous walk would have queued every part already, and b would hold every key here.
    for (let i = 0; i < 1000 && net.step(); i++) { /* deliver */ }
    assert.is(b.get(`k${N - 1}`), undefined, 'the answer is not complete within one synchronous run')
    a.set('during-the-walk', 'x') // the store changes between chunks
    for (let i = 0; i < 200 && b.get(`k${N - 1}`) === undefined; i++) await net.flush()
    for (let i = 0; i < N; i++) if (b.get(`k${i}`) !== `v${i}`) assert.unreachable(`b lacks k${i}`)
    await net.flush()
    assert.is(b.get('during-the-walk'), 'x')
    assert.is(b.stats().repairs >= N, true, `${b.stats().repairs} repairs`)
  } finally {
    await close()
  }
})

test('a cache closed in the middle of an answer sends nothing more and throws nothing', async () => {
  const { a, b, net, close } = await splitPair()
  try {
    for (let i = 0; i < 1000 && net.step(); i++) { /* deliver the request */ }
    await a.close()
    for (let i = 0; i < 5; i++) await net.flush()
    assert.is(b.get(`k${N - 1}`), undefined, 'no answer from a closed cache')
  } finally {
    await close()
  }
})

test.run()
