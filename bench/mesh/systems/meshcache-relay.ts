/**
 * meshcache with its gossipsub relay tier carrying every broadcast
 * (`gossipsub: { minPeers: 0 }`): what relaying costs at this mesh size.
 * Not in the default run: `npm run bench:mesh -- --systems tcp,meshcache,meshcache-relay`.
 */
import { meshcacheSystem } from './meshcache.ts'

export const system = meshcacheSystem('meshcache-relay', { gossipsub: { minPeers: 0 } })
