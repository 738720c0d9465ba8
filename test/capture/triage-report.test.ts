import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import t from 'tap';
import { DEFAULT_CAPTURE_SETTINGS, type CaptureDeps } from '../../src/capture/capture-deps.js';
import { runCapture } from '../../src/capture/run-capture.js';
import { createLogger } from '../../src/cli/create-logger.js';
import { planCapture } from '../../src/core/decision.js';
import { loadOrCreateSigningKey } from '../../src/evidence/signing-key.js';
import { storeSource, verifyBundle } from '../../src/evidence/verify-bundle.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';
import { MemoryStore } from '../../src/storage/memory-store.js';
import { writeCheckpointArchive } from '../sim/checkpoint-archive.js';
import { FakeKube, FakeKubelet } from '../helpers/fake-kube.js';
import { LogSink } from '../helpers/log-sink.js';

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);

/** A capture of shop/web-1 whose kubelet writes a real (simulated) checkpoint archive, or plain text. */
async function setup(t: { teardown(fn: () => unknown): void }, opts: { realArchive: boolean; report?: boolean }) {
  const dir = await mkdtemp(join(tmpdir(), 'amber-report-'));
  const queue = await FileQueue.open({ dir: join(dir, 'journal') });
  t.teardown(async () => {
    await queue.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const { key } = await loadOrCreateSigningKey(join(dir, 'signing'));
  await mkdir(join(dir, 'checkpoints'));
  const write = async (file: string, container: string) => {
    await writeCheckpointArchive(
      file,
      {
        layout: 'crio',
        namespace: 'shop',
        pod: 'web-1',
        podUid: 'uid-1',
        container,
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
        env: ['A=b'],
        logLines: [],
      },
      64 * 1024,
    );
  };
  const store = new MemoryStore();
  const logs = new LogSink();
  const deps: CaptureDeps = {
    queue,
    api: new FakeKube(),
    kubelet: new FakeKubelet(join(dir, 'checkpoints'), opts.realArchive ? write : undefined),
    store,
    signingKey: key,
    log: createLogger('debug', logs),
    actor: { component: 'agent', node: 'node-a' },
    version: 'test',
    settings: {
      ...DEFAULT_CAPTURE_SETTINGS,
      checkpointDir: join(dir, 'checkpoints'),
      cluster: 'test',
      minFreeBytes: 0,
      retryBaseMs: 1,
      report: opts.report ?? true,
    },
  };
  const { capture } = await queue.enqueue(
    planCapture({
      policy: 'interactive-shell',
      signal: {
        source: 'falco',
        rule: 'Terminal shell in container',
        priority: 'Notice',
        time: '2026-11-28T12:00:00Z',
        tags: [],
        fields: {},
        target: { namespace: 'shop', pod: 'web-1', container: 'app', containerID: 'aaaaaaaaaaaa' },
        raw: {},
      },
      containers: 'target',
      cooldownMs: 60_000,
      timeoutSeconds: 30,
      include: ['podSpec'],
      evidence: { retentionDays: 30, lock: 'none' },
    }),
  );
  const bundleDir = async () => {
    const keys = await store.list('');
    return (keys[0] ?? '').slice(0, (keys[0] ?? '').lastIndexOf('/'));
  };
  const verify = async () => verifyBundle(storeSource(store, await bundleDir()), { jwks: { keys: [key.publicJwk] } });
  return { deps, queue, store, logs, id: capture.id, bundleDir, verify };
}

t.test('a sealed capture gains report.json under a signed addendum, made after the seal', async (t) => {
  const { deps, id, store, bundleDir, verify } = await setup(t, { realArchive: true });
  const done = await runCapture(deps, id);
  t.equal(done.status.phase, 'Sealed');
  t.match(done.status.report, { state: 'Written', sha256: /^[0-9a-f]{64}$/ });
  t.ok(done.status.report?.indicators?.includes('reverse-shell'), 'the reverse shell is an indicator');
  const dir = await bundleDir();
  const report = JSON.parse(await text(await store.get(`${dir}/report.json`))) as {
    captureId: string;
    checkpoints: { archive: { name: string; sha256: string }; processes: { pid: number; cmdline: string[] }[] }[];
  };
  t.equal(report.captureId, id);
  const archive = done.status.bundle?.archives[0];
  t.same(
    report.checkpoints[0]?.archive,
    { container: 'app', name: 'checkpoint-app.tar', size: archive?.size, sha256: archive?.sha256 },
    'the report names the sealed archive it read',
  );
  t.same(
    report.checkpoints[0]?.processes.map((p) => p.pid),
    [1, 7, 9],
  );
  t.match(
    report.checkpoints[0],
    { container: { engine: 'cri-o', ociRuntime: String }, compression: 'none', checkpointSize: { totalBytes: Number }, mounts: Array },
    'what amber inspect --json shows',
  );
  const manifest = JSON.parse(await text(await store.get(`${dir}/manifest.json`))) as { artifacts: { name: string }[] };
  t.notOk(
    manifest.artifacts.some((a) => a.name === 'report.json'),
    'the manifest was sealed without waiting for the report',
  );
  const r = await verify();
  t.equal(r.valid, true, JSON.stringify(r.checks.filter((c) => !c.ok)));
  t.ok(r.checks.some((c) => c.check === 'artifact' && c.artifact === 'report.json' && c.ok));
});

t.test('a report that cannot be made leaves the capture Sealed and verifiable, with the reason', async (t) => {
  const { deps, id, store, logs, bundleDir, verify } = await setup(t, { realArchive: false });
  const done = await runCapture(deps, id);
  t.equal(done.status.phase, 'Sealed');
  t.match(done.status.report, { state: 'Failed', reason: 'NotACheckpoint' });
  t.notOk(
    (await store.list(await bundleDir())).some((k) => /report\.json|addendum/.test(k)),
    'no half-written report',
  );
  t.equal((await verify()).valid, true);
  t.ok(
    logs.lines.some((l) => l['msg'] === 'triage report not written; the sealed evidence is unaffected'),
    'logged',
  );
});

t.test('with reports off the capture settles at Sealed; a Pending report is finished at the next run, signing what is stored', async (t) => {
  const { deps, id, store, queue, bundleDir, verify } = await setup(t, { realArchive: true, report: false });
  const sealed = await runCapture(deps, id);
  t.equal(sealed.status.report, undefined, 'no report asked for');
  t.notOk((await store.list('')).some((k) => k.endsWith('report.json')));

  // as if the agent died while the report was being written: report.json and addendum.json stored, no signature
  await queue.updateStatus(id, { ...sealed.status, report: { state: 'Pending' } });
  const on = { ...deps, settings: { ...deps.settings, report: true } };
  const first = await runCapture(on, id);
  t.equal(first.status.report?.state, 'Written');
  const dir = await bundleDir();
  const reportSha = first.status.report?.sha256;
  store.objects.delete(`${dir}/addendum.jws`);
  await queue.updateStatus(id, { ...first.status, report: { state: 'Pending' }, custody: sealed.status.custody ?? [] });
  const again = await runCapture(on, id);
  t.match(again.status.report, { state: 'Written', sha256: reportSha }, 'the stored report stays the original');
  t.same(
    again.status.custody?.slice(-3).map((e) => e.action),
    ['report.produced', 'artifact.hashed', 'artifact.stored'],
    "the addendum's custody is taken back into the status",
  );
  t.ok(store.objects.has(`${dir}/addendum.jws`), 'the stored addendum is signed');
  t.equal((await verify()).valid, true);
});
