/**
 * Input refused at the API with a typed error, changing nothing (issue 16:
 * finding 7, the minor input gaps, and the writer's half of finding 1).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMeshCache, ErrorCode, MeshCacheError } from '../lib/index.ts'
import { createMemoryNetwork } from '../lib/testing/index.ts'
import { cluster } from './helpers/cluster.ts'

function throwsCode (fn: () => unknown, code: string, includes: string[] = []): void {
  try {
    fn()
  } catch (error) {
    assert.instance(error, MeshCacheError)
    assert.is((error as MeshCacheError).code, code, (error as Error).message)
    for (const s of includes) assert.ok((error as Error).message.includes(s), `message names ${s}: ${(error as Error).message}`)
    return
  }
  assert.unreachable(`expected ${code}`)
}

async function rejectsCode (p: Promise<unknown>, code: string): Promise<void> {
  try {
    await p
  } catch (error) {
    assert.is((error as MeshCacheError).code, code, (error as Error).message)
    return
  }
  assert.unreachable(`expected ${code}`)
}

test('keys with a lone surrogate are refused everywhere a key is named, and nothing changes (finding 7)', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2, { mode: 'replicate' })
  b!.set('user:\uFFFD', 'unrelated')
  await net.flush()
  for (const key of ['user:\uD800', 'user:\uDC00x', '\uDBFF', 'pair:\uDE00\uD83D']) { // the last: a pair's halves, the wrong way round
    throwsCode(() => a!.set(key, 'v'), ErrorCode.INVALID_ARGUMENT, ['lone surrogate'])
    throwsCode(() => a!.delete(key), ErrorCode.INVALID_ARGUMENT)
    throwsCode(() => a!.invalidate(key), ErrorCode.INVALID_ARGUMENT)
    throwsCode(() => a!.set('ok', 'v', { dependsOn: [key] }), ErrorCode.INVALID_ARGUMENT)
    throwsCode(() => a!.set('ok', 'v', { tags: [key] }), ErrorCode.INVALID_ARGUMENT)
    throwsCode(() => a!.invalidateTag(key), ErrorCode.INVALID_ARGUMENT)
    await rejectsCode(a!.getOrLoad(key, async () => 'v'), ErrorCode.INVALID_ARGUMENT)
  }
  await net.flush()
  assert.is(a!.inspect('ok'), undefined, 'nothing was written')
  assert.is(b!.get('user:\uFFFD'), 'unrelated', 'the peer kept the unrelated key')
  assert.is(a!.get('user:\uFFFD'), 'unrelated')
  // A well-formed pair is a valid key.
  a!.set('emoji:\uD83D\uDE00', 'v')
  await net.flush()
  assert.is(b!.get('emoji:\uD83D\uDE00'), 'v')
  await close()
})

test('max above 2^32 - 1 is E_INVALID_OPTION, not a RangeError', async () => {
  const net = createMemoryNetwork()
  for (const max of [2 ** 32 + 1, 2 ** 32]) {
    try {
      const cache = await createMeshCache({ namespace: 'x', max, transport: net.transport('a') })
      await cache.close()
      assert.unreachable('accepted')
    } catch (error) {
      assert.is((error as MeshCacheError).code, ErrorCode.INVALID_OPTION, String(error))
      assert.ok((error as Error).message.includes('max'))
    }
  }
})

test('set options: local must be a boolean', async () => {
  const { nodes: [a, b], net, close } = await cluster<string>(2, { mode: 'replicate' })
  for (const local of ['yes', 1, null]) {
    throwsCode(() => a!.set('k', 'v', { local } as never), ErrorCode.INVALID_ARGUMENT, ['local'])
  }
  await net.flush()
  assert.is(a!.get('k'), undefined, 'nothing was stored')
  assert.is(b!.get('k'), undefined, 'nothing was sent')
  await close()
})

test('replicate mode: set refuses a value over maxValueBytes with E_VALUE_TOO_LARGE naming key, size and limit (finding 1)', async () => {
  // codec 'json': the sizes named below are JSON's (the default msgpack adds 5 bytes, not 2, to this string)
  const { nodes: [a, b], net, close } = await cluster<string>(2, { mode: 'replicate', codec: 'json' })
  a!.set('k', 'old')
  await net.flush()
  const big = 'x'.repeat(600_000)
  throwsCode(() => a!.set('k', big), ErrorCode.VALUE_TOO_LARGE, ['"k"', '600002', '524288'])
  await net.flush()
  assert.is(a!.get('k'), 'old', 'nothing changed here')
  assert.is(b!.get('k'), 'old', 'nothing was sent')
  assert.is(a!.inspect('k')?.vv.length, 2, 'no write was numbered')
  await close()
})

test('replicate mode: the limit is the configured limits.maxValueBytes', async () => {
  const { nodes: [a], close } = await cluster<string>(1, { mode: 'replicate', codec: 'json', limits: { maxValueBytes: 100 } })
  a!.set('small', 'x'.repeat(98)) // 100 bytes as JSON
  throwsCode(() => a!.set('big', 'x'.repeat(99)), ErrorCode.VALUE_TOO_LARGE, ['"big"', '101', '100'])
  await close()
})

test('invalidate mode sends no values: a large value is fine', async () => {
  const { nodes: [a], close } = await cluster<string>(1, { limits: { maxValueBytes: 100 } })
  a!.set('big', 'x'.repeat(1_000))
  assert.is(a!.get('big')?.length, 1_000)
  await close()
})

test.run()
