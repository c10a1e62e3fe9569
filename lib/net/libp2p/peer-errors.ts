/**
 * Why a dial failed, in words a user can act on. libp2p reports a refused
 * port, a wrong key and a wrong peer id as differently shaped errors (a
 * socket code, an EncryptionFailedError with the handshake's message); each
 * becomes a MeshCacheError with a stable code and the original as `cause`.
 */
import { connect } from 'node:net'
import { ErrorCode, MeshCacheError } from '../../errors.ts'

const UNREACHABLE = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN'])

function socketCode (err: unknown): string | undefined {
  for (let e = err as { code?: unknown, cause?: unknown } | undefined, depth = 0; e != null && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string') return e.code
  }
  return undefined
}

/** Classifies a failed dial of `address`; `hasPsk`: whether this node uses a pre-shared key. */
export function classifyDialError (address: string, err: unknown, hasPsk: boolean): MeshCacheError {
  const e = err as Error | undefined
  const name = e?.name ?? ''
  const message = e?.message ?? String(err)
  const code = socketCode(err)
  const at = `cannot connect to ${address}`
  if (/does not match expected remote identity key/i.test(message)) {
    return new MeshCacheError(ErrorCode.PEER_ID_MISMATCH,
      `${at}: the node there has another peer id than the address's /p2p/ part (it restarted without a pinned \`identity\`?); give the address without /p2p/, or pin the identity`, { cause: err })
  }
  if (name === 'EncryptionFailedError' || /ECONNRESET|Message length too long|decrypt|invalid nonce/i.test(message)) {
    // With pnet the first bytes after the nonces are encrypted with the key: a
    // peer with another key reads garbage (a "length too long") or drops us.
    return new MeshCacheError(ErrorCode.PSK_MISMATCH,
      hasPsk
        ? `${at}: the handshake failed as it does when the peer has another pre-shared key (likely PSK mismatch: ${message})`
        : `${at}: the handshake failed as it does when the peer uses a pre-shared key and this node has none (likely PSK mismatch: ${message})`,
      { cause: err })
  }
  if (code === 'ECONNREFUSED') {
    return new MeshCacheError(ErrorCode.PEER_UNREACHABLE, `${at}: connection refused (the host is up, nothing listens on that port)`, { cause: err })
  }
  if ((code !== undefined && UNREACHABLE.has(code)) || name === 'TimeoutError' || name === 'AbortError') {
    return new MeshCacheError(ErrorCode.PEER_UNREACHABLE, `${at}: host unreachable (${code ?? name}: no answer; check the address, routes and firewalls)`, { cause: err })
  }
  return new MeshCacheError(ErrorCode.PEER_UNREACHABLE, `${at}: ${message}`, { cause: err })
}

/** pnet's nonce: a node with a pre-shared key sends it as soon as a connection opens, before anything else. */
const PNET_NONCE_BYTES = 24

/**
 * A dial that timed out says nothing of where it stuck, so the address is
 * probed with a plain TCP connection. Closed or silent past the timeout:
 * unreachable. Open: the host is up and the handshake is what never
 * finished, and what the port does unasked tells why. A node with a
 * pre-shared key speaks first (its 24-byte pnet nonce); a libp2p node
 * without one waits for the dialer. So with a key here, a silent port is a
 * peer without one (or no meshcache node); without a key here, a port that
 * speaks first is a peer with one. Either is a likely PSK mismatch.
 */
export async function refineTimeout (address: string, error: MeshCacheError, hasPsk: boolean, probeMs: number): Promise<MeshCacheError> {
  const name = (error.cause as Error | undefined)?.name
  if (error.code !== ErrorCode.PEER_UNREACHABLE || (name !== 'TimeoutError' && name !== 'AbortError')) return error
  const m = /^\/(?:ip4|ip6|dns4|dns6|dns)\/([^/]+)\/tcp\/(\d+)/.exec(address.split(', ')[0] ?? '')
  if (m === null) return error
  const probe = await new Promise<'closed' | 'silent' | 'speaks'>((resolve) => {
    const socket = connect({ host: m[1] as string, port: Number(m[2]), timeout: probeMs })
    let received = 0
    let timer: ReturnType<typeof setTimeout> | undefined
    const done = (result: 'closed' | 'silent' | 'speaks'): void => { clearTimeout(timer); socket.destroy(); resolve(result) }
    socket.once('connect', () => { timer = setTimeout(() => done('silent'), Math.min(probeMs, 1_000)) })
    socket.on('data', (chunk: Buffer) => { received += chunk.length; if (received >= PNET_NONCE_BYTES) done('speaks') })
    socket.once('timeout', () => done(timer === undefined ? 'closed' : 'silent'))
    socket.once('error', () => done('closed'))
  })
  const at = `cannot connect to ${address}: the port accepts connections but the handshake never completed`
  if (probe === 'closed') return error
  if (hasPsk && probe === 'silent') {
    return new MeshCacheError(ErrorCode.PSK_MISMATCH, `${at}, and the peer does not open with a pre-shared key's nonce: it has no key, or is not a meshcache node (likely PSK mismatch)`, { cause: error.cause })
  }
  if (!hasPsk && probe === 'speaks') {
    return new MeshCacheError(ErrorCode.PSK_MISMATCH, `${at}: the peer opens with a pre-shared key's nonce and this node has no key (likely PSK mismatch)`, { cause: error.cause })
  }
  return new MeshCacheError(hasPsk ? ErrorCode.PSK_MISMATCH : ErrorCode.PEER_UNREACHABLE,
    hasPsk ? `${at} (likely PSK mismatch: another key)` : `${at} (not a meshcache node?)`, { cause: error.cause })
}
