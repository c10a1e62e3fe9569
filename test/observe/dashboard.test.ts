/**
 * The live dashboard in a real headless Chromium (playwright-core, the
 * system's /usr/bin/chromium; never a downloaded browser): three processes,
 * live updates, a write's propagation sample, a killed process marked, and
 * every network-supplied value shown as text. A screenshot is saved under
 * test/artifacts/ (gitignored).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { ErrorCode, type MeshCache } from '../../lib/index.ts'
import { serveDashboard } from '../../lib/observe/dashboard/server.ts'
import { isSharing, shareStats } from '../../lib/observe/share.ts'
import { cluster } from '../helpers/cluster.ts'
import { ask as askNode } from '../helpers/mesh-process.ts'
import { rejectsCode } from '../helpers/assert-code.ts'

const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium'
const NODE = fileURLToPath(new URL('../helpers/observe-node.ts', import.meta.url))
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url))
/** y-protocols awareness drops a silent member after 30 s; a killed process must show before that. */
const MEMBERSHIP_TIMEOUT_MS = 30_000

interface Proc { child: ChildProcess, addrs: string[], origin: string, dashboardUrl?: string }

async function spawnNode (nodeId: string, region: string, peers: string[], dashboard = false): Promise<Proc> {
  const env = { ...process.env, NODE_ID: nodeId, REGION: region, PEERS: peers.join(','), DASHBOARD: dashboard ? '1' : '0' }
  const child = fork(NODE, [], { execPath: process.execPath, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const [ready] = await once(child, 'message') as [Omit<Proc, 'child'>]
  return { child, ...ready }
}

/** One request to a node process (the shared helper also fails if the node exits first). */
async function ask (p: Proc, request: Record<string, unknown>): Promise<unknown> {
  return (await askNode(p.child, request)).value
}

const launch = (): Promise<Browser> => chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] })
const updates = (page: Page): Promise<number> => page.evaluate(() => Number((globalThis as any).document.body.dataset.updates ?? 0))

