import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/run-cli.js';
import { writeCheckpointArchive } from '../sim/checkpoint-archive.js';

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const dir = await mkdtemp(join(tmpdir(), 'amber-inspect-cli-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const archive = join(dir, 'checkpoint-web-1_shop-app-2026-11-28T12:00:00Z.tar');
const written = await writeCheckpointArchive(
  archive,
  {
    layout: 'crio',
    namespace: 'shop',
    pod: 'web-1',
    podUid: 'uid-1',
    container: 'app',
    containerId: 'ab'.repeat(32),
    sandboxId: 'cd'.repeat(32),
    image: 'ghcr.io/acme/app:1.0',
    imageRef: `ghcr.io/acme/app@sha256:${'ef'.repeat(32)}`,
    imageId: '12'.repeat(32),
    podIP: '10.244.1.9',
    hostPid: 4242,
    createdAt: T0 - 60_000,
    startedAt: T0 - 59_000,
    checkpointedAt: T0,
    restartCount: 0,
    argv: ['/bin/sh'],
    env: ['APP_ENV=production'],
    logLines: [],
  },
  2 * 1024 * 1024,
);

async function cli(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['inspect', ...args], { out: (s) => out.push(s), err: (s) => err.push(s), env: {} });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

t.test('--json prints one object with the container, processes, filesystem changes, stats, warnings and indicators', async (t) => {
  const r = await cli(archive, '--json');
  t.equal(r.code, 0, r.err);
  const o = JSON.parse(r.out) as Record<string, any>;
  t.same(Object.keys(o).sort(), ['checkpointSize', 'compression', 'container', 'indicators', 'mounts', 'processes', 'rootfsDiff', 'stats', 'warnings']);
  t.match(o['container'], { name: 'app', pod: 'web-1', namespace: 'shop', engine: 'cri-o' });
  const bash = (o['processes'] as any[]).find((p) => p.pid === 9);
  t.same(bash.cmdline, written.processes.find((p) => p.pid === 9)?.argv, 'argv read from memory');
  t.match(bash.sockets[0], { fd: 0, protocol: 'tcp', state: 'ESTABLISHED', remote: '203.0.113.50:4444' });
  t.ok(
    (o['rootfsDiff'].added as any[]).some((f) => f.path === '/tmp/.x/kworkerd' && f.executable),
    'the dropped executable',
  );
  t.same(o['warnings'], []);
});

t.test('--pid narrows the processes; --search finds memory with its address and context', async (t) => {
  const one = JSON.parse((await cli(archive, '--json', '--pid', '7')).out) as { processes: { pid: number }[] };
  t.same(
    one.processes.map((p) => p.pid),
    [7],
  );
  const found = await cli(archive, '--search', '/"method":"login"/', '--json');
  t.equal(found.code, 0, found.err);
  const { matches } = JSON.parse(found.out) as { matches: { pid: number; address: string; context: string }[] };
  t.equal(matches.length, 1);
  t.match(matches[0], { pid: 7, address: /^0x[0-9a-f]+$/, context: /"method":"login"/ });
  const text = await cli(archive, '--search', 'uname -a', '--pid', '9');
  t.match(text.out, /^pid 9 0x[0-9a-f]+ .*uname -a/m);
  t.match(text.out, /^1 match$/m);
});

t.test('exit 1 when the input is not a checkpoint, 2 on usage errors', async (t) => {
  await writeFile(join(dir, 'notes.txt'), 'not a tar at all\n'.repeat(100));
  const notCheckpoint = await cli(join(dir, 'notes.txt'));
  t.equal(notCheckpoint.code, 1);
  t.match(notCheckpoint.err, /is not a checkpoint archive/);
  t.equal((await cli()).code, 2);
  t.equal((await cli(archive, '--pid', 'seven')).code, 2);
  const badRegex = await cli(archive, '--search', '/(unclosed/');
  t.equal(badRegex.code, 2, badRegex.err);
  t.match(badRegex.err, /SEARCH_BAD_PATTERN/);
  const nowhere = await cli(join(dir, 'no-such-bundle'));
  t.equal(nowhere.code, 2);
});
