/**
 * bench/README.md's table of bench:mesh systems names every system there is: a system added without its row
 * would be run and compared by a reader who cannot tell what it measures.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readdirSync, readFileSync } from 'node:fs'

const dir = new URL('../bench/mesh/systems/', import.meta.url)
const readme = readFileSync(new URL('../bench/README.md', import.meta.url), 'utf8')

test('every bench:mesh system has its row in bench/README.md\'s table, and every row a system', () => {
  const systems = readdirSync(dir).filter((f) => f.endsWith('.ts') && /^export const system\b/m.test(readFileSync(new URL(f, dir), 'utf8'))).map((f) => f.slice(0, -3))
  assert.ok(systems.length >= 15, `found ${systems.length} systems`)
  const rows = [...readme.matchAll(/^\| `([a-z0-9-]+)` \| /gm)].map((m) => m[1] as string)
  for (const name of systems) assert.ok(rows.includes(name), `bench/README.md has no row for the system ${name}`)
  const named = new Set(systems)
  for (const row of rows.filter((r) => /^(tcp|redis|libp2p-stream|meshcache)/.test(r))) assert.ok(named.has(row), `bench/README.md's row ${row} names no system in bench/mesh/systems/`)
})

test.run()
