/**
 * The examples the README points to must run and say what they promise
 * (npm run demo has its own test: demo.test.ts).
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

function run (name: string, env: Record<string, string> = {}): Promise<string> {
  const script = fileURLToPath(new URL(`../examples/${name}`, import.meta.url))
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script], { timeout: 60_000, env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${name} failed: ${error.message}\n${stdout}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

test('examples/quickstart.ts: one load for concurrent callers, a remote write evicts, invalidate drops', async () => {
  const out = await run('quickstart.ts')
  assert.match(out, /two instances connected/)
  assert.match(out, /3 concurrent getOrLoad -> ada@example\.com, 1 database read/)
  assert.match(out, /a: set user:42 -> b evicted its copy [\d.]+ ms later/)
  assert.match(out, /b: getOrLoad -> ada@newer\.example \(2 database reads\)/)
  assert.match(out, /a: set user:43, whenReplicated -> every peer has applied it/)
  assert.match(out, /b\.get\('user:42'\) is undefined/)
  assert.match(out, /protocol errors 0/)
})

test('examples/testing.ts: the service test passes on the lossy seeded network', async () => {
  for (const seed of ['7', '2', '5']) {
    const out = await run('testing.ts', { SEED: seed })
    assert.match(out, new RegExp(`SEED=${seed} replays this run`))
    assert.match(out, /healed: us dropped 90 and reloads 80/)
    assert.match(out, /\nok\n$/)
  }
})

test('examples/observe.ts: metrics in a registry, the audit catching a write that bypassed the cache, a dashboard URL', async () => {
  const out = await run('observe.ts')
  assert.match(out, /dashboard: http:\/\/127\.0\.0\.1:\d+\//)
  assert.match(out, /b reads sku-1 = 120 \(the audit agrees\)/)
  assert.match(out, /stale read: sku-1 served by api-b, \d+ ms after the source changed/)
  assert.match(out, /meshcache_audit_stale_total\{namespace="prices",instance="api-b"\} 1/)
  assert.match(out, /meshcache_peers\{namespace="prices",instance="api-a"\} 1/)
  assert.match(out, /meshcache_transport_connections\{namespace="prices",instance="api-b"\} 1/, 'the transport\'s figures beside the cache\'s')
})

test('examples/l2.ts: L2 fills, an L2 hit spares the database, writes and deletes go through', async () => {
  const out = await run('l2.ts')
  assert.match(out, /a: getOrLoad -> ada@example\.com \(1 database read\)/)
  assert.match(out, /b: getOrLoad -> ada@example\.com \(1 database read, L2 hits 1\)/)
  assert.match(out, /b: getOrLoad -> ada@newer\.example \(1 database read, from L2\)/)
  assert.match(out, /L2 holds a tombstone \(kind t\); b: getOrLoad -> ada@newer\.example \(from the database: 2 reads\)/)
  assert.match(out, /errors 0, breaker closed/, `a's L2 stats:\n${out}`)
  assert.not.match(out, /failed: /, `no L2 call failed:\n${out}`)
})

test.run()
