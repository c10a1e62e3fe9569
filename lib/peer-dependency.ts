/**
 * The optional peer dependencies a feature loads at run time (package.json's
 * `peerDependenciesMeta`). npm installs no optional peer, so a service that
 * sets `l2`, or imports `meshcache/redis` or `meshcache/postgres`, without
 * the package would otherwise fail with Node's ERR_MODULE_NOT_FOUND naming a
 * file inside our dist/ ("Cannot find package 'redis' imported from
 * …/redis-client.js"). This names the feature, the package, the versions and
 * the command instead, as a MeshCacheError (`E_MISSING_DEPENDENCY`).
 *
 * prom-client, @opentelemetry/api and uplot are not here: the exporters only
 * use the registry or meter the service passes in (types alone), and the
 * dashboard serves its charts only when uplot is installed (a 404 saying so).
 */
import { ErrorCode, MeshCacheError } from './errors.ts'

/** Each peer a feature loads, with package.json's range for it (a test pins the two together). */
export const OPTIONAL_PEERS = {
  redis: { range: '^5.0.0 || ^6.0.0', feature: 'the L2 tier (the `l2` option, meshcache/redis)' },
  pg: { range: '^8.11.0', feature: 'meshcache/postgres' },
  'pg-logical-replication': { range: '^2.5.0', feature: 'meshcache/postgres' },
} as const

export type OptionalPeer = keyof typeof OPTIONAL_PEERS

/**
 * `load()` (an `import()` of `name` itself, so bundlers and types see the
 * specifier), or `E_MISSING_DEPENDENCY` if `name` is not installed. Any other
 * failure, a missing package of its own among them, is thrown as it is.
 */
export async function importPeer<M> (name: OptionalPeer, load: () => Promise<M>): Promise<M> {
  try {
    return await load()
  } catch (error) {
    if (!isMissingPackage(error, name)) throw error
    const { range, feature } = OPTIONAL_PEERS[name]
    throw new MeshCacheError(ErrorCode.MISSING_DEPENDENCY,
      `${feature} needs the package \`${name}\` (${range}), an optional peer dependency that is not installed: npm install ${name}`,
      { cause: error })
  }
}

/** Whether `error` is Node's "cannot find" for the package `name` itself (ESM's, or CommonJS's from inside a CommonJS peer). */
export function isMissingPackage (error: unknown, name: string): boolean {
  if (!(error instanceof Error)) return false
  const code = (error as { code?: unknown }).code
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
    (error.message.includes(`package '${name}'`) || error.message.includes(`module '${name}'`))
}
