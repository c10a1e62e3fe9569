/** The write-through queue alone (a unit test; the real-Redis suites use it through RedisTier). */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { WriteQueue, type WriteQueueHost } from '../../lib/tiers/write-queue.ts'

interface Sent { key: string, w: number, answer: (stored: boolean) => void, fail: (e: Error) => void }

function queue (max = 100): { q: WriteQueue<number>, sent: Sent[], events: string[], host: WriteQueueHost<number> & { open: boolean } } {
  const sent: Sent[] = []
  const events: string[] = []
  const host = {
    open: true,
    send: (key: string, w: number) => new Promise<boolean>((resolve, reject) => { sent.push({ key, w, answer: resolve, fail: reject }) }),
    sending: () => host.open,
    landed: (stored: boolean) => { events.push(stored ? 'stored' : 'refused') },
    failed: (key: string) => { events.push(`failed ${key}`) },
    overflowed: () => { events.push('overflow') },
    replayed: () => { events.push('replayed') },
    retrySoon: () => false,
  }
  return { q: new WriteQueue<number>(host, max, 10), sent, events, host }
}
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

test('after the caller, one write per key on the wire, the newest waiting write replacing older ones', async () => {
  const { q, sent } = queue()
  q.add('a', 1)
  q.add('b', 1)
  assert.is(sent.length, 0, 'nothing sent inside the caller\'s run')
  await tick()
  assert.equal(sent.map((s) => `${s.key}${s.w}`), ['a1', 'b1'])
  q.add('a', 2)
  q.add('a', 3)
  await tick()
  assert.is(sent.length, 2, 'a is on the wire: a3 waits')
  sent[0]!.answer(true)
  await tick()
  assert.equal(sent.map((s) => `${s.key}${s.w}`), ['a1', 'b1', 'a3'], 'a2 was replaced')
  assert.ok(q.has('a'))
  sent[1]!.answer(true)
  sent[2]!.answer(false)
  await q.flush(1_000)
  assert.is(q.size, 0)
})

test('a failed write waits for the replay unless a newer one replaced it; the replay ends once each waiting key landed, however many new writes arrive', async () => {
  const { q, sent, events, host } = queue()
  q.add('a', 1)
  q.add('b', 1)
  await tick()
  host.open = false // the breaker opens
  sent[0]!.fail(new Error('down'))
  q.add('b', 2) // b1 is on the wire; b2 replaces nothing yet
  sent[1]!.fail(new Error('down'))
  await tick()
  assert.equal(events, ['failed a', 'failed b'])
  host.open = true // recovering
  assert.is(q.replay(), 2)
  await tick()
  assert.equal(sent.slice(2).map((s) => `${s.key}${s.w}`).sort(), ['a1', 'b2'], 'a1 kept, b1 replaced by b2')
  // New writes keep arriving during the replay: they do not hold it back.
  q.add('c', 1)
  await tick()
  sent[2]!.answer(true)
  q.add('d', 1)
  await tick()
  assert.ok(!events.includes('replayed'), 'one replayed key still on the wire')
  sent[3]!.answer(true)
  await tick()
  assert.ok(events.includes('replayed'))
  assert.ok(q.size > 0, 'c and d still on the wire')
})

test('past `max` waiting keys, the waiting writes are dropped and the host is told', () => {
  const { q, events, host } = queue(2)
  host.open = false
  q.add('a', 1)
  q.add('b', 1)
  q.add('b', 2)
  assert.equal(events, [])
  q.add('c', 1)
  assert.equal(events, ['overflow'])
  assert.is(q.size, 0)
})

test.run()
