// The kubelet's checkpoint files are root's: a 0700 directory, 0600 archives. An agent that may
// not read them gets ArchiveUnreadable with the remedy — before the container is frozen when it
// cannot even enter the directory, and instead of a crash or a retry loop when it cannot open the
// archive.
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { archiveSize, checkCheckpointDir } from '../../src/capture/archive-access.js';
import { DEFAULT_CAPTURE_SETTINGS, type CaptureDeps } from '../../src/capture/capture-deps.js';
import { runCapture } from '../../src/capture/run-capture.js';
import { createLogger } from '../../src/cli/create-logger.js';
import { isAmberError } from '../../src/core/amber-error.js';
import { planCapture } from '../../src/core/decision.js';
import { loadOrCreateSigningKey } from '../../src/evidence/signing-key.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';
import { MemoryStore } from '../../src/storage/memory-store.js';
import { FakeKube, FakeKubelet } from '../helpers/fake-kube.js';
import { LogSink } from '../helpers/log-sink.js';

/**
 * Runs `fn` as a process the kubelet's files are not for: as root, under another effective uid
 * (the files stay root's 0700/0600, as on a node); as any other user, with the files' permissions
 * taken away from their owner. Either way the kernel answers EACCES.
 */
async function asAnotherUser<T>(files: string[], fn: () => Promise<T>): Promise<T> {
  if (process.geteuid?.() === 0) {
    process.setegid?.(65534);
    process.seteuid?.(65534);
    try {
      return await fn();
    } finally {
      process.seteuid?.(0);
      process.setegid?.(0);
    }
  }
  for (const f of files) await chmod(f, 0);
  return await fn();
}

async function kubeletFiles(t: { teardown(fn: () => unknown): void }) {
  const root = await mkdtemp(join(tmpdir(), 'amber-access-'));
  t.teardown(async () => {
    await chmod(join(root, 'checkpoints'), 0o700).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });
  const dir = join(root, 'checkpoints');
  await mkdir(dir, { mode: 0o700 });
  const archive = join(dir, 'checkpoint-web_shop-app-2026-12-06T21:18:52+02:00.tar');
  await writeFile(archive, 'tar bytes', { mode: 0o600 });
  return { root, dir, archive };
}

t.test('a checkpoint directory amber may not enter: ArchiveUnreadable, naming the uid and the remedy', async (t) => {
  const { dir } = await kubeletFiles(t);
  await checkCheckpointDir(dir); // as its owner: fine
  const e = await asAnotherUser([dir], () =>
    checkCheckpointDir(dir).then(
      () => undefined,
      (err: unknown) => err,
    ),
  );
  t.ok(isAmberError(e, 'ARCHIVE_UNREADABLE'), String(e));
  if (!isAmberError(e)) return;
  t.equal(e.details['path'], dir);
  t.equal(e.details['problem'], 'EACCES');
  t.match(e.details['message'], new RegExp(`^cannot read ${dir} as uid \\d+: EACCES$`));
  t.match(e.details['remedy'], /uid 0.*agent\.runAsRoot: true, hostUsers: true.*no capability needed/);
  await checkCheckpointDir(join(dir, 'absent')); // a directory that is not there: the free-space check says so
});

t.test('an archive amber may not open: ArchiveUnreadable, not "missing"; one that is not there: undefined', async (t) => {
  const { dir, archive } = await kubeletFiles(t);
  t.equal(await archiveSize(archive), 'tar bytes'.length, 'readable by its owner');
  t.equal(await archiveSize(join(dir, 'checkpoint-gone.tar')), undefined);
  const e = await asAnotherUser([archive], () =>
    archiveSize(archive).then(
      () => undefined,
      (err: unknown) => err,
    ),
  );
  t.ok(isAmberError(e, 'ARCHIVE_UNREADABLE'), String(e));
});

t.test('the capture pipeline on an archive it cannot open: Failed, reason ArchiveUnreadable, the remedy in the message, no retry', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-unreadable-'));
  const queue = await FileQueue.open({ dir: join(dir, 'journal') });
  t.teardown(async () => {
    await queue.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const { key } = await loadOrCreateSigningKey(join(dir, 'signing'));
  await mkdir(join(dir, 'checkpoints'));
  // The archive amber is handed is a file no process may open for reading, whoever it runs as
  // (a sysctl of mode 0200): the kernel's EACCES, as for the kubelet's 0600 archive to a non-root agent.
  const kubelet = new FakeKubelet(join(dir, 'checkpoints'), (file) => symlink('/proc/sys/vm/compact_memory', file));
  const logs = new LogSink();
  const deps: CaptureDeps = {
    queue,
    api: new FakeKube(),
    kubelet,
    store: new MemoryStore(),
    signingKey: key,
    log: createLogger('debug', logs),
    settings: { ...DEFAULT_CAPTURE_SETTINGS, checkpointDir: join(dir, 'checkpoints'), cluster: 'test', minFreeBytes: 0, retryBaseMs: 1 },
    actor: { component: 'agent', node: 'node-a' },
    version: 'test',
  };
  const { capture } = await queue.enqueue(
    planCapture({
      policy: 'interactive-shell',
      signal: {
        source: 'falco',
        rule: 'Terminal shell in container',
        priority: 'Notice',
        time: '2026-12-06T19:00:00.000000000Z',
        tags: [],
        fields: {},
        target: { namespace: 'shop', pod: 'web-1', container: 'app', containerID: 'aaaaaaaaaaaa' },
        raw: { rule: 'Terminal shell in container' },
      },
      containers: 'target',
      cooldownMs: 60_000,
      timeoutSeconds: 30,
      include: [],
      evidence: { retentionDays: 0, lock: 'none' },
    }),
  );
  const done = await runCapture(deps, capture.id);
  t.equal(done.status.phase, 'Failed');
  t.equal(done.status.reason, 'ArchiveUnreadable');
  t.match(done.status.message, /^cannot read .+\/checkpoint-web-1_shop-app-.+\.tar as uid \d+: EACCES — remedy: run the agent as uid 0/);
  t.equal(done.status.attempts, 1, 'not retried: permissions do not change by waiting');
  t.equal(kubelet.calls.length, 1);
  t.same(await deps.store.list(''), [], 'nothing stored');
});
