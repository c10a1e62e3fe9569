/**
 * node-redis, an optional peer dependency, loaded once for the tier's files:
 * without it, importing meshcache/redis (or setting `l2`) fails with
 * E_MISSING_DEPENDENCY naming it (lib/peer-dependency.ts), not with Node's
 * error naming a file of ours.
 */
import { requirePeer } from '../peer-dependency.ts'

export const nodeRedis = requirePeer<typeof import('redis')>('redis')
