/** npm run dashboard: the CLI joins a running mesh and serves its dashboard; bad arguments exit 2 with the usage. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

const CLI = fileURLToPath(new URL('../../lib/observe/dashboard/cli.ts', import.meta.url))
const NODE = fileURLToPath(new URL('../helpers/observe-node.ts', import.meta.url))

test('bad arguments exit 2 with the usage and start nothing', () => {
  for (const args of [[], ['--peers', '/ip4/127.0.0.1/tcp/1/p2p/x', '--port', 'many'], ['--nonsense']]) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 })
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /usage: npm run dashboard/)
  }
})

test('the CLI joins the mesh as its own instance and serves every member\'s figures', async () => {
  let node: ChildProcess | undefined
  let cli: ChildProcess | undefined
  try {
    node = fork(NODE, [], { execPath: process.execPath, env: { ...process.env, NODE_ID: 'service-1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    const [ready] = await once(node, 'message') as [{ addrs: string[] }]
    cli = spawn(process.execPath, [CLI, '--peers', ready.addrs[0]!, '--namespace', 'observe'], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    const url = await new Promise<string>((resolve, reject) => {
      cli!.stdout!.on('data', (b: Buffer) => {
        out += b.toString()
        const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)
        if (m !== null) resolve(m[1] as string)
      })
      cli!.once('exit', (code) => reject(new Error(`the CLI exited with ${code}: ${out}`)))
    })
    let members: Array<{ nodeId: string, status: string, keys: number | null }> = []
    for (let i = 0; i < 300 && !members.some((m) => m.nodeId === 'service-1' && m.keys !== null); i++) {
      members = (await (await fetch(`${url}snapshot.json`)).json() as { members: typeof members }).members
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    assert.equal(members.map((m) => [m.nodeId, m.status]), [['dashboard', 'self'], ['service-1', 'up']])
    assert.is(members[1]?.keys, 0, 'the service\'s shared figures')
    cli.kill('SIGTERM')
    const [code] = await once(cli, 'exit')
    assert.is(code, 0, 'stops cleanly on SIGTERM')
  } finally {
    cli?.kill()
    node?.kill()
  }
})

test.run()
