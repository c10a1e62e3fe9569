/**
 * `npm run demo` is the README's first command: it must keep working. Runs
 * the real demo (five processes over libp2p on loopback) and checks its
 * timeline tells the story it promises.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

test('npm run demo: evictions, a partition with stale sides, and convergence after the heal', async () => {
  const script = fileURLToPath(new URL('../examples/demo.ts', import.meta.url))
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [script], { timeout: 90_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`demo failed: ${error.message}\n${stdout}\n${stderr}`))
      else resolve(stdout)
    })
  })
  assert.match(out, /mesh formed: every instance connected to the 4 others/)
  assert.match(out, /dashboard of the whole mesh \(served by n0\): http:\/\/127\.0\.0\.1:\d+\//, 'the dashboard URL is printed')
  assert.is(out.match(/evicted user:42 \(remote\) [\d.]+ ms after the write/g)?.length, 8, 'four evictions per write, two writes')
  assert.match(out, /n0 \(eu-west\) reads price:sku-1 = "100"  \[cache\]/, 'side A serves its stale copy during the partition')
  assert.match(out, /every instance holds the same version of every key [\d.]+ ms after the heal/)
  const after = out.slice(out.indexOf('4. heal'))
  assert.not.match(after, /reads price:sku-1 = "100"/, 'no stale price after the heal')
  assert.not.match(after, /reads user:42 = "Ada <ada@newer.example>"/, 'no stale user after the heal')
  assert.match(out, /protocol errors 0/)
})

test.run()
