/**
 * Assertions that a call fails with a typed MeshCacheError of a given code
 * (and, optionally, a message matching a pattern): every failure path of the
 * library has a test, and these are how the suites check one.
 */
import * as assert from 'uvu/assert'
import { MeshCacheError } from '../../lib/index.ts'

export function expectCode (error: unknown, code: string, pattern?: RegExp): void {
  assert.instance(error, MeshCacheError)
  assert.is((error as MeshCacheError).code, code, (error as Error).message)
  if (pattern !== undefined) assert.match((error as Error).message, pattern)
}

export function throwsCode (fn: () => unknown, code: string, pattern?: RegExp): void {
  try {
    fn()
  } catch (error) {
    return expectCode(error, code, pattern)
  }
  assert.unreachable(`expected ${code}`)
}

export async function rejectsCode (p: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  try {
    await p
  } catch (error) {
    return expectCode(error, code, pattern)
  }
  assert.unreachable(`expected ${code}`)
}
