/**
 * The receiver side of whenReplicated (lib/sync/replication-acks.ts), unit:
 * a request for numbers not yet applied is parked and answered once they
 * are; parked state is bounded; a peer that leaves takes its requests along.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { decodeFrame, MessageType } from '../protocol/index.ts'
import { ReplicationAcks } from '../lib/sync/replication-acks.ts'

function receiver () {
  const contiguous = new Map<string, number>()
  const sent: Array<{ peer: string, ackId: number, seq: number }> = []
  const acks = new ReplicationAcks({
    origin: 'me~1',
    issued: () => 0,
    flush: () => {},
    peers: () => [],
    send: (peer, frame) => {
      const msg = decodeFrame(frame)
      if (msg.type === MessageType.ACK) sent.push({ peer, ackId: msg.ackId, seq: msg.seq })
    },
    contiguous: (origin) => contiguous.get(origin) ?? 0,
  })
  return { acks, contiguous, sent }
}

test('applied already: answered at once; not yet: parked, then answered when the numbers arrive', () => {
  const { acks, contiguous, sent } = receiver()
  contiguous.set('w~1', 5)
  acks.onRequest('p', { type: MessageType.ACK_REQUEST, ackId: 1, origin: 'w~1', seq: 5 })
  assert.equal(sent, [{ peer: 'p', ackId: 1, seq: 5 }])
  acks.onRequest('p', { type: MessageType.ACK_REQUEST, ackId: 2, origin: 'w~1', seq: 8 })
  acks.onRequest('p', { type: MessageType.ACK_REQUEST, ackId: 3, origin: 'w~1', seq: 7 })
  acks.recheck()
  assert.is(sent.length, 1, 'nothing more until 8 is applied')
  contiguous.set('w~1', 8) // a repair filled the gap
  acks.recheck()
  assert.equal(sent.slice(1), [{ peer: 'p', ackId: 2, seq: 8 }, { peer: 'p', ackId: 3, seq: 8 }])
  acks.recheck()
  assert.is(sent.length, 3, 'answered once')
})

test('a peer that leaves takes its parked requests along; parked state is bounded', () => {
  const { acks, contiguous, sent } = receiver()
  acks.onRequest('gone', { type: MessageType.ACK_REQUEST, ackId: 1, origin: 'w~1', seq: 3 })
  acks.peerGone('gone')
  contiguous.set('w~1', 3)
  acks.recheck()
  assert.is(sent.length, 0)
  // 100 ids for one (peer, origin): only the latest 64 are kept
  for (let id = 1; id <= 100; id++) acks.onRequest('p', { type: MessageType.ACK_REQUEST, ackId: id, origin: 'w~2', seq: 9 })
  contiguous.set('w~2', 9)
  acks.recheck()
  assert.is(sent.length, 64)
  assert.is(sent[0]?.ackId, 37)
})

test('the writer side: an ACK below the target does not count; close rejects pending calls', async () => {
  const frames: Array<{ peer: string, frame: Uint8Array }> = []
  const acks = new ReplicationAcks({
    origin: 'me~1',
    issued: () => 4,
    flush: () => {},
    peers: () => ['p', 'q'],
    send: (peer, frame) => { frames.push({ peer, frame }) },
    contiguous: () => 0,
  })
  const waiting = acks.whenReplicated(10_000)
  const req = decodeFrame(frames[0]!.frame)
  assert.is(req.type, MessageType.ACK_REQUEST)
  const ackId = (req as { ackId: number }).ackId
  acks.onAck('p', { type: MessageType.ACK, ackId, seq: 4 })
  acks.onAck('q', { type: MessageType.ACK, ackId, seq: 3 })
  acks.close()
  try {
    await waiting
    assert.unreachable()
  } catch (e) {
    assert.is((e as { code?: string }).code, 'E_CLOSED')
  }
})

test.run()
