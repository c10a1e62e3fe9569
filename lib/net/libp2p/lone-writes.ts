/**
 * Sends a lone write to every direct link of a namespace (SPEC §11, "Lone writes"): as LONE to a peer whose
 * stream chose LONE_PROTOCOL, after a WRITER naming the origin once a stream and namespace, and as the UPDATES
 * frame it stands for (protocol/lone.ts) to an older peer. The mesh asks this only where a broadcast goes
 * straight to each link (no relay, no partial mesh); each link gets one or the other, never both.
 */
import { encodeLone, loneRecord } from '../../../protocol/lone.ts'
import type { RecordKindValue } from '../../../protocol/constants.ts'
import { encodeFrame } from './envelope.ts'
import { encodeLoneWrite, encodeWriter, readsLone } from './lone-envelope.ts'
import type { PeerLink } from './stream-link.ts'

/** The counters a send moves (the mesh's TransportStats). */
export interface LoneSendStats { framesSent: number, droppedBackpressure: number }

/**
 * Writes the lone write `seq` of `origin` (key, kind, clock) to every link in `links` whose peer is up in the
 * namespace `name` (our id for it `nsId`), each at most `maxBuffered` bytes behind.
 */
export function sendLoneWrite (links: Iterable<PeerLink>, name: string, nsId: number, origin: string, seq: number,
  key: string, kind: RecordKindValue, hlc: number, maxBuffered: number, stats: LoneSendStats): void {
  let lone: Uint8Array[] | undefined
  let frame: Uint8Array[] | undefined
  for (const link of links) {
    if (!link.up.has(name)) continue
    const out = link.out
    let envelopes: Uint8Array[]
    if (out !== null && readsLone(out)) {
      if (!named(link, nsId, origin, maxBuffered)) { stats.droppedBackpressure++; continue }
      envelopes = lone ??= [encodeLoneWrite(nsId, seq, key, kind, hlc)]
    } else {
      envelopes = frame ??= encodeFrame(nsId, encodeLone(origin, seq, loneRecord(origin, seq, key, kind, hlc)))
    }
    if (link.write(envelopes, maxBuffered)) stats.framesSent++
    else stats.droppedBackpressure++
  }
}

/** Whether `origin` is named for `nsId` on `link`'s stream, naming it first (WRITER) if not; false if that could not be written. */
function named (link: PeerLink, nsId: number, origin: string, maxBuffered: number): boolean {
  if (link.writersSent.get(nsId) === origin) return true
  if (!link.write([encodeWriter(nsId, origin)], maxBuffered)) return false
  link.writersSent.set(nsId, origin)
  return true
}
