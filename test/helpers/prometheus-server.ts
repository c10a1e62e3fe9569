/**
 * A real Prometheus server for tests: Debian's `prometheus` binary with a
 * temporary config and data directory (/tmp/observe-prom-*), on a free
 * loopback port, scraping the given targets and evaluating the given rule
 * files every 250 ms. `stop()` kills it and removes the directory.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './ports.ts'

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus'

export interface PrometheusServer {
  url: string
  /** An instant query; resolves with the API's `data.result`. */
  query(promql: string): Promise<Array<{ metric: Record<string, string>, value: [number, string] }>>
  /** The alerts the rules raised (GET /api/v1/alerts). */
  alerts(): Promise<Array<{ labels: Record<string, string>, state: string }>>
  stop(): Promise<void>
}

/** Starts Prometheus scraping `targets` (host:port), evaluating `ruleFiles` (paths) every 250 ms. */
export async function startPrometheus (targets: string[], ruleFiles: string[] = []): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), 'observe-prom-'))
  const port = await freePort()
  const config = [
    'global:',
    '  scrape_interval: 250ms',
    '  scrape_timeout: 200ms',
    '  evaluation_interval: 250ms',
    ...(ruleFiles.length === 0 ? [] : ['rule_files:', ...ruleFiles.map((f) => `  - ${JSON.stringify(f)}`)]),
    'scrape_configs:',
    '  - job_name: meshcache',
    '    static_configs:',
    `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
  ].join('\n')
  await writeFile(join(dir, 'prometheus.yml'), config)
  const child: ChildProcess = spawn(PROMETHEUS_BIN, [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr?.on('data', (b: Buffer) => { log = (log + b.toString()).slice(-4000) })
  const url = `http://127.0.0.1:${port}`
  // Should the test process end without stop() (an uncaught error), the server and its directory go too.
  const onExit = (): void => {
    if (child.exitCode === null) child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  process.once('exit', onExit)
  const stop = async (): Promise<void> => {
    process.off('exit', onExit)
    if (child.exitCode === null) {
      child.kill('SIGKILL')
      await new Promise((resolve) => child.once('exit', resolve))
    }
    await rm(dir, { recursive: true, force: true })
  }
  try {
    // Ready when its HTTP API answers: polled, since the binary has no other signal.
    const deadline = Date.now() + 30_000
    for (;;) {
      if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}: ${log}`)
      const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)
      if (ready) break
      if (Date.now() > deadline) throw new Error(`prometheus not ready within 30 s: ${log}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } catch (error) {
    await stop()
    throw error
  }
  return {
    url,
    async query (promql) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`)
      const body = await res.json() as { status: string, error?: string, data: { result: any[] } }
      if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.error}`)
      return body.data.result
    },
    async alerts () {
      const body = await (await fetch(`${url}/api/v1/alerts`)).json() as { data: { alerts: Array<{ labels: Record<string, string>, state: string }> } }
      return body.data.alerts
    },
    stop,
  }
}
