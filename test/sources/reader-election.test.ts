/** ReaderElection's rule over a hand-made membership view: deterministic, sticky, self-resolving. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ReaderElection, type ElectionHost } from '../../lib/sources/reader-election.ts'

const NAME = 'pg-slot:s'

interface Member { origin: string, meta: Record<string, unknown> }

/** A shared membership board: what each instance advertises is what the others see, as awareness would carry it. */
function board () {
  const members = new Map<string, Member>()
  const connected = new Set<string>()
  const host = (origin: string): ElectionHost => {
    members.set(origin, { origin, meta: {} })
    connected.add(origin)
    return {
      origin,
      advertise (name, value) {
        const m = members.get(origin) as Member
        if (value === undefined) delete m.meta[name]
        else m.meta[name] = value
      },
      peers: () => [...members.values()].filter((m) => m.origin !== origin).map((m) => ({ origin: m.origin, peer: m.origin, meta: { ...m.meta } })),
      connectedPeers: () => [...connected].filter((p) => p !== origin),
    }
  }
  return { host, members, connected }
}

function elect (b: ReturnType<typeof board>, origin: string, log: string[]): ReaderElection {
  const e = new ReaderElection(b.host(origin), NAME, { intervalMs: 60_000, onChange: (on) => log.push(`${origin}:${on ? 'elected' : 'stood down'}`) })
  return e
}

test('the lowest origin among candidates is elected, and only one', () => {
  const b = board()
  const log: string[] = []
  const es = ['c', 'a', 'b'].map((o) => elect(b, o, log))
  for (const e of es) e.evaluate()
  assert.equal(log, ['a:elected'])
  for (const e of es) e.stop()
})

test('a holder keeps the slot when a lower origin joins; a dead holder (connection gone) is replaced at the next evaluation', () => {
  const b = board()
  const log: string[] = []
  const bE = elect(b, 'b', log)
  bE.evaluate()
  bE.setHolds(true)
  const aE = elect(b, 'a', log)
  aE.evaluate()
  bE.evaluate()
  assert.equal(log, ['b:elected'], 'a newcomer with a lower origin does not displace the holder')
  // kill -9 of b: its connection drops; its awareness state may linger, but it is not connected.
  b.connected.delete('b')
  aE.evaluate()
  assert.equal(log, ['b:elected', 'a:elected'])
  aE.stop()
  bE.stop()
})

test('two holders at once (views differed): the higher origin stands down, the lower keeps reading', () => {
  const b = board()
  const log: string[] = []
  const aE = elect(b, 'a', log)
  const cE = elect(b, 'c', log)
  // c saw nobody when it started and took the slot; a did the same.
  b.connected.delete('a')
  b.connected.delete('c')
  aE.evaluate()
  cE.evaluate()
  aE.setHolds(true)
  cE.setHolds(true)
  b.connected.add('a')
  b.connected.add('c')
  aE.evaluate()
  cE.evaluate()
  assert.equal(log.slice(-1), ['c:stood down'])
  assert.ok(aE.elected && !cE.elected)
  aE.stop()
  cE.stop()
})

test('withdraw() leaves the candidates for a while; stop() leaves them for good', () => {
  const b = board()
  const log: string[] = []
  const aE = elect(b, 'a', log)
  const bE = elect(b, 'b', log)
  aE.evaluate()
  bE.evaluate()
  aE.withdraw(60_000)
  bE.evaluate()
  assert.equal(log, ['a:elected', 'a:stood down', 'b:elected'])
  assert.is(b.members.get('a')?.meta[NAME], undefined, 'a withdrawn instance advertises nothing')
  bE.stop()
  assert.is(b.members.get('b')?.meta[NAME], undefined)
  aE.stop()
})

test.run()
