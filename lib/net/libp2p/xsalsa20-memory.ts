/**
 * A fix for pnet's cipher, `xsalsa20` (1.x, used by @libp2p/pnet).
 *
 * All its ciphers share one WebAssembly memory, but each keeps its own
 * `Uint8Array` view of it, made when the cipher was created. When one cipher
 * grows the memory, every other cipher's view is detached and reads as
 * length 0, so on its next call that cipher "grows" the memory again by the
 * size of its input (`realloc` compares with its stale length). With several
 * connections each growth triggers more, until the memory reaches its
 * 64 MiB maximum and `WebAssembly.Memory.grow()` throws inside libp2p's
 * receive or send path: an uncaught error that ended a process after a few
 * seconds of traffic in bench:mesh (5 processes, psk).
 *
 * The fix keeps the last live view of the shared memory and hands it to a
 * cipher whose own view was detached, before each update and finalize. It
 * touches private fields, so it checks their shape first and does nothing
 * if a release changed them (test/libp2p/xsalsa20-memory.test.ts fails then).
 */
import { createRequire } from 'node:module'

interface WasmXor { _memory: Uint8Array }
interface XSalsa20Instance { _xor: WasmXor | null }
interface XSalsa20Class {
  prototype: {
    update (input: Uint8Array, output?: Uint8Array): Uint8Array
    finalize (): void
    final (): void
  }
}

let applied: boolean | undefined

/** Loads the xsalsa20 module that @libp2p/pnet itself uses. */
export function loadPnetXSalsa20 (): XSalsa20Class {
  // Resolved from pnet's own entry point, so this is the copy pnet loads.
  return createRequire(import.meta.resolve('@libp2p/pnet'))('xsalsa20') as XSalsa20Class
}

/** Applies the fix once per process; returns whether it is in place. */
export function fixXSalsa20Memory (): boolean {
  if (applied !== undefined) return applied
  applied = false
  let X: XSalsa20Class
  try {
    X = loadPnetXSalsa20()
  } catch {
    return false
  }
  const proto = X.prototype
  if (typeof proto?.update !== 'function' || typeof proto.finalize !== 'function') return false
  let live: ArrayBuffer | undefined
  const refresh = (self: XSalsa20Instance): void => {
    const xor = self._xor
    if (xor === null || xor === undefined || !(xor._memory instanceof Uint8Array)) return // the JS fallback has no view
    const buffer = xor._memory.buffer as ArrayBuffer
    if (buffer.byteLength === 0 && live !== undefined && live.byteLength > 0) xor._memory = new Uint8Array(live)
  }
  const remember = (self: XSalsa20Instance): void => {
    const view = self._xor?._memory
    if (view instanceof Uint8Array && view.buffer.byteLength > 0) live = view.buffer as ArrayBuffer
  }
  const update = proto.update
  proto.update = function (this: XSalsa20Instance, input: Uint8Array, output?: Uint8Array): Uint8Array {
    refresh(this)
    const out = update.call(this, input, output)
    remember(this)
    return out
  }
  const finalize = proto.finalize
  proto.finalize = proto.final = function (this: XSalsa20Instance): void {
    refresh(this) // so the key material is really zeroed
    finalize.call(this)
  }
  applied = true
  return true
}
