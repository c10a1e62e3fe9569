/**
 * Sums a `--trace-gc-nvp` log per process: how many scavenges and
 * mark-compacts, their pauses, and the bytes each scavenge copied
 * (`new_space_survived` + `promoted`). The bytes copied do not depend on
 * how loaded the host is, unlike latency, so they compare two versions of
 * the code on a shared machine (issue 21 §4):
 *
 *   npm run bench:mesh -- --systems meshcache --rate 20000 --seconds 10 --saturate 0 \
 *     --node-args='--trace-gc-nvp' > gc.log 2>&1
 *   node bench/mesh/gc-summary.ts gc.log
 *
 * The lowest pid of a system's processes is the writer, the others receivers.
 */
import { readFileSync } from 'node:fs'

interface Totals { scavenges: number, scavengeMs: number, maxScavengeMs: number, copied: number, allocated: number, markCompacts: number, markCompactMs: number }

const file = process.argv[2]
if (file === undefined) {
  process.stderr.write('usage: node bench/mesh/gc-summary.ts <trace-gc-nvp log>\n')
  process.exit(2)
}
const byPid = new Map<number, Totals>()
for (const line of readFileSync(file, 'utf8').split('\n')) {
  const m = /^\[(\d+):[^\]]*\]\s+\d+ ms: (.*)$/.exec(line)
  if (m === null) continue
  const fields = new Map<string, string>()
  for (const kv of (m[2] as string).split(' ')) {
    const i = kv.indexOf('=')
    if (i > 0) fields.set(kv.slice(0, i), kv.slice(i + 1))
  }
  const pid = Number(m[1])
  let t = byPid.get(pid)
  if (t === undefined) byPid.set(pid, t = { scavenges: 0, scavengeMs: 0, maxScavengeMs: 0, copied: 0, allocated: 0, markCompacts: 0, markCompactMs: 0 })
  const pause = Number(fields.get('pause') ?? 0)
  const num = (name: string): number => Number(fields.get(name) ?? 0)
  if (fields.get('gc') === 's') {
    t.scavenges++
    t.scavengeMs += pause
    t.maxScavengeMs = Math.max(t.maxScavengeMs, pause)
    t.copied += num('new_space_survived') + num('promoted')
    t.allocated += num('allocated')
  } else if (fields.get('gc') === 'mc') {
    t.markCompacts++
    t.markCompactMs += pause
  }
}
const mb = (n: number): string => (n / 1e6).toFixed(1)
const pids = [...byPid.keys()].sort((a, b) => a - b)
process.stdout.write('process   scavenges  pause sum ms  max ms  copied MB  copied/scavenge MB  allocated MB  mark-compacts  mc ms\n')
for (const pid of pids) {
  const t = byPid.get(pid) as Totals
  const role = pid === pids[0] ? 'writer  ' : 'receiver'
  process.stdout.write(`${role}  ${String(t.scavenges).padStart(9)}  ${t.scavengeMs.toFixed(0).padStart(12)}  ${t.maxScavengeMs.toFixed(1).padStart(6)}  ${mb(t.copied).padStart(9)}  ${(t.scavenges === 0 ? '-' : mb(t.copied / t.scavenges)).padStart(18)}  ${mb(t.allocated).padStart(12)}  ${String(t.markCompacts).padStart(13)}  ${t.markCompactMs.toFixed(0).padStart(5)}\n`)
}
