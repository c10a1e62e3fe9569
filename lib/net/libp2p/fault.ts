/**
 * An in-process fault switch: cuts this node off from chosen peers (or from
 * everyone) through libp2p's connection gater, so tests can partition a mesh
 * without root or network namespaces. While a peer is blocked no connection
 * with it can be dialled or accepted; `block` also hangs up the open ones
 * (done by the transport, which owns the node).
 */
import type { ConnectionGater, PeerId } from '@libp2p/interface'

export class FaultSwitch {
  #blocked = new Set<string>()
  #all = false

  /** Blocks every peer. */
  isolate (): void { this.#all = true }

  /** Blocks the given peers (libp2p peer ids as strings). */
  block (peers: Iterable<string>): void {
    for (const p of peers) this.#blocked.add(p)
  }

  /** Lifts every block. */
  heal (): void {
    this.#all = false
    this.#blocked.clear()
  }

  blocks (peer: string): boolean {
    return this.#all || this.#blocked.has(peer)
  }

  /** A connection gater that enforces this switch. */
  gater (): ConnectionGater {
    const deny = (peerId: PeerId): boolean => this.blocks(peerId.toString())
    return {
      denyDialPeer: deny,
      denyInboundEncryptedConnection: deny,
      denyOutboundEncryptedConnection: deny
    }
  }
}
