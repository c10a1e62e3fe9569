/**
 * The runtime meshcache needs, and how it schedules on it.
 *
 * libp2p 3 uses `Promise.withResolvers` and other Node 22 APIs; on Node 20
 * its node starts, dials nothing and logs the failure only under DEBUG, so a
 * cache would resolve, stay alone and never propagate a write. Refusing at
 * `createMeshCache` turns that silence into an error that says what to do.
 *
 * `afterThisRun` is how meshcache waits for the caller's synchronous run to
 * end: to batch it (the outbox, the repair relay, a tier's write queue), or
 * to keep work off it (the relay's delivery, the audit's read). See below.
 */
import { ErrorCode, MeshCacheError } from '../errors.ts'

/** The oldest Node major meshcache runs on (package.json `engines` says the same). */
export const MIN_NODE_MAJOR = 22

/**
 * Throws E_UNSUPPORTED_RUNTIME unless `version` (a `process.versions.node`
 * string, injectable for tests) is at least MIN_NODE_MAJOR.
 */
export function assertSupportedRuntime (version: string | undefined = globalThis.process?.versions?.node): void {
  const major = Number.parseInt(version ?? '', 10)
  if (Number.isInteger(major) && major >= MIN_NODE_MAJOR) return
  throw new MeshCacheError(ErrorCode.UNSUPPORTED_RUNTIME,
    `meshcache needs Node ${MIN_NODE_MAJOR} or newer (libp2p 3 does), this is ${version === undefined || version === '' ? 'not Node' : `Node ${version}`}: ` +
    `run your service on Node >= ${MIN_NODE_MAJOR} (for example install the \`node@${MIN_NODE_MAJOR + 2}\` package, or use a node:${MIN_NODE_MAJOR + 2} image)`)
}

const settled = Promise.resolve()

/**
 * Runs `fn` once the caller's synchronous run is over: a microtask, in the
 * queue's order, as `queueMicrotask(fn)` would. It is queued as the reaction
 * of a settled promise because `queueMicrotask` calls into C++ every time
 * and, while an AsyncLocalStorage is in use (a tracer's context, say), also
 * builds an AsyncResource per call. A promise reaction carries that context
 * natively. One write runs this once (the repository's cold-path bench: the
 * writer's path 9-12 % cheaper with an AsyncLocalStorage context active;
 * 1-4 % without, within what that bench resolves).
 * Callers' callbacks do not throw; one that did would surface as an
 * unhandled rejection, which stops the process by default as an uncaught
 * exception would.
 */
export function afterThisRun (fn: () => void): void {
  void settled.then(fn)
}
