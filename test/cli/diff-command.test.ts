/**
 * `amber diff` on the real archives: shell.tar and shell-gzip.tar.gz are one Podman container
 * before and after `podman container restore --import shell.tar --name shell-restored` (see
 * real-checkpoints/shell-gzip/ground-truth.json); the CRI-O shell and revshell are two containers
 * of one pod; shell.tar.zst is shell.tar itself.
 */
import t from 'tap';
import { join } from 'node:path';
import { runCli } from '../../src/cli/run-cli.js';
import { runAmber } from '../helpers/run-amber.js';

const REAL = join(import.meta.dirname, '../fixtures/real-checkpoints');
const SHELL = join(REAL, 'shell.tar');
const RESTORED = join(REAL, 'shell-gzip.tar.gz');
const ZST = join(import.meta.dirname, '../fixtures/zstd/shell.tar.zst');
const CRIO_SHELL = join(REAL, 'checkpoint-amber-pod_default-shell-2026-12-06T19:11:17Z.tar');
const CRIO_REVSHELL = join(REAL, 'checkpoint-amber-pod_default-revshell-2026-12-06T19:11:54Z.tar');

async function diff(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['diff', ...args], { out: (s) => out.push(s), err: (s) => err.push(s), env: {} });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

t.test('the same archive, plain and zstd: exit 0, no changes, only the compression differs', async (t) => {
  const r = await diff(SHELL, ZST);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^kinship {4}the same container: container id 8a2d12270ba6 in both$/m);
  t.match(r.out, /^result {5}no changes$/m);
  t.match(r.out, /^ {2}compression {6}none \| zstd$/m);
});

t.test('a container before and after a restore: a new id and name, the same processes, mounts rebound', async (t) => {
  const r = await diff(SHELL, RESTORED, '--json');
  t.equal(r.code, 1, r.err);
  const d = JSON.parse(r.out) as Record<string, any>;
  t.match(d.kinship, { verdict: 'same-processes', reason: /shell 8a2d12270ba6 → shell-restored 081998eb0b77.*same 2 processes/ });
  t.match(d.a, { archive: SHELL, container: { engine: 'podman', name: 'shell' }, processes: 2 });
  t.same(
    (d.container as any[]).map((c) => c.field),
    ['name', 'id', 'createdAt'],
  );
  t.same(d.processes, { added: [], removed: [], changed: [] }, 'pids, command lines, environments and descriptors survive the restore');
  t.same([d.filesystem.added, d.filesystem.removed, d.filesystem.changed], [[], [], []], 'the dropper and the deleted motd are in both');
  // Podman rebinds the new container's hosts, hostname, shm and .containerenv (and makes them `private`)
  t.same((d.mounts.changed as any[]).map((m) => m.key).sort(), ['/dev/shm', '/etc/hostname', '/etc/hosts', '/run/.containerenv']);
  t.ok((d.mounts.changed as any[]).every((m) => m.a.source.includes('8a2d12270ba6') && m.b.source.includes('081998eb0b77')));
  t.match(d.checkpoint, [{ field: 'frozenTimeUs', a: 70728, b: 66086 }]);

  const text = await diff(SHELL, RESTORED);
  t.match(text.out, /^kinship {4}the same processes: new id and name/m);
  t.match(text.out, /^ {2}~ name {8}shell -> shell-restored$/m);
  t.match(text.out, /^processes \(0 added, 0 removed, 0 changed\)$/m);
});

t.test('two different containers of one pod: said so, and compared anyway', async (t) => {
  const r = await diff(CRIO_SHELL, CRIO_REVSHELL);
  t.equal(r.code, 1, r.err);
  t.match(r.out, /^kinship {4}DIFFERENT CONTAINERS: shell f7dacf0a0b6f and revshell e55a4e64cf84 are not one container/m);
  t.match(r.out, /^processes \(3 added, 1 removed, 1 changed\)$/m);
  t.match(r.out, /^ {2}\+ 10 sh \(parent 1\): \/bin\/sh$/m, 'the reverse shell appears');
  t.match(r.out, /^ {2}- 6 sleep \(parent 1\): sleep 600$/m);
  t.match(r.out, /^ {6}\+ env ATTACKER_HINT=amber-revshell-canary$/m);
  t.match(r.out, /^ {2}\+ \/tmp\/\.loot {2}file 0644 71 B/m);
  t.match(r.out, /^ {2}\+ \/etc\/motd {2}\(no longer deleted\)$/m);
  const j = JSON.parse((await diff(CRIO_SHELL, CRIO_REVSHELL, '--json')).out) as Record<string, any>;
  t.equal(j.kinship.verdict, 'different-containers');
  t.same(
    (j.processes.added as any[]).map((p) => p.pid),
    [7, 8, 10],
  );
});

t.test('exit 2 when it cannot run: an input that is not a checkpoint, a missing one, one argument', async (t) => {
  const notCheckpoint = await diff(SHELL, join(REAL, 'README.md'));
  t.equal(notCheckpoint.code, 2);
  t.match(notCheckpoint.err, /README\.md is not a checkpoint archive: NOT_A_CHECKPOINT/);
  t.equal((await diff(SHELL)).code, 2);
  t.equal((await diff(SHELL, join(REAL, 'no-such.tar'))).code, 2);
  t.match((await diff('--help')).out, /Exit 0 no changes, 1 changes, 2 could not run/);
});

t.test("the built binary exits with the diff's answer", async (t) => {
  const r = await runAmber(['diff', SHELL, RESTORED]);
  t.equal(r.code, 1, r.stderr);
  t.match(r.stdout, /^result {5}\d+ changes from a to b$/m);
});
