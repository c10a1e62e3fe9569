/**
 * The `logger` option's contract: the cache's own log lines (repairs, gaps,
 * refused frames, peers coming and going, clears, change-feed failover) go
 * through an injectable logger with levels.
 *
 * The shape is pino's: each level takes an optional object of fields first,
 * then the message, so a pino logger (or a child of one) can be passed as it
 * is, and so can `console` (it prints the object, then the message).
 * Without a logger the lines go to `debuglog` sections (`NODE_DEBUG=meshcache`),
 * as before: the library never prints on its own.
 */
import { debuglog } from 'node:util'
import { invalidOption } from '../errors.ts'

type LogFn = {
  (obj: object, msg?: string, ...args: unknown[]): void
  (msg: string, ...args: unknown[]): void
}

/** pino-compatible; `console` fits too. */
export interface Logger {
  trace: LogFn
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const

/**
 * The default: every level goes to `debuglog(section)`, enabled with
 * `NODE_DEBUG=<section>`; fields are appended as JSON. Costs one boolean
 * check per line while the section is off.
 */
export function debugLogger (section = 'meshcache'): Logger {
  const log = debuglog(section)
  const at = (level: string): LogFn => ((first: unknown, ...rest: unknown[]) => {
    if (!log.enabled) return
    if (typeof first === 'string') {
      log(`${level} ${first}`, ...rest)
      return
    }
    const [msg = '', ...args] = rest as [string?, ...unknown[]]
    log(`${level} ${String(msg)} %j`, ...args, first)
  }) as LogFn
  return { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

/** Checks a `logger` option: every level must be a function (E_INVALID_OPTION names the missing one). */
export function resolveLogger (logger: unknown, section?: string): Logger {
  if (logger === undefined) return debugLogger(section)
  if (logger === null || typeof logger !== 'object') invalidOption('logger', 'must be a pino-compatible logger (trace, debug, info, warn, error)')
  for (const level of LOG_LEVELS) {
    if (typeof (logger as Record<string, unknown>)[level] !== 'function') invalidOption('logger', `must have a ${level}(obj?, msg) function (pino-compatible)`)
  }
  return logger as Logger
}
