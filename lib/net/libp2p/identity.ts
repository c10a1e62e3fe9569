/**
 * A node's libp2p identity: the private key its peer id is derived from.
 * Without one, every start makes a new key, so a peer id written into a
 * bootstrap address (`…/p2p/12D3KooW…`) is wrong after the node restarts
 * and every redial fails the handshake. Pin one with the `identity` option,
 * or give bootstrap addresses without `/p2p/`.
 *
 * The text form is libp2p's (and IPFS's config `PrivKey`): the key's
 * protobuf encoding in base64.
 */
import { generateKeyPairSync } from 'node:crypto'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { invalidOption } from '../../errors.ts'

/** libp2p's KeyType enum value for Ed25519 in the key protobuf. */
const ED25519 = 1

/** A fresh Ed25519 identity as text (base64 of the libp2p key protobuf): keep it as a secret, one per instance. */
export function generateIdentity (): string {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })
  const seed = Buffer.from(jwk.d as string, 'base64url')
  const pub = Buffer.from(jwk.x as string, 'base64url')
  // message PrivateKey { KeyType Type = 1; bytes Data = 2; }, Data = seed ‖ public key
  return Buffer.concat([Buffer.from([0x08, ED25519, 0x12, 64]), seed, pub]).toString('base64')
}

/** The private key of an `identity` option (bytes of the protobuf, or its base64 text). Throws E_INVALID_OPTION. */
export function parseIdentity (identity: Uint8Array | string): PrivateKey {
  let bytes: Uint8Array
  if (typeof identity === 'string') {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(identity.trim())) invalidOption('identity', 'must be base64 text as made by generateIdentity()')
    bytes = Buffer.from(identity.trim(), 'base64')
  } else if (identity instanceof Uint8Array) {
    bytes = identity
  } else {
    invalidOption('identity', 'must be a string or a Uint8Array')
  }
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (cause) {
    invalidOption('identity', `is not a libp2p private key (${(cause as Error).message}); make one with generateIdentity()`)
  }
}

/** The peer id an identity gives, as it appears after `/p2p/` in a node's addresses. */
export function peerIdOf (identity: Uint8Array | string): string {
  return peerIdFromPrivateKey(parseIdentity(identity)).toString()
}
