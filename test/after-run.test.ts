/**
 * afterThisRun (lib/core/runtime.ts), what the outbox, the repair relay
 * and the tiers' write queue batch a synchronous run with, and the relay's
 * delivery and the audit's read wait on: it must run exactly where
 * `queueMicrotask` would (after the run, in the microtask queue's order) and
 * in the caller's AsyncLocalStorage context, as `queueMicrotask` did.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { AsyncLocalStorage } from 'node:async_hooks'
import { afterThisRun } from '../lib/core/runtime.ts'

test('it runs after the synchronous run, in order with the microtasks queued around it', async () => {
  const order: string[] = []
  queueMicrotask(() => order.push('a'))
  afterThisRun(() => order.push('b'))
  queueMicrotask(() => order.push('c'))
  void Promise.resolve().then(() => order.push('d'))
  order.push('sync')
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(order, ['sync', 'a', 'b', 'c', 'd'])
})

test('it runs in the caller\'s AsyncLocalStorage context, not in the one current when the queue drains', async () => {
  const als = new AsyncLocalStorage<string>()
  const seen: Array<string | undefined> = []
  als.run('first', () => { afterThisRun(() => seen.push(als.getStore())) })
  als.run('second', () => { afterThisRun(() => seen.push(als.getStore())) })
  afterThisRun(() => seen.push(als.getStore()))
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(seen, ['first', 'second', undefined])
})

test.run()
