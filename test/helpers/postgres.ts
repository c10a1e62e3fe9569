/**
 * A throw-away PostgreSQL cluster for tests, benches and the CDC example:
 * `initdb` into /tmp/cdc-*, `wal_level=logical`, a free port on 127.0.0.1
 * and a socket directory inside the data directory's parent, stopped and
 * removed by `stop()` (and, should the process die first, by an exit hook).
 *
 * PostgreSQL refuses to run as root, so as root every server command runs
 * as the `postgres` user (`su postgres -c …`) on a directory chowned to it;
 * as any other user it runs directly. The binaries are found by globbing
 * /usr/lib/postgresql/<version>/bin (highest version first), or PG_BIN.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from './ports.ts'

const run = promisify(execFile)
const AS_ROOT = process.getuid?.() === 0

/** The directory holding initdb, pg_ctl and postgres. */
export function postgresBin (): string {
  if (process.env.PG_BIN !== undefined) return process.env.PG_BIN
  const base = '/usr/lib/postgresql'
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))) : []
  versions.sort((a, b) => Number(b) - Number(a))
  if (versions[0] === undefined) throw new Error(`no PostgreSQL server binaries under ${base}/*/bin (install the postgresql package)`)
  return join(base, versions[0], 'bin')
}

export interface PgCluster {
  readonly port: number
  /** postgres://postgres@127.0.0.1:port/postgres (trusted superuser over TCP). */
  readonly url: string
  readonly dataDir: string
  /** Runs SQL through `psql` (another client, as in production) and returns its unaligned output. */
  psql (sql: string): Promise<string>
  /** Restarts the server, optionally with other settings (e.g. wal_level). */
  restart (settings?: Record<string, string>): Promise<void>
  /** Stops the server at once (`-m immediate`: a crash, as kill -9 would be) without removing anything. */
  crash (): Promise<void>
  /** Starts a stopped server again. */
  start (): Promise<void>
  /** Stops the server and removes its directory. Safe to call twice. */
  stop (): Promise<void>
}

export interface PgClusterOptions {
  /** postgresql.conf settings beside the defaults below. */
  settings?: Record<string, string>
  /** WAL segment size in MB (initdb --wal-segsize); small segments make slot-loss tests fast. @default 16 */
  walSegmentMb?: number
}

/** Runs a server command as the postgres user when we are root. */
async function asPostgres (bin: string, args: string[]): Promise<string> {
  if (!AS_ROOT) return (await run(bin, args)).stdout
  const line = [bin, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ')
  return (await run('su', ['postgres', '-s', '/bin/sh', '-c', line])).stdout
}

export async function startPostgres (options: PgClusterOptions = {}): Promise<PgCluster> {
  const bin = postgresBin()
  const root = mkdtempSync('/tmp/cdc-pg-')
  const dataDir = join(root, 'data')
  if (AS_ROOT) execFileSync('chown', ['postgres:postgres', root])
  const port = await freePort()
  let settings: Record<string, string> = {
    port: String(port),
    listen_addresses: "'127.0.0.1'",
    unix_socket_directories: `'${root}'`,
    wal_level: 'logical',
    max_replication_slots: '10',
    max_wal_senders: '10',
    // A throw-away cluster: durability costs time and proves nothing here.
    fsync: 'off',
    full_page_writes: 'off',
    ...options.settings,
  }
  let running = false
  const cleanup = (): void => {
    if (running) {
      const args = ['-D', dataDir, '-m', 'immediate', 'stop']
      if (AS_ROOT) spawnSync('su', ['postgres', '-s', '/bin/sh', '-c', `${join(bin, 'pg_ctl')} ${args.join(' ')}`])
      else spawnSync(join(bin, 'pg_ctl'), args)
    }
    rmSync(root, { recursive: true, force: true })
  }
  // A run stopped by Ctrl-C or a CI timeout must not leave a server behind: 'exit' alone does not run on signals.
  const onSignal = (signal: NodeJS.Signals): void => {
    cleanup()
    process.kill(process.pid, signal)
  }
  process.once('exit', cleanup)
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    await asPostgres(join(bin, 'initdb'), ['-D', dataDir, '--auth=trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync',
      ...(options.walSegmentMb !== undefined ? [`--wal-segsize=${options.walSegmentMb}`] : [])])
    // The superuser is trusted over TCP (tests drive it with psql); every other role needs its password,
    // so a wrong password is a real authentication failure.
    const hba = ['local all all trust', 'host all postgres 127.0.0.1/32 trust', 'host replication postgres 127.0.0.1/32 trust',
      'host all all 127.0.0.1/32 scram-sha-256', 'host replication all 127.0.0.1/32 scram-sha-256', '']
    await asPostgres('/bin/sh', ['-c', `printf '%s\\n' ${hba.map((l) => `'${l}'`).join(' ')} > ${join(dataDir, 'pg_hba.conf')}`])
  } catch (error) {
    cleanup()
    process.off('exit', cleanup)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    throw error
  }
  const writeConf = async (): Promise<void> => {
    const conf = Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n')
    await asPostgres('/bin/sh', ['-c', `printf '%s\\n' '${conf.replaceAll("'", "'\\''")}' > ${join(dataDir, 'postgresql.auto.conf')}`])
  }
  const pgCtl = async (...args: string[]): Promise<void> => {
    await asPostgres(join(bin, 'pg_ctl'), ['-D', dataDir, '-l', join(root, 'server.log'), '-w', '-t', '30', ...args])
  }
  const cluster: PgCluster = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dataDir,
    async psql (sql) {
      return (await runPsql(port, sql)).trim()
    },
    async restart (next) {
      if (next !== undefined) settings = { ...settings, ...next }
      await writeConf()
      await pgCtl('-m', 'fast', 'restart')
      running = true
    },
    async crash () {
      await pgCtl('-m', 'immediate', 'stop')
      running = false
    },
    async start () {
      await pgCtl('start')
      running = true
    },
    async stop () {
      if (!existsSync(root)) return
      if (running) await pgCtl('-m', 'fast', 'stop').catch(() => {})
      running = false
      cleanup()
      process.off('exit', cleanup)
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
  try {
    await writeConf()
    await pgCtl('start')
    running = true
  } catch (error) {
    const log = existsSync(join(root, 'server.log')) ? spawnSync('cat', [join(root, 'server.log')]).stdout.toString() : ''
    cleanup()
    process.off('exit', cleanup)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    throw new Error(`PostgreSQL did not start: ${(error as Error).message}\n${log}`)
  }
  return cluster
}

/** psql with the SQL on stdin: one statement per line is one transaction unless BEGIN groups them. */
function runPsql (port: number, sql: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres',
      '-v', 'ON_ERROR_STOP=1', '-qAtX', '-f', '-'], { maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`psql failed: ${stderr || error.message}`))
      else resolve(stdout)
    })
    child.stdin?.end(sql)
  })
}

