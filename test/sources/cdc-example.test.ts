/** npm run example:cdc runs and shows what it promises: every instance evicts each write, and the slot fails over. */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

test('examples/cdc.ts: psql writes evict on all three instances, and a survivor takes the slot over after kill -9', async () => {
  const script = fileURLToPath(new URL('../../examples/cdc.ts', import.meta.url))
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [script], { timeout: 90_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`cdc.ts failed: ${error.message}\n${stdout}\n${stderr}`))
      else resolve(stdout)
    })
  })
  assert.match(out, /wal_level=logical/)
  for (const key of ['item:1', 'item:11', 'item:3']) {
    assert.is(out.match(new RegExp(`evicted ${key} \\+`, 'g'))?.length, 3, `${key} evicted on three instances`)
  }
  assert.is(out.match(/evicted item:4 \+[\d.]+ ms, item:5 \+[\d.]+ ms, item:6 \+/g)?.length, 3, 'the transaction, on each instance')
  assert.match(out, /took the slot over \d+ ms after the kill/)
  assert.is(out.match(/evicted item:7 \+/g)?.length, 2, 'both survivors evict after the failover')
})

test.run()
