/**
 * A feature whose optional peer dependency is not installed fails with
 * E_MISSING_DEPENDENCY naming the package (lib/peer-dependency.ts). The
 * errors here are Node's own: modules written outside this repository, where
 * no node_modules resolves `redis` or `pg`, import them. The whole path as a
 * user meets it (a tarball installed without its optional peers) is in
 * test/package.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ErrorCode } from '../lib/index.ts'
import { OPTIONAL_PEERS, isMissingPackage, requirePeer, type OptionalPeer } from '../lib/peer-dependency.ts'
import { expectCode } from './helpers/assert-code.ts'

const ROOT = new URL('..', import.meta.url)
const outside = mkdtempSync(join(tmpdir(), 'meshcache-peers-'))
test.after(() => { rmSync(outside, { recursive: true, force: true }) })

/** A module outside the repository with `body` as its text: its path. */
function moduleOutside (name: string, body: string): string {
  const file = join(outside, name)
  writeFileSync(file, body)
  return file
}

/** What `fn` throws (it must). */
function failure (fn: () => unknown): Error {
  try {
    fn()
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a throw')
}

async function rejection (p: Promise<unknown>): Promise<Error> {
  return await p.then(() => { throw new Error('expected a rejection') }, (error: unknown) => error as Error)
}

/** require() from outside the repository, where no node_modules holds the peers. */
function requireOutside (file: string): unknown {
  return createRequire(file)(file)
}

test('each optional peer a feature loads has package.json\'s range and is optional there', () => {
  const pkg = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as {
    peerDependencies: Record<string, string>, peerDependenciesMeta: Record<string, { optional?: boolean }>
  }
  for (const [name, { range }] of Object.entries(OPTIONAL_PEERS)) {
    assert.is(pkg.peerDependencies[name], range, `${name}'s range`)
    assert.is(pkg.peerDependenciesMeta[name]?.optional, true, `${name} is optional`)
  }
  // Every peer is optional: the core installs without any of them.
  assert.equal(Object.keys(pkg.peerDependenciesMeta).sort(), Object.keys(pkg.peerDependencies).sort())
})

test('package.json names each peer dependency once (JSON.parse keeps a repeated key\'s last value silently)', () => {
  const text = readFileSync(new URL('package.json', ROOT), 'utf8')
  for (const block of ['peerDependencies', 'peerDependenciesMeta', 'dependencies', 'devDependencies', 'scripts']) {
    const body = new RegExp(`"${block}": \\{([\\s\\S]*?)\\n  \\}`).exec(text)?.[1]
    assert.ok(body !== undefined, `package.json has ${block}`)
    const keys = [...body.matchAll(/^ {4}"([^"]+)":/gm)].map((m) => m[1])
    assert.ok(keys.length > 0, `${block} has keys`)
    assert.equal(keys, [...new Set(keys)], `a key repeats in ${block}`)
  }
})

test('a missing peer becomes E_MISSING_DEPENDENCY naming the package, its range and the command', () => {
  const file = moduleOutside('uses-redis.cjs', "module.exports = require('redis')\n")
  const error = failure(() => requirePeer('redis', () => requireOutside(file)))
  expectCode(error, ErrorCode.MISSING_DEPENDENCY, /`redis` \(\^5\.0\.0 \|\| \^6\.0\.0\)/)
  assert.match(error.message, /the L2 tier \(the `l2` option, meshcache\/redis\)/)
  assert.match(error.message, /npm install redis$/)
  assert.is((error.cause as { code?: string }).code, 'MODULE_NOT_FOUND', 'Node\'s error is the cause')
  const pg = failure(() => requirePeer('pg', () => requireOutside(moduleOutside('uses-pg.cjs', "module.exports = require('pg')\n"))))
  expectCode(pg, ErrorCode.MISSING_DEPENDENCY, /^meshcache\/postgres needs the package `pg` \(\^8\.11\.0\)/)
})

test('ESM\'s "cannot find" is recognised too, by the whole name', async () => {
  const error = await rejection(import(pathToFileURL(moduleOutside('uses-redis.mjs', "export * from 'redis'\n")).href))
  assert.is((error as { code?: string }).code, 'ERR_MODULE_NOT_FOUND')
  assert.ok(isMissingPackage(error, 'redis'))
  // 'pg' is not 'pg-logical-replication', nor the other way round.
  assert.not.ok(isMissingPackage(error, 'redi'))
  const near = await rejection(import(pathToFileURL(moduleOutside('uses-plr.mjs', "export * from 'pg-logical-replication-absent'\n")).href))
  assert.not.ok(isMissingPackage(near, 'pg-logical-replication'))
  assert.not.ok(isMissingPackage(failure(() => requireOutside(moduleOutside('uses-plr.cjs', "require('pg-logical-replication')\n"))), 'pg'))
})

test('another missing package, or any other failure, is thrown as it is', () => {
  // A package the peer itself needs is the peer's install to mend, not ours to name as the peer.
  const other = failure(() => requirePeer('redis', () => requireOutside(moduleOutside('uses-other.cjs', "require('meshcache-no-such-package')\n"))))
  assert.is((other as { code?: string }).code, 'MODULE_NOT_FOUND')
  assert.match(other.message, /meshcache-no-such-package/)
  const thrown = failure(() => requirePeer('pg', () => requireOutside(moduleOutside('broken.cjs', "throw new RangeError('broken at load')\n"))))
  assert.instance(thrown, RangeError)
})

test('an installed peer is loaded, the module import gives', async () => {
  for (const name of Object.keys(OPTIONAL_PEERS) as OptionalPeer[]) {
    const mod = requirePeer<Record<string, unknown>>(name)
    const imported = await import(name) as { default: unknown }
    assert.ok(Object.keys(mod).length > 0, `${name} loaded`)
    assert.is(mod, imported.default, `${name}: the same module as import's`)
  }
})

test.run()
