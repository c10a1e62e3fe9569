/**
 * `libp2p-stream-minimal` with its frames padded to meshcache's size: 26 bytes
 * more (29 against 55 for a key `user:12345`, meshcache's UPDATES frame in its
 * envelope). Against `libp2p-stream-minimal` in one run, what meshcache's
 * extra bytes cost a write with the same work.
 */
import { MinimalReplica, minimalSystem } from './libp2p-stream-minimal.ts'

export const system = minimalSystem('libp2p-stream-minimal-wide', 25, () => new MinimalReplica()) // and the one byte that counts the padding
