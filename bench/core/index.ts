/**
 * meshcache core benchmarks: one run, every figure beside its baseline.
 *
 *   node --expose-gc bench/core/index.ts [get] [updates] [memory] [loader] [codecs] [observe]
 *
 * With no names every group runs, in that order. bench/README.md says what
 * each figure measures and how to read it.
 */
import os from 'node:os'
import { formatTable, hasGc, verdict, type Row } from './util.ts'

const GROUPS: Record<string, () => Promise<{ run: () => Promise<Row[]> }>> = {
  get: () => import('./get.ts'),
  updates: () => import('./updates.ts'),
  memory: () => import('./memory.ts'),
  loader: () => import('./loader.ts'),
  codecs: () => import('./codecs.ts'),
  observe: () => import('./observe.ts'),
}

const USAGE = `usage: npm run bench -- [${Object.keys(GROUPS).join('] [')}]   (no names: every group)`
const wanted = process.argv.slice(2)
if (wanted.includes('--help') || wanted.includes('-h')) {
  console.log(USAGE)
  process.exit(0)
}
for (const name of wanted) {
  if (!(name in GROUPS)) {
    console.error(`unknown group ${name}: use ${Object.keys(GROUPS).join(', ')}\n${USAGE}`)
    process.exit(2)
  }
}
const names = wanted.length > 0 ? wanted : Object.keys(GROUPS)

const cpu = os.cpus()[0]?.model ?? 'unknown cpu'
console.log(`meshcache core benchmarks: node ${process.version}, ${cpu} × ${os.cpus().length}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}${hasGc() ? '' : ', no --expose-gc: memory figures skipped'}${process.env.MESHCACHE_BENCH_OBSERVE === '1' ? ', MESHCACHE_BENCH_OBSERVE=1: Prometheus exporter registered and audit on at 0% sampling' : ''}`)

const rows: Row[] = []
for (const name of names) {
  const started = Date.now()
  const mod = await (GROUPS[name] as () => Promise<{ run: () => Promise<Row[]> }>)()
  rows.push(...await mod.run())
  console.log(`  ${name}: ${((Date.now() - started) / 1000).toFixed(1)} s`)
}
console.log()
console.log(formatTable(rows))
const failed = rows.filter((r) => verdict(r) === 'FAIL').length
const passed = rows.filter((r) => verdict(r) === 'PASS').length
console.log(`\n${passed} pass, ${failed} fail, load at the end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`)
