import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Uint8ArrayList } from 'uint8arraylist'
import { defaultLogger } from '@libp2p/logger'
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import type { Stream } from '@libp2p/interface'
import { batchInboundWindowUpdates, batchWindowUpdates } from '../../lib/net/libp2p/yamux-window.ts'

const WINDOW = 256 * 1024
const DATA = 0
const WINDOW_UPDATE = 1

interface Sent { type: number, flag: number, length: number }

function stream (state: StreamState): { s: YamuxStream, sent: Sent[] } {
  const sent: Sent[] = []
  const s = new YamuxStream({
    id: '2',
    streamId: 2,
    state,
    direction: 'inbound',
    log: defaultLogger().forComponent('test:yamux-window'),
    getRTT: () => -1, // no RTT yet: the window does not grow, so the counts below are exact
    sendFrame: (header) => { sent.push({ type: header.type, flag: header.flag, length: header.length }); return true }
  })
  return { s, sent }
}

function deliver (s: YamuxStream, bytes: number): void {
  s.handleData({ header: { type: DATA, flag: 0, streamID: 2, length: bytes, version: 0 }, data: new Uint8ArrayList(new Uint8Array(bytes)) })
}

test('unpatched yamux answers every data frame with a window update (the cost this removes)', () => {
  const { s, sent } = stream(StreamState.Established)
  s.addEventListener('message', () => {})
  for (let i = 0; i < 100; i++) deliver(s, 64)
  assert.is(sent.filter(f => f.type === WINDOW_UPDATE).length, 100)
})

test('batched: one window update per half window, for exactly the consumed bytes', () => {
  const { s, sent } = stream(StreamState.Established)
  assert.ok(batchWindowUpdates(s as unknown as Stream))
  assert.not.ok(batchWindowUpdates(s as unknown as Stream), 'patching twice is a no-op')
  let got = 0
  s.addEventListener('message', evt => { got += evt.data.byteLength })
  const frame = 1000
  const frames = 1000 // 1 MB through a 256 KiB window
  for (let i = 0; i < frames; i++) deliver(s, frame)
  assert.is(got, frame * frames)
  const updates = sent.filter(f => f.type === WINDOW_UPDATE)
  assert.ok(updates.length >= 6 && updates.length <= 8, `${updates.length} updates`)
  for (const u of updates) assert.ok(u.length >= WINDOW / 2, `update of ${u.length} bytes`)
  // the sender's window never ran out: credited bytes + the initial window cover what was sent
  const credited = updates.reduce((n, u) => n + u.length, 0)
  assert.ok(WINDOW + credited >= frame * frames, 'sender window never exhausted')
  assert.ok(WINDOW + credited - frame * frames >= WINDOW / 2, 'at least half a window stays open to the sender')
})

test('batched: the ACK of a new inbound stream still goes out at once', () => {
  const { s, sent } = stream(StreamState.SYNReceived)
  batchWindowUpdates(s as unknown as Stream)
  s.addEventListener('message', () => {})
  deliver(s, 10)
  assert.is(sent.length, 1)
  assert.is(sent[0]?.flag, 2 /* ACK */)
  assert.is(s.state, StreamState.Established)
  deliver(s, 10)
  assert.is(sent.length, 1, 'no update for the next small frame')
})

test('batched: a paused stream sends no update and resume announces the whole backlog', () => {
  const { s, sent } = stream(StreamState.Established)
  batchWindowUpdates(s as unknown as Stream)
  s.addEventListener('message', () => {})
  s.pause()
  for (let i = 0; i < 200; i++) deliver(s, 1000)
  assert.is(sent.length, 0)
  s.resume()
  assert.is(sent.length, 1)
  assert.is(sent[0]?.length, 200 * 1000)
})

test('a muxer batches every stream the peer opens before reporting it on', () => {
  const reported: Stream[] = []
  const muxer = { onRemoteStream (stream: Stream) { reported.push(stream) } }
  assert.is(batchInboundWindowUpdates(muxer as never), muxer)
  const { s } = stream(StreamState.SYNReceived)
  muxer.onRemoteStream(s as unknown as Stream)
  assert.is(reported[0], s as unknown as Stream, 'still reported to libp2p')
  assert.not.ok(batchWindowUpdates(s as unknown as Stream), 'already batched when reported')
  const bare = {}
  assert.is(batchInboundWindowUpdates(bare as never), bare, 'a muxer without onRemoteStream is left alone')
})

test.run()
