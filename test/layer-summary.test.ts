/**
 * bench/mesh/layer-summary.ts follows each write through the stack by
 * causality (the first send of each layer after the one above it on the
 * writer; the last message of each layer before the one above it on a
 * receiver) and leaves out a write whose chain is longer than 0.9 ms.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { layerTimes } from '../bench/mesh/layer-summary.ts'
import type { LayerLog } from '../bench/mesh/layers.ts'

const log = (role: string, events: Record<string, number[]>): LayerLog => ({ pid: 1, system: 's', role, index: role === 'writer' ? 0 : 1, events })
const round = (values: number[]): number[] => values.map((v) => Math.round(v * 10) / 10)

test('layerTimes: a write per layer, writer top down and receiver bottom up, in µs', () => {
  // Two writes, 1 ms apart; a ping's send (at 1.0001) comes before the write's own and is skipped by causality.
  const writer = log('writer', {
    mark: [1.0, 2.0],
    'send:YamuxStream': [1.010, 2.012],
    'send:EncryptedMessageStream': [1.0001, 1.016, 2.018],
    'send:BoxMessageStream': [1.024, 2.026],
    'send:TCPSocketMultiaddrConnection': [1.027, 2.029],
    'socket-write': [1.030, 2.032],
  })
  const receiver = log('receiver', {
    'socket-data': [1.100, 1.1999, 2.100],
    'message:TCPSocketMultiaddrConnection': [1.105, 2.105],
    'message:BoxMessageStream': [1.112, 2.112],
    'message:EncryptedMessageStream': [1.124, 2.124],
    'message:YamuxStream': [1.130, 2.130],
    mark: [1.134, 2.136],
  })
  const t = layerTimes([writer, receiver])
  assert.equal(t.writes, 2)
  assert.equal(t.arrivals, 2)
  // own, yamux, noise, pnet, tcp, total: p50 of two is the lower
  assert.equal(round(t.writer), [10, 6, 8, 3, 3, 30])
  // tcp, pnet, noise, yamux, own, total
  assert.equal(round(t.receiver), [5, 7, 12, 6, 4, 34])
})

test('layerTimes: meshcache\'s own steps split `own`, where the logs have them', () => {
  const writer = log('writer', {
    mark: [1.0],
    'lib:outbox': [1.004],
    'send:YamuxStream': [1.010],
    'send:EncryptedMessageStream': [1.016],
    'send:BoxMessageStream': [1.024],
    'send:TCPSocketMultiaddrConnection': [1.027],
    'socket-write': [1.030],
  })
  const receiver = log('receiver', {
    'socket-data': [1.100],
    'message:TCPSocketMultiaddrConnection': [1.105],
    'message:BoxMessageStream': [1.112],
    'message:EncryptedMessageStream': [1.124],
    'message:YamuxStream': [1.130],
    'lib:envelope': [1.0, 1.131], // the first one belongs to an earlier frame
    'lib:apply': [1.1335],
    mark: [1.134],
  })
  const t = layerTimes([writer, receiver])
  assert.equal(round(t.writerOwn ?? []), [4, 6])
  assert.equal(round(t.receiverOwn ?? []), [1, 2.5, 0.5])
  const floor = layerTimes([log('writer', { ...writer.events, 'lib:outbox': [] })])
  assert.is(floor.writerOwn, undefined, 'no split for a system without the steps')
  assert.equal(floor.writes, 1)
})

test('layerTimes: a write whose chain is longer than 0.9 ms, or misses a layer, is left out', () => {
  const writer = log('writer', {
    mark: [1.0, 5.0],
    'send:YamuxStream': [1.010, 5.010],
    'send:EncryptedMessageStream': [1.020, 5.020],
    'send:BoxMessageStream': [1.030, 5.030],
    'send:TCPSocketMultiaddrConnection': [1.040],
    'socket-write': [1.950],
  })
  const t = layerTimes([writer])
  assert.equal(t.writes, 0)
  assert.ok(Number.isNaN(t.writer[5]))
})

test.run()
