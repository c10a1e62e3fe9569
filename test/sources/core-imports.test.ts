/** The core (`meshcache`, `meshcache/testing`) never imports a feature's optional peer: pg and pg-logical-replication load only through `meshcache/postgres`. */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** Every module a file reaches through its imports: relative files followed, packages collected. */
function reach (entry: string): { files: Set<string>, packages: Set<string> } {
  const files = new Set<string>()
  const packages = new Set<string>()
  const visit = (file: string): void => {
    if (files.has(file)) return
    files.add(file)
    const source = readFileSync(file, 'utf8')
    // Static and dynamic imports (not `typeof import(…)`, a type), and the optional peers' requirePeer('…').
    for (const m of source.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|(?<!typeof )import\(\s*['"]([^'"]+)['"]\s*\)|requirePeer(?:<[^>]*>)?\(\s*['"]([^'"]+)['"]/gm)) {
      const spec = (m[1] ?? m[2] ?? m[3] ?? m[4]) as string
      if (/^import\s+type\s|^export\s+type\s/.test(m[0].trim())) continue
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec))
      else packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string))
    }
  }
  visit(entry)
  return { files, packages }
}

test('meshcache and meshcache/testing reach neither pg nor pg-logical-replication; meshcache/postgres does', () => {
  for (const entry of ['lib/index.ts', 'lib/testing/index.ts']) {
    const { files, packages } = reach(resolve(ROOT, entry))
    assert.ok(files.size > 2, `${entry} was followed`)
    assert.not.ok(packages.has('pg'), `${entry} reaches pg`)
    assert.not.ok(packages.has('pg-logical-replication'), `${entry} reaches pg-logical-replication`)
    assert.not.ok([...files].some((f) => f.includes('/sources/postgres')), `${entry} reaches the postgres source`)
  }
  const pg = reach(resolve(ROOT, 'lib/sources/postgres.ts')).packages
  assert.ok(pg.has('pg') && pg.has('pg-logical-replication'))
})

test.run()