test('three processes on the page: members, live updates, a propagation sample, a killed process marked', async () => {
  const procs: Proc[] = []
  let browser: Browser | undefined
  try {
    procs.push(await spawnNode('alpha', 'eu-west', [], true))
    procs.push(await spawnNode('beta', 'eu-west', procs[0]!.addrs))
    procs.push(await spawnNode('gamma', 'us-east', procs[0]!.addrs))
    await Promise.all(procs.map((p) => ask(p, { op: 'await-members', count: 2 })))
    browser = await launch()
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
    await page.goto(procs[0]!.dashboardUrl!)
    const rows = page.locator('tr[data-test=member]')
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('tr[data-test=member]').length === 3 &&
      (globalThis as any).document.querySelectorAll('td[data-test=link].yes').length === 6, undefined, { timeout: 20_000 })
    assert.equal(await rows.evaluateAll((trs) => trs.map((tr) => [(tr as any).dataset.node, (tr as any).dataset.status]).sort()),
      [['alpha', 'self'], ['beta', 'up'], ['gamma', 'up']])
    assert.match(await page.locator('tr[data-node=gamma]').innerText(), /us-east/)
    assert.equal(await page.locator('td[data-test=clock]').allInnerTexts(), ['0', '0', '0'], 'no clock ahead of another past the skew')
    assert.is(await page.locator('.uplot').count(), 2, 'uPlot charts, served from the installed package')

    // Links per member, and between regions: alpha–beta inside eu-west, both of them to gamma in us-east.
    const linksOf = (node: string) => page.locator(`tr[data-node=${node}] td[data-test=links]`).innerText()
    await page.waitForFunction(() => (globalThis as any).document.querySelector('tr[data-node=gamma] td[data-test=links]')?.textContent === '2 · 2 far', undefined, { timeout: 10_000 })
    assert.equal([await linksOf('alpha'), await linksOf('beta'), await linksOf('gamma')], ['2 · 1 far', '2 · 1 far', '2 · 2 far'])
    const regionLinks = (from: string) => page.locator(`tr[data-test=region][data-region=${from}] td[data-test=region-links]`).allInnerTexts()
    assert.equal(await regionLinks('eu-west'), ['1', '2'], 'eu-west: one link inside, two to us-east')
    assert.equal(await regionLinks('us-east'), ['2', '0'])
    assert.equal(await page.locator('tr[data-test=region]').evaluateAll((trs) => trs.map((tr) => (tr as any).dataset.across)), ['true', 'true'])
    assert.is(await page.locator('tr[data-test=evictions]').count(), 3, 'a row per member while the matrix shows')

    // A mesh larger than the matrix's bound (here ?matrix=2) shows the note instead of a cell per pair; the regions stay.
    const small = await browser.newPage()
    await small.goto(procs[0]!.dashboardUrl! + (procs[0]!.dashboardUrl!.includes('?') ? '&' : '?') + 'matrix=2')
    await small.waitForSelector('#matrix-note:not([hidden])', { timeout: 10_000 })
    assert.match(await small.locator('#matrix-note').innerText(), /3 live members: the matrix shows up to 2 \(add \?matrix=3/)
    assert.is(await small.locator('td[data-test=link]').count(), 0)
    assert.is(await small.locator('tr[data-test=region]').count(), 2)
    assert.is(await small.locator('tr[data-test=evictions]').count(), 0, 'no member evicted: only the whole mesh\'s row')
    assert.is(await small.locator('tr[data-test=evictions-total]').count(), 1)
    await small.close()

    // Live: the page updates itself (SSE), at least once a second, with no reload.
    const before = await updates(page)
    const t0 = Date.now()
    await page.waitForFunction((n) => Number((globalThis as any).document.body.dataset.updates) >= n + 3, before, { timeout: 10_000 })
    const perSecond = 3000 / (Date.now() - t0)
    assert.ok(perSecond >= 1, `${perSecond.toFixed(2)} updates/s`)

    // A write shows as propagation samples (two receivers).
    const lagBefore = Number(await page.locator('#lag-count').innerText())
    await ask(procs[0]!, { op: 'set', keys: ['order:1'] })
    await page.waitForFunction((n) => Number((globalThis as any).document.getElementById('lag-count')?.textContent) >= n + 2, lagBefore, { timeout: 10_000 })
    assert.match(await page.locator('#lag-p99').innerText(), /ms|s/)
    await mkdir(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true })

    // A killed process: its connections close at once, so it shows unreachable long before membership drops it.
    const killedAt = Date.now()
    procs[2]!.child.kill('SIGKILL')
    await page.waitForSelector('tr[data-node=gamma][data-status=unreachable], tr[data-node=gamma][data-status=gone]', { timeout: MEMBERSHIP_TIMEOUT_MS })
    const tookMs = Date.now() - killedAt
    console.log(`  the killed process was marked after ${tookMs} ms (membership timeout ${MEMBERSHIP_TIMEOUT_MS} ms)`)
    assert.ok(tookMs < MEMBERSHIP_TIMEOUT_MS)
    // Its region has no other member: once the others' reports drop their links to it, us-east is marked cut off.
    await page.waitForSelector('tr[data-test=region][data-region=us-east][data-across=false]', { timeout: 10_000 })
    assert.is(await linksOf('alpha'), '1')
    await page.screenshot({ path: `${ARTIFACTS}dashboard-killed.png`, fullPage: true })
  } finally {
    await browser?.close()
    for (const p of procs) p.child.kill()
  }
})

