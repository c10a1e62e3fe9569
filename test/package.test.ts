/**
 * The package as a user gets it (issue 17 §6): `npm pack`, then install the
 * tarball into a temporary consumer project, type-check a consumer file and
 * the README's snippets there under strict + exactOptionalPropertyTypes, and
 * run the consumer against two instances. Also: everything the README links
 * to is in the tarball, no shipped .d.ts cites a file that is not, and on a
 * Node older than 22 (when the machine has one) createMeshCache refuses.
 *
 * Needs real time and the npm cache: dependencies install with
 * --prefer-offline from what this repo's own install cached.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = join(ROOT, 'node_modules/.bin')
const env = { ...process.env, PATH: `${BIN}:${process.env.PATH ?? ''}`, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' }
const work = mkdtempSync(join(tmpdir(), 'firsthour-pack-'))
let tarball = ''
let files: string[] = []

test.before(() => {
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  const [info] = JSON.parse(out.slice(out.indexOf('['))) as Array<{ filename: string, files: Array<{ path: string }> }>
  tarball = join(work, info!.filename)
  files = info!.files.map((f) => f.path)
})

test.after(() => { rmSync(work, { recursive: true, force: true }) })

test('the tarball ships what the README links to, and a LICENSE', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const links = [...readme.matchAll(/\]\(([^)#:]+)(?:#[^)]*)?\)/g)].map((m) => m[1] as string)
  assert.ok(links.length >= 5, 'the README links to files')
  for (const link of links) assert.ok(files.includes(link), `README links to ${link}, which the package does not ship`)
  assert.ok(files.includes('LICENSE'), 'a LICENSE')
  assert.match(readFileSync(join(ROOT, 'LICENSE'), 'utf8'), /MIT License/)
})

test('no shipped .d.ts cites a file the package does not ship', () => {
  const cited = /\b((?:docs|bench|test|examples|lib|protocol)\/[\w./-]+\.(?:md|ts|json)|[A-Z]+\.md)\b/g
  for (const f of files.filter((x) => x.endsWith('.d.ts'))) {
    const text = execFileSync('tar', ['-xzOf', tarball, `package/${f}`], { encoding: 'utf8' })
    for (const [, path] of text.matchAll(cited)) {
      const p = path as string
      const shipped = files.includes(p) || files.includes(p.replace(/\.ts$/, '.js')) || files.some((x) => x.endsWith(`/${p}`))
      assert.ok(shipped, `${f} cites ${p}, which is not in the package`)
    }
  }
})

/** A consumer project with the tarball installed (dependencies from the npm cache). */
function consumerProject (): string {
  const dir = join(work, 'consumer')
  if (existsSync(join(dir, 'node_modules/meshcache'))) return dir
  execFileSync('mkdir', ['-p', dir])
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  // With the optional peers the README's snippets import (meshcache/redis, meshcache/postgres: all three), at the exact versions
  // this repo has installed, not its ranges: a range picks up a release mid-publish (redis 6.4.0 before its
  // @redis/bloom 6.4.0 was on the registry failed a CI run), and the installed ones are in the npm cache.
  const installed = (name: string): string => (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
  const peers = ['redis', 'pg', 'pg-logical-replication', '@types/pg'].map((name) => `${name}@${installed(name)}`)
  execFileSync('npm', ['install', '--prefer-offline', '--no-save', '--ignore-scripts', tarball, ...peers], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 })
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'es2023', lib: ['es2023'], module: 'nodenext', moduleResolution: 'nodenext', types: ['node'],
      typeRoots: [join(ROOT, 'node_modules/@types')], strict: true, exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true, noEmit: true, allowImportingTsExtensions: true,
      // as most projects: libp2p's own .d.ts files need the DOM lib (EventInit, JsonWebKey)
      skipLibCheck: true,
    },
    include: ['*.ts'],
  }))
  return dir
}

function tsc (dir: string): { ok: boolean, output: string } {
  const r = spawnSync(join(BIN, 'tsc'), ['-p', dir], { env, encoding: 'utf8' })
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` }
}

/** The README's ```ts blocks as modules, with declarations of the names they take from the reader's service. */
const PRELUDE = `interface User { id: number, email: string }
declare const db: { users: { find (id: number): Promise<User>, update (id: number, patch: Partial<User>): Promise<void> } }
declare const email: string
declare const updated: User
`

test('the README snippets compile under strict + exactOptionalPropertyTypes against the installed package', () => {
  const dir = consumerProject()
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string)
  assert.ok(snippets.length >= 3)
  snippets.forEach((code, i) => {
    const imports = code.split('\n').filter((l) => l.startsWith('import '))
    const body = code.split('\n').filter((l) => !l.startsWith('import ')).join('\n')
    // A snippet that goes on from an earlier one uses its `cache`.
    const cache = /\bconst cache\b/.test(body) ? '' : "declare const cache: import('meshcache').MeshCache<any>\n"
    writeFileSync(join(dir, `readme-${i}.ts`), `${imports.join('\n')}\n${PRELUDE}${cache}\n${body}\nexport {}\n`)
  })
  const r = tsc(dir)
  assert.ok(r.ok, `tsc failed:\n${r.output}`)
})

