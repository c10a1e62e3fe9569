/**
 * npm run dashboard -- --peers <multiaddr>[,<multiaddr>…] [--namespace NAME] [--psk FILE]
 *                      [--port N] [--host ADDR --token SECRET]
 *
 * Joins the mesh as an instance of its own (node id `dashboard`, holding
 * nothing) and serves the dashboard of the whole mesh from the summaries the
 * members share (they must run `shareStats(cache)` or `serveDashboard`).
 * Prints the page's URL; stops on SIGINT or SIGTERM.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { createMeshCache } from '../../index.ts'
import { serveDashboard } from './server.ts'

const USAGE = 'usage: npm run dashboard -- --peers <multiaddr>[,…] [--namespace NAME] [--psk FILE] [--port N] [--host ADDR --token SECRET]'

function fail (message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`)
  process.exit(2)
}

let args: ReturnType<typeof parse>
function parse () {
  return parseArgs({
    options: {
      peers: { type: 'string', multiple: true },
      namespace: { type: 'string', default: 'demo' },
      psk: { type: 'string' },
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  })
}
try {
  args = parse()
} catch (error) {
  fail((error as Error).message)
}
if (args.values.help === true) {
  process.stdout.write(`${USAGE}\n`)
  process.exit(0)
}
const peers = (args.values.peers ?? []).flatMap((p) => p.split(',')).filter((p) => p !== '')
if (peers.length === 0) fail('--peers is required: the multiaddr (with /p2p/<id>) of at least one member')
const port = Number(args.values.port)
if (!Number.isSafeInteger(port) || port < 0 || port > 65535) fail(`--port must be 0 to 65535, got ${args.values.port}`)

try {
  const cache = await createMeshCache({
    namespace: args.values.namespace,
    nodeId: 'dashboard',
    peers,
    max: 1,
    ...(args.values.psk !== undefined ? { psk: readFileSync(args.values.psk, 'utf8') } : {}),
  })
  const dashboard = await serveDashboard(cache, { port, host: args.values.host, token: args.values.token })
  process.stdout.write(`meshcache dashboard of namespace ${JSON.stringify(cache.namespace)}: ${dashboard.url}\n`)
  const stop = async (): Promise<void> => {
    await dashboard.close()
    await cache.close()
    process.exit(0)
  }
  process.once('SIGINT', () => { void stop() })
  process.once('SIGTERM', () => { void stop() })
} catch (error) {
  fail(`cannot start the dashboard: ${(error as Error).message}`)
}
