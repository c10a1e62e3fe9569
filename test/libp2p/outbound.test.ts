/**
 * Our outbound stream's lifecycle (lib/net/libp2p/outbound.ts) over fake
 * connections whose stream opens the test resolves by hand: the order of
 * events that left a 16-process mesh (test/mesh/fanout.test.ts) a pair short
 * for 6 s here, and for over a minute in CI: our stream moves to the
 * connection kept of crossed dials, and the connection it ran on closes
 * before the move's stream has opened.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Connection, Logger, Stream } from '@libp2p/interface'
import { CROSSED_SETTLE_MS } from '../../lib/net/libp2p/crossed-dials.ts'
import { OutboundStreams, type OutboundHost } from '../../lib/net/libp2p/outbound.ts'
import { emptyStats } from '../../lib/net/libp2p/stats.ts'
import { PeerLink } from '../../lib/net/libp2p/stream-link.ts'

const silent = Object.assign(() => {}, { enabled: false, error: () => {}, trace: () => {} }) as unknown as Logger
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

interface FakeStream { writeStatus: string, closed: boolean, aborted: boolean, close (): Promise<void>, abort (): void, addEventListener (type: 'close', fn: () => void): void, fire (): void }
function stream (): FakeStream {
  const listeners: Array<() => void> = []
  return {
    writeStatus: 'writable',
    closed: false,
    aborted: false,
    async close () { this.fire() },
    abort () { this.aborted = true; this.fire() },
    addEventListener (_: 'close', fn: () => void) { listeners.push(fn) },
    /** Closes the stream as its connection going would: 'close' fires once. */
    fire () { if (this.closed) return; this.closed = true; this.writeStatus = 'closed'; for (const fn of listeners) fn() }
  }
}

/** A connection whose newStream calls wait in `pending` until the test settles them. */
interface FakeConnection { direction: 'inbound' | 'outbound', status: string, pending: Array<{ resolve: (s: FakeStream) => void, reject: (e: Error) => void }>, newStream (): Promise<FakeStream> }
function connection (direction: FakeConnection['direction']): FakeConnection {
  return {
    direction,
    status: 'open',
    pending: [],
    async newStream () { return await new Promise((resolve, reject) => { this.pending.push({ resolve, reject }) }) }
  }
}

/** OutboundStreams for one peer over `conns`; `kept` is the connection crossed dials keep (undefined: none crossed). */
function outbound (conns: FakeConnection[], kept: () => FakeConnection | undefined): { streams: OutboundStreams, opened: FakeStream[] } {
  const opened: FakeStream[] = []
  const host: OutboundHost = {
    stats: emptyStats(),
    stopped: false,
    isConnected: () => conns.some((c) => c.status === 'open'),
    connectionsOf: () => conns.filter((c) => c.status === 'open') as unknown as Connection[],
    streamOpened: (link) => { opened.push(link.out as unknown as FakeStream) },
    reconcile: () => {},
    dropLinkIfIdle: () => {}
  }
  return { streams: new OutboundStreams(host, () => kept() as unknown as Connection | undefined, 500, silent), opened }
}

/** Opens our stream on `conn` (the only connection so far) and returns it. */
async function openOn (streams: OutboundStreams, link: PeerLink, conn: FakeConnection): Promise<FakeStream> {
  const opening = streams.open(link)
  const s = stream()
  conn.pending.shift()?.resolve(s)
  await opening
  assert.is(link.out as unknown, s, 'our stream is open on the first connection')
  return s
}

/**
 * Our stream open on our own connection, the peer's dial crossed with it, our stream moving to the peer's (kept)
 * connection, and, before the move's stream opens, our connection and stream closed and the close's retry due.
 */
async function moveRacingClose (): Promise<{ streams: OutboundStreams, opened: FakeStream[], link: PeerLink, theirs: FakeConnection, moving: Promise<void> }> {
  const ours = connection('outbound')
  const theirs = connection('inbound')
  const conns = [ours]
  const { streams, opened } = outbound(conns, () => conns.length > 1 && ours.status === 'open' ? theirs : undefined)
  const link = new PeerLink('b')
  const first = await openOn(streams, link, ours)
  conns.push(theirs) // the peer's dial, crossed with ours
  const moving = streams.moveTo(link, theirs as unknown as Connection)
  assert.is(theirs.pending.length, 1, 'the move opens a stream on the connection kept')
  // the peer closes the connection it will not keep, with our stream on it, before the move's stream opens
  ours.status = 'closed'
  streams.connectionClosed(link, ours as unknown as Connection)
  first.fire()
  assert.is(link.out, null)
  await sleep(50) // the close's retry is due (20 ms) while the move is in flight
  return { streams, opened, link, theirs, moving }
}

test('the connection our stream ran on closes while its move to the kept one opens: the moved stream takes its place', async () => {
  const { opened, link, theirs, moving } = await moveRacingClose()
  const moved = stream()
  theirs.pending.shift()?.resolve(moved)
  await moving
  assert.is(link.out as unknown, moved, 'our stream is the moved one')
  assert.not.ok(moved.aborted, 'the moved stream is kept, not aborted')
  assert.is(opened.length, 2, 'the peer is greeted on it')
  await sleep(100)
  assert.is(theirs.pending.length, 0, 'no further stream is opened')
})

test('the move fails and our stream closed meanwhile: a new one is opened, not none until liveness steps in', async () => {
  const { opened, link, theirs, moving } = await moveRacingClose()
  theirs.pending.shift()?.reject(new Error('stream reset'))
  await moving
  assert.is(link.out, null)
  await sleep(100) // the retry after the failed move (20 ms)
  assert.is(theirs.pending.length, 1, 'a stream is opened again on the connection left')
  const again = stream()
  theirs.pending.shift()?.resolve(again)
  await sleep(0)
  assert.is(link.out as unknown, again)
  assert.is(opened.length, 2)
})

test('a move that completes with our stream still open adopts the new one and closes the old a second later', async () => {
  const ours = connection('outbound')
  const theirs = connection('inbound')
  const conns = [ours]
  const { streams, opened } = outbound(conns, () => conns.length > 1 ? theirs : undefined)
  const link = new PeerLink('b')
  const first = await openOn(streams, link, ours)
  conns.push(theirs)
  const moving = streams.moveTo(link, theirs as unknown as Connection)
  const moved = stream()
  theirs.pending.shift()?.resolve(moved)
  await moving
  assert.is(link.out as unknown, moved)
  assert.is(opened.length, 2)
  assert.not.ok(first.closed, 'the old stream stays a while: its greeting must not be overtaken by its end')
  await sleep(CROSSED_SETTLE_MS + 100)
  assert.ok(first.closed, 'then it closes')
  assert.is(link.out as unknown, moved, 'its close leaves the moved stream in place')
})

test('another stream adopted while the move opened: the move\'s stream is aborted, ours stays', async () => {
  const ours = connection('outbound')
  const theirs = connection('inbound')
  const conns = [ours]
  const { streams } = outbound(conns, () => conns.length > 1 ? theirs : undefined)
  const link = new PeerLink('b')
  await openOn(streams, link, ours)
  conns.push(theirs)
  const moving = streams.moveTo(link, theirs as unknown as Connection)
  const other = stream() as unknown as Stream
  link.out = other // as if a stream of another path had been adopted meanwhile
  const late = stream()
  theirs.pending.shift()?.resolve(late)
  await moving
  assert.ok(late.aborted, 'the move\'s stream is aborted')
  assert.is(link.out, other)
})

test.run()
