/**
 * Options of the repo's own command-line scripts (the benches, the seed runs
 * and the soak). `parseArgs` alone answers `--help`, or an option typed wrong, with
 * its stack trace; a user trying `npm run bench:scale -- --help` should get
 * the usage instead. So every script parses through `parseCli`:
 * - `--help` or `-h` prints the usage on stdout and exits 0;
 * - an unknown option, a missing value or a stray argument prints one line
 *   naming it, then the usage, on stderr, and exits 2.
 * `readCli` is the same without printing or exiting (what the tests call).
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util'

type Values<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ options: O, args: string[] }>>['values']

export type CliResult<V> =
  | { ok: true, values: V }
  | { ok: false, exitCode: 0 | 2, text: string }

const HELP = { type: 'boolean', short: 'h' } as const

/** Parses `args` against `options` (plus `--help`/`-h`); never throws for bad input. */
export function readCli<const O extends ParseArgsOptionsConfig> (usage: string, options: O, args: string[]): CliResult<Values<O>> {
  if ('help' in options) throw new TypeError('readCli: --help is added by readCli itself')
  let values: Values<O>
  try {
    values = parseArgs({ args, options: { ...options, help: HELP } as O, strict: true, allowPositionals: false }).values
  } catch (error) {
    return { ok: false, exitCode: 2, text: `${(error as Error).message}\n${usage}\n` }
  }
  if ((values as { help?: boolean }).help === true) return { ok: false, exitCode: 0, text: `${usage}\n` }
  return { ok: true, values }
}

/** `readCli` over this process's arguments: prints and exits for `--help` or bad input, else returns the values. */
export function parseCli<const O extends ParseArgsOptionsConfig> (usage: string, options: O): Values<O> {
  const result = readCli(usage, options, process.argv.slice(2))
  if (result.ok) return result.values
  const out = result.exitCode === 0 ? process.stdout : process.stderr
  out.write(result.text)
  process.exit(result.exitCode)
}

/**
 * An option's value `text` as a number of at least `min`, an integer unless `integer` is false; otherwise a
 * TypeError naming the script and the option (`script: --name must be an integer >= min, got text`).
 */
export function numberOption (script: string, name: string, text: string, min: number, integer = true): number {
  const value = Number(text)
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new TypeError(`${script}: --${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${text}`)
  }
  return value
}
