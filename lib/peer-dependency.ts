/**
 * The optional peer dependencies a feature loads at run time (package.json's
 * `peerDependenciesMeta`). npm installs no optional peer, so a service that
 * sets `l2`, or imports `meshcache/redis` or `meshcache/postgres`, without
 * the package would otherwise fail with Node's ERR_MODULE_NOT_FOUND naming a
 * file inside our dist/ ("Cannot find package 'redis' imported from
 * …/redis-client.js"). This names the feature, the package, the versions and
 * the command instead, as a MeshCacheError (`E_MISSING_DEPENDENCY`).
 *
 * The peers are loaded with CommonJS's `require` (all three are CommonJS
 * packages, so it is the module `import` would give): an `await import()` at
 * a module's top would make meshcache/redis and meshcache/postgres
 * asynchronous modules, which a CommonJS service can no longer `require()`
 * (ERR_REQUIRE_ASYNC_MODULE; a test pins that it can).
 *
 * prom-client, @opentelemetry/api and uplot are not here: the exporters only
 * use the registry or meter the service passes in (types alone), and the
 * dashboard serves its charts only when uplot is installed (a 404 saying so).
 */
import { createRequire } from 'node:module'
import { ErrorCode, MeshCacheError } from './errors.ts'

/** Each peer a feature loads, with package.json's range for it (a test pins the two together). */
export const OPTIONAL_PEERS = {
  redis: { range: '^5.0.0 || ^6.0.0', feature: 'the L2 tier (the `l2` option, meshcache/redis)' },
  pg: { range: '^8.11.0', feature: 'meshcache/postgres' },
  'pg-logical-replication': { range: '^2.5.0', feature: 'meshcache/postgres' },
} as const

export type OptionalPeer = keyof typeof OPTIONAL_PEERS

/** Resolves from this file, as an import here would: up to the service's node_modules. */
const requireHere = createRequire(import.meta.url)

/**
 * The peer `name` (`load` is how: tests load modules of their own), or
 * `E_MISSING_DEPENDENCY` if `name` is not installed. Any other failure, a
 * missing package of the peer's own among them, is thrown as it is.
 */
export function requirePeer<M> (name: OptionalPeer, load: () => unknown = () => requireHere(name)): M {
  try {
    return load() as M
  } catch (error) {
    if (!isMissingPackage(error, name)) throw error
    const { range, feature } = OPTIONAL_PEERS[name]
    throw new MeshCacheError(ErrorCode.MISSING_DEPENDENCY,
      `${feature} needs the package \`${name}\` (${range}), an optional peer dependency that is not installed: npm install ${name}`,
      { cause: error })
  }
}

/** Whether `error` is Node's "cannot find" for the package `name` itself (CommonJS's, or ESM's). */
export function isMissingPackage (error: unknown, name: string): boolean {
  if (!(error instanceof Error)) return false
  const code = (error as { code?: unknown }).code
  return (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') &&
    (error.message.includes(`module '${name}'`) || error.message.includes(`package '${name}'`))
}
