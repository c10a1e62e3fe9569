/**
 * serveDashboard: a small HTTP server showing the whole mesh, live, from
 * one instance (its own figures and its peers' shared summaries).
 *
 *   GET /               the page (lib/observe/dashboard/page.ts)
 *   GET /events         server-sent events: one snapshot per `interval`
 *   GET /snapshot.json  one snapshot
 *   GET /uplot.js|.css  uPlot, served from its installed package at runtime
 *
 * It listens on loopback by default. Any other host needs a `token`, which
 * every data request must carry (`?token=` or `Authorization: Bearer`): the
 * snapshots show keys and node ids from the network, and the mesh's shape.
 * The page itself holds no data and builds every element with textContent,
 * so nothing from the network is ever parsed as HTML.
 */
import { timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { isIP } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { MeshCache } from '../../cache.ts'
import { ErrorCode, MeshCacheError, invalidOption } from '../../errors.ts'
import { optionNames, refuseUnknown } from '../../core/suggest.ts'
import { isSharing, shareStats } from '../share.ts'
import { PAGE_HTML, PAGE_JS } from './page.ts'
import { SnapshotBuilder } from './snapshot.ts'

/** Every option name, for refusing unknown ones with a suggestion (a name left out fails to compile). */
const DASHBOARD_OPTION_NAMES = optionNames<DashboardOptions>()(['port', 'host', 'token', 'interval'])

export interface DashboardOptions {
  /** TCP port; 0 picks a free one (see the returned `url`). @default 0 */
  port?: number
  /** Interface to listen on. Anything but loopback requires `token`. @default '127.0.0.1' */
  host?: string
  /** A secret every request must carry; required off loopback. At least 16 characters. @default none */
  token?: string
  /** Milliseconds between pushed snapshots. @default 1_000 */
  interval?: number
}

export interface Dashboard {
  /** The page's address (with the token, when there is one). */
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost'])

function isLoopback (host: string): boolean {
  return LOOPBACK.has(host) || (isIP(host) === 4 && host.startsWith('127.'))
}

/** Whether uPlot (an optional peer dependency) can be found: without it the page has no charts. */
function uplotInstalled (): boolean {
  try {
    import.meta.resolve('uplot/dist/uPlot.iife.min.js')
    return true
  } catch {
    return false
  }
}

/** uPlot's files, resolved in the installed package when first asked for (optional peer dependency). */
async function uplotFile (name: 'uPlot.iife.min.js' | 'uPlot.min.css'): Promise<Buffer | undefined> {
  try {
    return await readFile(fileURLToPath(import.meta.resolve(`uplot/dist/${name}`)))
  } catch {
    return undefined
  }
}

/**
 * Why the server could not listen, as the option to change (as the mesh's
 * own listen does, lib/net/libp2p/index.ts); anything else as Node gave it.
 */
function listenError (error: unknown, host: string, port: number): unknown {
  const code = (error as { code?: unknown })?.code
  const problem = code === 'EADDRINUSE'
    ? ['port', `${port} is already in use on ${host} (another dashboard, or a server of the service?): choose another, or 0 for a free one`]
    : code === 'EACCES'
      ? ['port', `${port} needs privileges this process does not have (a port below 1024?): choose another, or 0 for a free one`]
      : code === 'EADDRNOTAVAIL'
        ? ['host', `${JSON.stringify(host)} is not an address of this machine`]
        : code === 'ENOTFOUND'
          ? ['host', `${JSON.stringify(host)} is a name that does not resolve`]
          : undefined
  if (problem === undefined) return error
  return new MeshCacheError(ErrorCode.INVALID_OPTION, `option \`${problem[0]}\` ${problem[1]}`, { cause: error })
}

/**
 * Serves the dashboard of `cache`'s mesh. Starts sharing this instance's
 * summary with its peers (shareStats) if that is not on yet; the peers must
 * share theirs too for their figures to show.
 */
export async function serveDashboard (cache: MeshCache<any>, options: DashboardOptions = {}): Promise<Dashboard> {
  if (options === null || typeof options !== 'object') invalidOption('options', 'must be an object')
  refuseUnknown(options, DASHBOARD_OPTION_NAMES)
  const host = options.host ?? '127.0.0.1'
  if (typeof host !== 'string' || host === '') invalidOption('host', 'must be a host name or address')
  const port = options.port ?? 0
  if (!Number.isSafeInteger(port) || port < 0 || port > 65535) invalidOption('port', `must be 0 to 65535, got ${String(port)}`)
  const { token } = options
  if (token !== undefined && (typeof token !== 'string' || token.length < 16)) invalidOption('token', 'must be a string of at least 16 characters')
  if (!isLoopback(host) && token === undefined) invalidOption('token', `is required to listen on ${host} (not loopback): the page shows the mesh's keys and members`)
  const interval = options.interval ?? 1_000
  if (!Number.isSafeInteger(interval) || interval < 100) invalidOption('interval', `must be an integer of at least 100 ms, got ${String(interval)}`)

  const wasSharing = isSharing(cache)
  const shared = shareStats(cache)
  const builder = new SnapshotBuilder(cache, () => shared.summary())
  const clients = new Set<ServerResponse>()
  const expected = token === undefined ? undefined : Buffer.from(token)

  const authorised = (req: IncomingMessage, url: URL): boolean => {
    if (expected === undefined) return true
    const header = req.headers.authorization
    const given = Buffer.from(url.searchParams.get('token') ?? (header?.startsWith('Bearer ') === true ? header.slice(7) : ''))
    return given.length === expected.length && timingSafeEqual(given, expected)
  }

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer): void => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'" })
    res.end(body)
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://dashboard')
    if (req.method !== 'GET') return send(res, 405, 'text/plain', 'GET only\n')
    // The page and its scripts hold no data; what does (the snapshots) needs the token.
    if ((url.pathname === '/events' || url.pathname === '/snapshot.json') && !authorised(req, url)) return send(res, 401, 'text/plain', 'a valid token is required\n')
    switch (url.pathname) {
      case '/': return send(res, 200, 'text/html; charset=utf-8', PAGE_HTML)
      case '/app.js': return send(res, 200, 'text/javascript; charset=utf-8', PAGE_JS)
      case '/snapshot.json': return send(res, 200, 'application/json', JSON.stringify(builder.build()))
      case '/uplot.js':
      case '/uplot.css':
        void uplotFile(url.pathname === '/uplot.js' ? 'uPlot.iife.min.js' : 'uPlot.min.css').then((file) => {
          if (file === undefined) send(res, 404, 'text/plain', 'uplot is not installed: charts are off\n')
          else send(res, 200, url.pathname === '/uplot.js' ? 'text/javascript' : 'text/css', file)
        })
        return
      case '/events':
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
        res.write(`data: ${JSON.stringify(builder.build())}\n\n`)
        clients.add(res)
        req.on('close', () => clients.delete(res))
        return
      default: return send(res, 404, 'text/plain', 'not found\n')
    }
  })

  const timer = setInterval(() => {
    if (clients.size === 0) return
    const frame = `data: ${JSON.stringify(builder.build())}\n\n`
    for (const res of clients) res.write(frame)
  }, interval)
  timer.unref()

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => { server.off('error', reject); resolve() })
    })
  } catch (error) {
    // Nothing of this call outlives it: its timer, and the sharing it started.
    clearInterval(timer)
    if (!wasSharing) shared.stop()
    throw listenError(error, host, port)
  }
  const bound = (server.address() as { port: number }).port
  const shown = host.includes(':') ? `[${host}]` : host
  const url = `http://${shown}:${bound}/${token === undefined ? '' : `?token=${encodeURIComponent(token)}`}`
  // Said once, where the service's logs are, rather than only as a 404 the page's reader never sees.
  if (!uplotInstalled()) cache.logger.warn({ port: bound }, 'dashboard: uplot is not installed, so the page shows no charts: npm install uplot')
  return {
    url,
    port: bound,
    async close () {
      clearInterval(timer)
      for (const res of clients) res.end()
      clients.clear()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
    },
  }
}