test('a consumer type-checks and runs against two instances', () => {
  const dir = consumerProject()
  copyFileSync(fileURLToPath(new URL('./package/consumer.ts', import.meta.url)), join(dir, 'consumer.ts'))
  const r = tsc(dir)
  assert.ok(r.ok, `tsc failed:\n${r.output}`)
  const run = spawnSync(process.execPath, ['consumer.ts'], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 })
  assert.is(run.status, 0, `consumer failed:\n${run.stdout}${run.stderr}`)
  const result = JSON.parse(run.stdout.trim().split('\n').pop() as string)
  assert.equal(result, { ok: true, name: 'Ada', since: '1970-01-01T00:00:00.000Z', peerErrors: 0 })
})

/** A project with the tarball installed as npm installs it for a user: alone, no optional peer (consumerProject has them). */
function peerlessProject (): string {
  const dir = join(work, 'no-peers')
  if (existsSync(join(dir, 'node_modules/meshcache'))) return dir
  execFileSync('mkdir', ['-p', dir])
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'no-peers', private: true, type: 'module' }))
  execFileSync('npm', ['install', '--prefer-offline', '--no-save', '--ignore-scripts', tarball], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 })
  for (const peer of ['redis', 'pg', 'pg-logical-replication']) assert.not.ok(existsSync(join(dir, 'node_modules', peer)), `npm installed ${peer}`)
  return dir
}

test('without its optional peers the core runs, and l2, meshcache/redis and meshcache/postgres name what to install', () => {
  const dir = peerlessProject()
  copyFileSync(fileURLToPath(new URL('./package/no-peers.mjs', import.meta.url)), join(dir, 'no-peers.mjs'))
  const run = spawnSync(process.execPath, ['no-peers.mjs'], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 })
  assert.is(run.status, 0, `no-peers.mjs failed:\n${run.stdout}${run.stderr}`)
  const result = JSON.parse(run.stdout.trim().split('\n').pop() as string) as Record<string, { ok?: true, code?: string, message?: string, value?: unknown }>
  assert.equal(result.core, { ok: true }, 'the core needs no optional peer')
  assert.equal(result.prometheus, { ok: true }, 'meshcache/prometheus uses the registry it is given')
  assert.equal(result.otel, { ok: true }, 'meshcache/otel uses the meter it is given')
  // The dashboard runs without uplot, says so in the service's log, and its chart script is a 404.
  assert.equal(result.dashboard, { ok: true, value: { warnings: ['dashboard: uplot is not installed, so the page shows no charts: npm install uplot'], chart: 404 } })
  for (const [what, peer] of [['l2', 'redis'], ['redis', 'redis'], ['postgres', 'pg']] as const) {
    assert.is(result[what]?.code, 'E_MISSING_DEPENDENCY', `${what}: ${JSON.stringify(result[what])}`)
    assert.match(result[what]?.message ?? '', new RegExp(`\`${peer}\`.*npm install ${peer}$`), what)
  }
})

/** What `require()` of each entry gives in `dir`, run as a CommonJS script: 'ok' or the error's code. */
function requireEach (dir: string, entries: string[]): Record<string, string> {
  const script = `const out = {}; for (const s of ${JSON.stringify(entries)}) { try { require(s); out[s] = 'ok' } catch (e) { out[s] = e.code } }; console.log(JSON.stringify(out))`
  const run = spawnSync(process.execPath, ['--input-type=commonjs', '-e', script], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 })
  assert.is(run.status, 0, `${run.stdout}${run.stderr}`)
  return JSON.parse(run.stdout.trim().split('\n').pop() as string) as Record<string, string>
}

test('a CommonJS service can require() the package and its subpaths (no top-level await in them)', () => {
  const entries = ['meshcache', 'meshcache/testing', 'meshcache/redis', 'meshcache/postgres', 'meshcache/observe', 'meshcache/prometheus', 'meshcache/otel', 'meshcache/dashboard']
  const got = requireEach(consumerProject(), entries)
  assert.equal(got, Object.fromEntries(entries.map((e) => [e, 'ok'])))
  // Without the peers, as from import: the typed error, thrown by require() itself.
  assert.equal(requireEach(peerlessProject(), ['meshcache', 'meshcache/redis', 'meshcache/postgres']),
    { meshcache: 'ok', 'meshcache/redis': 'E_MISSING_DEPENDENCY', 'meshcache/postgres': 'E_MISSING_DEPENDENCY' })
})

test('on Node older than 22, createMeshCache refuses with E_UNSUPPORTED_RUNTIME', () => {
  const old = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => {
    if (!existsSync(p)) return false
    const v = spawnSync(p, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim()
    return Number.parseInt(v, 10) < 22
  })
  if (old === undefined) {
    console.log('  (no Node older than 22 on this machine: the runtime check is covered by test/options-edges.test.ts)')
    return
  }
  const dir = consumerProject()
  copyFileSync(fileURLToPath(new URL('./package/old-node.mjs', import.meta.url)), join(dir, 'old-node.mjs'))
  const run = spawnSync(old, ['old-node.mjs'], { cwd: dir, encoding: 'utf8', timeout: 60_000 })
  const result = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}')
  assert.is(result.code, 'E_UNSUPPORTED_RUNTIME', `${old}: ${run.stdout}${run.stderr}`)
  assert.match(result.message, /needs Node 22 or newer/)
})

test.run()