test('keys and ids from the network are shown as text, never parsed as HTML', async () => {
  const c = await cluster<string>(2, { now: Date.now, mode: 'replicate' })
  let browser: Browser | undefined
  let dashboard: Awaited<ReturnType<typeof serveDashboard>> | undefined
  try {
    const [a, b] = c.nodes as [MeshCache<string>, MeshCache<string>]
    await c.net.flush()
    shareStats(a, { interval: 100 })
    const hostile = '<img src=x onerror="window.__pwned=1">'
    a.set(hostile, 'cached')
    // The audit's grace timer does not keep a process alive (unref): this guard does, and names a missing event.
    let guard: NodeJS.Timeout | undefined
    const stale = new Promise((resolve, reject) => {
      guard = setTimeout(() => reject(new Error('no stale event within 10 s')), 10_000)
      a.once('stale', resolve)
    })
    a.audit({ sample: 1, source: () => 'newer', grace: 0 })
    a.get(hostile)
    await stale.finally(() => clearTimeout(guard)) // a stale read of the hostile key, in a's recent list
    dashboard = await serveDashboard(b, { interval: 100 })
    const pump = setInterval(() => { void c.net.flush() }, 20) // the memory network delivers when asked
    try {
      browser = await launch()
      const page = await browser.newPage()
      await page.goto(dashboard.url)
      const cell = page.locator('tr[data-test=stale] td:nth-child(2)')
      await cell.waitFor({ timeout: 10_000 })
      assert.is(await cell.textContent(), hostile)
      assert.is(await page.evaluate(() => (globalThis as any).__pwned), undefined)
      assert.is(await page.locator('#stale img').count(), 0)
    } finally {
      clearInterval(pump)
    }
  } finally {
    await browser?.close()
    await dashboard?.close()
    await c.close()
  }
})

test('off loopback a token is required; data needs it, bad options are refused', async () => {
  const c = await cluster<string>(1, { now: Date.now })
  const [a] = c.nodes as [MeshCache<string>]
  try {
    for (const options of [{ host: '0.0.0.0' }, { token: 'short' }, { port: -1 }, { interval: 5 }]) {
      await rejectsCode(serveDashboard(a, options), ErrorCode.INVALID_OPTION)
    }
    // A port or host it cannot listen on: refused naming the option, and nothing of the call left running.
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as AddressInfo).port
    try {
      for (const [options, pattern] of [
        [{ port }, new RegExp(`^option \`port\` ${port} is already in use on 127\\.0\\.0\\.1`)],
        [{ host: '192.0.2.1', token: 'a-long-enough-secret-token' }, /^option `host` "192\.0\.2\.1" is not an address of this machine$/],
        [{ host: 'no-such-host.invalid', token: 'a-long-enough-secret-token' }, /^option `host` "no-such-host\.invalid" is a name that does not resolve$/],
      ] as const) {
        const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
        await rejectsCode(serveDashboard(a, options), ErrorCode.INVALID_OPTION, pattern)
        assert.not.ok(isSharing(a), 'the sharing it started was stopped')
        assert.is(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, timers, 'no timer left running')
      }
      // Sharing that was on before the call stays on.
      const shared = shareStats(a)
      await serveDashboard(a, { port }).then(() => assert.unreachable('a taken port'), () => {})
      assert.ok(isSharing(a), 'sharing started before the call is left on')
      shared.stop()
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()))
    }
    const token = 'a-long-enough-secret-token'
    const d = await serveDashboard(a, { host: '0.0.0.0', token })
    try {
      const base = `http://127.0.0.1:${d.port}`
      assert.is((await fetch(`${base}/snapshot.json`)).status, 401)
      assert.is((await fetch(`${base}/snapshot.json?token=wrong-token-of-some-length`)).status, 401)
      const ok = await fetch(`${base}/snapshot.json`, { headers: { authorization: `Bearer ${token}` } })
      assert.is(ok.status, 200)
      const snap = await ok.json() as { members: Array<{ status: string }> }
      assert.equal(snap.members.map((m) => m.status), ['self'])
      assert.is((await fetch(`${base}/`)).status, 200, 'the page itself holds no data')
      assert.ok(d.url.includes(`token=${token}`))
    } finally {
      await d.close()
    }
  } finally {
    await c.close()
  }
})

test.run()
