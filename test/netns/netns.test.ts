/**
 * Proves test/helpers/netns.ts: two namespaces talk over TCP, a cut silences
 * them (new and established connections alike), a heal brings both back.
 * Needs root, `ip` and `nft`; elsewhere it skips and says why.
 *
 * Real time is unavoidable here: a partition shows as the absence of an
 * answer, so the "cut" assertions wait for a bounded silence (CUT_SILENCE_MS)
 * instead of an event. Everything else waits on replies.
 */
import { once } from 'node:events'
import type { ChildProcess } from 'node:child_process'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createNetnsLab, isNetnsAvailable, type NetnsLab } from '../helpers/netns.ts'
import type { AgentReply, AgentRequest } from './agent.ts'

const AGENT = new URL('./agent.ts', import.meta.url)
const PORT = 7000 // inside our own namespace: no collision possible
const CUT_SILENCE_MS = 800
const GUARD_MS = 10_000

type Request = AgentRequest extends infer R ? R extends unknown ? Omit<R, 'id'> : never : never

interface Context { lab?: NetnsLab, client?: ChildProcess, nextId: number }
const netns = suite<Context>('netns', { nextId: 0 })

async function started(child: ChildProcess): Promise<ChildProcess> {
  const exited = once(child, 'exit').then(([code]) => { throw new Error(`agent exited early (${code})`) })
  await Promise.race([once(child, 'message'), exited])
  return child
}

function ask(ctx: Context, request: Request): Promise<AgentReply> {
  const client = ctx.client
  if (!client) throw new Error('no client agent')
  const id = ctx.nextId++
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(guard)
      client.off('message', onMessage)
      client.off('exit', onExit)
    }
    const guard = setTimeout(() => {
      done()
      reject(new Error(`agent did not answer ${request.op} within ${GUARD_MS} ms`))
    }, GUARD_MS)
    const onMessage = (reply: AgentReply): void => {
      if (reply.id !== id) return
      done()
      resolve(reply)
    }
    const onExit = (code: number | null): void => {
      done()
      reject(new Error(`agent exited (${code}) before answering ${request.op}`))
    }
    client.on('message', onMessage)
    client.once('exit', onExit)
    client.send({ ...request, id })
  })
}

const availability = await isNetnsAvailable()

if (!availability.ok) {
  console.log(`  netns: skipped: ${availability.reason}`)
  netns.skip('two namespaces echo over TCP, a cut silences them, a heal restores them', () => {})
} else {
  netns.before(async (ctx) => {
    ctx.lab = await createNetnsLab(2)
    await started(ctx.lab.node(1, AGENT, ['server', ctx.lab.nodes[1]?.address ?? '', String(PORT)]))
    ctx.client = await started(ctx.lab.node(0, AGENT, ['client']))
  })

  netns.after(async (ctx) => {
    await ctx.lab?.close()
  })

  netns('the namespaces get their own addresses and see each other over TCP', async (ctx) => {
    const server = ctx.lab?.nodes[1]?.address ?? ''
    assert.is(server, '10.77.0.2')
    const fresh = await ask(ctx, { op: 'echo', conn: 'before', host: server, port: PORT, token: 'a', timeoutMs: GUARD_MS })
    assert.ok(fresh.ok, JSON.stringify(fresh))
    const held = await ask(ctx, { op: 'echo', conn: 'held', host: server, port: PORT, token: 'h1', timeoutMs: GUARD_MS })
    assert.ok(held.ok, JSON.stringify(held))
  })

  netns('a cut silences new and established connections', async (ctx) => {
    const lab = ctx.lab as NetnsLab
    const server = lab.nodes[1]?.address ?? ''
    await lab.cut([0], [1])
    const [fresh, held] = await Promise.all([
      ask(ctx, { op: 'echo', conn: 'during', host: server, port: PORT, token: 'b', timeoutMs: CUT_SILENCE_MS }),
      ask(ctx, { op: 'echo', conn: 'held', host: server, port: PORT, token: 'h2', timeoutMs: CUT_SILENCE_MS }),
    ])
    assert.not.ok(fresh.ok, 'a new connection got through a cut')
    assert.not.ok(held.ok, 'an established connection got through a cut')
    // Silence, not an error: the sender cannot tell a partition from a slow peer.
    assert.match(fresh.ok ? '' : fresh.error, /^timeout/)
    assert.match(held.ok ? '' : held.error, /^timeout/)
  })

  netns('a heal brings new connections back and the stalled one resumes', async (ctx) => {
    const lab = ctx.lab as NetnsLab
    const server = lab.nodes[1]?.address ?? ''
    await lab.heal()
    const fresh = await ask(ctx, { op: 'echo', conn: 'after', host: server, port: PORT, token: 'c', timeoutMs: GUARD_MS })
    assert.ok(fresh.ok, JSON.stringify(fresh))
    // TCP retransmits what the cut swallowed (backoff from 200 ms), so the token sent during the cut arrives.
    const resumed = await ask(ctx, { op: 'await', conn: 'held', token: 'h2', timeoutMs: GUARD_MS })
    assert.ok(resumed.ok, JSON.stringify(resumed))
    const after = await ask(ctx, { op: 'echo', conn: 'held', host: server, port: PORT, token: 'h3', timeoutMs: GUARD_MS })
    assert.ok(after.ok, JSON.stringify(after))
  })

  netns('close removes every namespace of the lab', async (ctx) => {
    const lab = ctx.lab as NetnsLab
    await lab.close()
    const { spawnSync } = await import('node:child_process')
    const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout
    assert.not.ok(listed.includes(lab.id), `left behind: ${listed}`)
  })
}

netns.run()
