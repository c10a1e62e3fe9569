/**
 * Addresses as the redialer and the mesh handle them: compared without
 * their `/p2p/<id>` suffix (a bootstrap address usually has none, our own
 * always do), turned into what libp2p dials, and described in errors as the
 * user wrote them.
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'

export const P2P = '/p2p/'

/** `addr` without its `/p2p/<id>` suffix: how bootstrap addresses and our own are compared. */
export function withoutPeerId (addr: string): string {
  const at = addr.indexOf(P2P)
  return at < 0 ? addr : addr.slice(0, at)
}

/**
 * What to dial: a plain bootstrap address as such (whoever answers there,
 * so a restarted process with a new id is found again), else every address
 * of the peer with its id. Undefined: nothing to dial yet. Throws on an
 * address that does not parse.
 */
export function dialTarget (peer: string | undefined, bootstrapAddr: string | undefined, addrs: readonly string[]): Multiaddr | Multiaddr[] | undefined {
  if (bootstrapAddr !== undefined) return multiaddr(bootstrapAddr)
  if (peer === undefined || addrs.length === 0) return undefined
  return addrs.map(a => multiaddr(a.includes(P2P) ? a : `${a}${P2P}${peer}`))
}

/** The address a dial tried, as the user wrote it (the first one when a peer has several). */
export function describeTarget (target: Multiaddr | Multiaddr[]): string {
  const list = Array.isArray(target) ? target : [target]
  return list.map(a => a.toString()).join(', ')
}

/** libp2p refuses to dial its own peer id, found out after the handshake when the address had none. */
export function isSelfDial (err: unknown): boolean {
  return (err as Error)?.name === 'InvalidPeerIdError' && /dial self/i.test((err as Error).message)
}
