/**
 * A feature whose optional peer dependency is not installed fails with
 * E_MISSING_DEPENDENCY naming the package (lib/peer-dependency.ts). The
 * errors here are Node's own: modules written outside this repository, where
 * no node_modules resolves `redis` or `pg`, import them. The whole path as a
 * user meets it (a tarball installed without its optional peers) is in
 * test/package.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ErrorCode } from '../lib/index.ts'
import { OPTIONAL_PEERS, importPeer, isMissingPackage, type OptionalPeer } from '../lib/peer-dependency.ts'
import { expectCode } from './helpers/assert-code.ts'

const ROOT = new URL('..', import.meta.url)
const outside = mkdtempSync(join(tmpdir(), 'meshcache-peers-'))
test.after(() => { rmSync(outside, { recursive: true, force: true }) })

/** A module outside the repository with `body` as its text, as a URL to import. */
function moduleOutside (name: string, body: string): string {
  const file = join(outside, name)
  writeFileSync(file, body)
  return pathToFileURL(file).href
}

async function failure (p: Promise<unknown>): Promise<Error> {
  try {
    await p
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a rejection')
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

test('a missing peer (ESM\'s error) becomes E_MISSING_DEPENDENCY naming the package, its range and the command', async () => {
  const url = moduleOutside('uses-redis.mjs', "export * from 'redis'\n")
  const error = await failure(importPeer('redis', async () => await import(url)))
  expectCode(error, ErrorCode.MISSING_DEPENDENCY, /`redis` \(\^5\.0\.0 \|\| \^6\.0\.0\)/)
  assert.match(error.message, /the L2 tier \(the `l2` option, meshcache\/redis\)/)
  assert.match(error.message, /npm install redis$/)
  assert.is((error.cause as { code?: string }).code, 'ERR_MODULE_NOT_FOUND', 'Node\'s error is the cause')
})

test('a peer CommonJS requires and cannot find (CommonJS\'s error) is named too', async () => {
  const url = moduleOutside('uses-pg.cjs', "module.exports = require('pg')\n")
  const error = await failure(importPeer('pg', async () => await import(url)))
  expectCode(error, ErrorCode.MISSING_DEPENDENCY, /`pg` \(\^8\.11\.0\).*meshcache\/postgres|meshcache\/postgres.*`pg` \(\^8\.11\.0\)/)
  assert.is((error.cause as { code?: string }).code, 'MODULE_NOT_FOUND')
})

test('another missing package, or any other failure, is thrown as it is', async () => {
  // A package the peer itself needs is the peer's install to mend, not ours to name as the peer.
  const other = moduleOutside('uses-other.mjs', "export * from 'meshcache-no-such-package'\n")
  const missing = await failure(importPeer('redis', async () => await import(other)))
  assert.is((missing as { code?: string }).code, 'ERR_MODULE_NOT_FOUND')
  assert.match(missing.message, /meshcache-no-such-package/)
  // 'pg' is not 'pg-logical-replication': the name is matched whole.
  const near = moduleOutside('uses-plr.mjs', "export * from 'pg-logical-replication-absent'\n")
  assert.not.ok(isMissingPackage(await failure(import(near)), 'pg-logical-replication'))
  const broken = moduleOutside('broken.mjs', "throw new RangeError('broken at load')\n")
  const thrown = await failure(importPeer('pg', async () => await import(broken)))
  assert.instance(thrown, RangeError)
})

test('an installed peer is loaded as it is', async () => {
  for (const name of Object.keys(OPTIONAL_PEERS) as OptionalPeer[]) {
    const mod = await importPeer(name, async () => await import(name)) as Record<string, unknown>
    assert.ok(Object.keys(mod).length > 0, `${name} loaded`)
  }
})

test.run()
