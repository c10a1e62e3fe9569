/**
 * Pre-shared keys for private meshes (libp2p pnet, the "v1 swarm.key" format):
 *
 *   /key/swarm/psk/1.0.0/
 *   /base16/
 *   <64 hex digits: 32 random bytes>
 *
 * The same text works as a file, an environment variable or a Uint8Array.
 */
import { randomBytes } from 'node:crypto'
import { invalidOption } from '../../errors.ts'

const HEADER = '/key/swarm/psk/1.0.0/'
const CODEC = '/base16/'
const KEY_BYTES = 32

/** A fresh random key in the v1 swarm.key format, as text (write it to a file or a secret store). */
export function generatePsk (): string {
  return `${HEADER}\n${CODEC}\n${randomBytes(KEY_BYTES).toString('hex')}\n`
}

/**
 * Checks a key given as the `psk` option and returns the bytes pnet expects.
 * Throws E_INVALID_OPTION if it is not a v1 swarm key with 32 bytes of key.
 */
export function normalizePsk (psk: Uint8Array | string): Uint8Array {
  const text = typeof psk === 'string' ? psk : new TextDecoder().decode(psk)
  const lines = text.trim().split(/\r\n|\r|\n/)
  if (lines.length !== 3 || lines[0] !== HEADER || lines[1] !== CODEC) {
    invalidOption('psk', `must be a v1 swarm key ("${HEADER}", "${CODEC}", hex key), as made by generatePsk()`)
  }
  const hex = lines[2] ?? ''
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    invalidOption('psk', `must carry ${KEY_BYTES} bytes of key as 64 hex digits`)
  }
  return new TextEncoder().encode(`${HEADER}\n${CODEC}\n${hex.toLowerCase()}`)
}
