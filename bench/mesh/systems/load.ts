/**
 * Systems are found by file name: bench/mesh/systems/<name>.ts exporting
 * `system`. Adding one (meshcache) needs no registry edit, and a system whose
 * file is still `.pending` is simply absent.
 */
import { existsSync } from 'node:fs'
import type { System } from './types.ts'

export function systemUrl(name: string): URL {
  if (!/^[a-z0-9-]+$/.test(name)) throw new TypeError(`bench: bad system name ${JSON.stringify(name)}`)
  return new URL(`./${name}.ts`, import.meta.url)
}

export function systemExists(name: string): boolean {
  return existsSync(systemUrl(name))
}

export async function loadSystem(name: string): Promise<System> {
  const module = await import(systemUrl(name).href) as { system?: System }
  if (!module.system) throw new TypeError(`bench: ${name}.ts does not export \`system\``)
  return module.system
}
