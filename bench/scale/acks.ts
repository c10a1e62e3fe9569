/**
 * `node bench/scale/acks.ts`: what `whenReplicated` costs the mesh when many
 * calls run at once, as a service that answers "saved" per request makes
 * them. Real processes (test/helpers/fuzz-host.ts): `--processes` of
 * `--per-process` instances, each its own libp2p node; a full mesh, then a
 * partial one (`--max-peers`), where a request is relayed over every link and
 * every member answers back hop by hop (SPEC §5.1). On one instance,
 * `--callers` loops each invalidate a key of their own and await
 * `whenReplicated` before the next, `--calls` calls in all (after as many
 * uncounted). Printed per mesh and caller count: calls/s, each call's p50 /
 * p99 (ms), the frames all instances received per call (every frame of the
 * run: the writes' and the acknowledgements', relays and keepalives too), and
 * the CPU all processes spent per call (µs).
 */
import type { ChildProcess } from 'node:child_process'
import { ask } from '../../test/helpers/mesh-process.ts'
import { startFuzzMesh } from '../../test/helpers/fuzz-mesh.ts'
import { parseCli } from '../../test/helpers/cli.ts'

const USAGE = 'usage: node bench/scale/acks.ts [--callers 1,10,50] [--calls 1000] [--processes 3] [--per-process 4] [--max-peers 3]'
const values = parseCli(USAGE, {
  callers: { type: 'string', default: '1,10,50' },
  calls: { type: 'string', default: '1000' },
  processes: { type: 'string', default: '3' },
  'per-process': { type: 'string', default: '4' },
  'max-peers': { type: 'string', default: '3' },
})
const callerCounts = values.callers.split(',').map(Number)
const calls = Number(values.calls)
const processes = Number(values.processes)
const perProcess = Number(values['per-process'])
const instances = processes * perProcess

async function usage (hosts: ChildProcess[]): Promise<{ cpuUs: number, frames: number }> {
  const all = await Promise.all(hosts.map(async (h) => (await ask(h, { op: 'usage' })).value as { cpuUs: number, frames: number }))
  return { cpuUs: all.reduce((n, u) => n + u.cpuUs, 0), frames: all.reduce((n, u) => n + u.frames, 0) }
}

async function burst (hosts: ChildProcess[], label: string, callers: number): Promise<string> {
  const writer = hosts[0] as ChildProcess
  await ask(writer, { op: 'saved-burst', instance: 0, callers, calls, timeout: 20_000 }, 120_000) // warm-up, not counted
  const before = await usage(hosts)
  const { value } = await ask(writer, { op: 'saved-burst', instance: 0, callers, calls, timeout: 20_000 }, 120_000)
  const after = await usage(hosts)
  const { ms, errors, seconds } = value as { ms: number[], errors: string[], seconds: number }
  ms.sort((a, b) => a - b)
  const at = (q: number): string => (ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? NaN).toFixed(2)
  return `${label}  callers ${String(callers).padStart(3)}  ${(calls / seconds).toFixed(0).padStart(6)} calls/s  ` +
    `p50 ${at(0.5).padStart(6)} ms  p99 ${at(0.99).padStart(6)} ms  ` +
    `frames/call ${((after.frames - before.frames) / calls).toFixed(1).padStart(6)}  ` +
    `CPU/call ${((after.cpuUs - before.cpuUs) / calls).toFixed(0).padStart(5)} µs` +
    (errors.length > 0 ? `  ${errors.length} rejected: ${errors[0]}` : '')
}

console.log(`bench/scale/acks.ts: ${calls} calls of one writer, ${processes} processes of ${perProcess} instances`)
for (const maxPeers of [undefined, Number(values['max-peers'])]) {
  const children: ChildProcess[] = []
  try {
    const { hosts } = await startFuzzMesh(children, { processes, perProcess, maxPeers, mode: 'invalidate', formMs: 90_000 })
    const label = maxPeers === undefined ? `full mesh of ${instances}        ` : `partial mesh of ${instances} (maxPeers ${maxPeers})`
    for (const callers of callerCounts) console.log(await burst(hosts, label, callers))
  } finally {
    for (const h of children) h.kill('SIGKILL')
  }
}
