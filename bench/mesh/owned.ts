/**
 * Processes started by the bench die with it: on normal exit, on an uncaught
 * error, on SIGINT/SIGTERM/SIGHUP. Node processes also exit on their own when
 * their IPC channel closes (node.ts), so even a SIGKILLed bench leaves no
 * node behind; a redis-server would survive that one case.
 */
import type { ChildProcess } from 'node:child_process'

const owned = new Set<ChildProcess>()
let installed = false

function killAll(): void {
  for (const child of owned) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  owned.clear()
}

function install(): void {
  if (installed) return
  installed = true
  process.on('exit', killAll)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll()
      process.stderr.write(`\nbench: ${signal}, stopped every child process\n`)
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1))
    })
  }
}

/** Registers `child` to be killed when the bench exits; forgets it once it has exited. */
export function own<T extends ChildProcess>(child: T): T {
  install()
  owned.add(child)
  child.once('exit', () => owned.delete(child))
  return child
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stop(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}
