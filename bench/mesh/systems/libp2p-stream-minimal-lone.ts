/**
 * `libp2p-stream-minimal-codec` with the codec meshcache itself uses for a
 * lone write (protocol/lone.ts: `encodeLone`, and `decodeLone` before the
 * general decoder, as lib/sync/outbox.ts and lib/sync/dispatch.ts do): the
 * floor's streams carrying meshcache's frames, byte for byte, merged into
 * meshcache's Store by the bound's short path. The least a design with
 * meshcache's wire format, codec and store does for a write; against
 * `meshcache-transport-minimal`, what meshcache's transport costs, and
 * against `meshcache`, what all its layers cost (bench/README.md, "the
 * first seconds, layer by layer").
 */
import { codecSystem } from './libp2p-stream-minimal-codec.ts'

export const system = codecSystem('libp2p-stream-minimal-lone', 'lone')
