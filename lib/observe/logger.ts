/**
 * The `logger` option: the shape pino, bunyan-style and console-like loggers
 * share (a method per level taking an optional object, then a message), so a
 * service's own logger receives meshcache's diagnostics. Without one,
 * meshcache logs through libp2p's `debug` loggers (`DEBUG=meshcache*`): the
 * library never prints unless asked.
 */
import { format } from 'node:util'
import { logger as debugLogger } from '@libp2p/logger'
import type { ComponentLogger, Logger as Libp2pLogger } from '@libp2p/interface'
import { invalidOption } from '../errors.ts'

type LogMethod = (objOrMsg?: object | string, msg?: string) => void

/** A pino-compatible logger: `logger.warn({ peer }, 'dial failed')`. */
export interface MeshLogger {
  trace: LogMethod
  debug: LogMethod
  info: LogMethod
  warn: LogMethod
  error: LogMethod
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const

export function checkLogger (value: unknown): MeshLogger | undefined {
  if (value === undefined) return undefined
  const missing = LEVELS.filter((l) => typeof (value as Record<string, unknown> | null)?.[l] !== 'function')
  if (missing.length !== 0) invalidOption('logger', `must have trace, debug, info, warn and error methods (as pino's), missing ${missing.join(', ')}`)
  return value as MeshLogger
}

/** The default: libp2p's debug logger for `name`, seen with `DEBUG=<name>*`. */
export function defaultLogger (name: string): MeshLogger {
  const log = debugLogger(name)
  const at = (write: (fmt: string, ...args: unknown[]) => void): LogMethod => (objOrMsg, msg) => {
    if (!log.enabled) return
    if (typeof objOrMsg === 'string') write(objOrMsg)
    else write(`${msg ?? ''} %o`, objOrMsg ?? {})
  }
  return { trace: at(log.trace), debug: at(log), info: at(log), warn: at(log.error), error: at(log.error) }
}

/**
 * libp2p's own format specifiers (`%p` a peer id, `%a` a multiaddr, `%e` an
 * error, `%c` a CID, `%b`/`%t` bytes) as `%s`: util.format knows none of
 * them, and left `%a` in the line with the value appended after it. Each of
 * those values prints itself as text; a `%%` stays a literal percent.
 */
const LIBP2P_SPECIFIERS = /(?<!%)%[paectb]/g

/**
 * A libp2p ComponentLogger writing to `logger`, so the transport's logs go to
 * the same place, formatted as the `debug` logger would.
 */
export function toComponentLogger (logger: MeshLogger): ComponentLogger {
  const forComponent = (component: string): Libp2pLogger => {
    const write = (level: 'trace' | 'debug' | 'error') => (formatter: unknown, ...args: unknown[]) => {
      logger[level]({ component }, format(String(formatter).replace(LIBP2P_SPECIFIERS, '%s'), ...args))
    }
    return Object.assign(write('debug'), {
      error: write('error'),
      trace: write('trace'),
      enabled: true,
      newScope: (name: string) => forComponent(`${component}:${name}`),
    })
  }
  return { forComponent }
}
