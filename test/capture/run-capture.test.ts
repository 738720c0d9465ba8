import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import t from 'tap';
import { DEFAULT_CAPTURE_SETTINGS, type CaptureDeps } from '../../src/capture/capture-deps.js';
import { runCapture } from '../../src/capture/run-capture.js';
import { createLogger } from '../../src/cli/create-logger.js';
import { AmberError } from '../../src/core/amber-error.js';
import { planCapture } from '../../src/core/decision.js';
import { verifyCustodyJsonl } from '../../src/evidence/custody-chain.js';
import { loadOrCreateSigningKey, verifyDetached } from '../../src/evidence/signing-key.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';
import { MemoryStore } from '../../src/storage/memory-store.js';
import { FakeKube, FakeKubelet, podObject } from '../helpers/fake-kube.js';
import { LogSink } from '../helpers/log-sink.js';

async function setup(t: { teardown(fn: () => unknown): void }, over: Partial<CaptureDeps['settings']> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'amber-run-'));
  const queue = await FileQueue.open({ dir: join(dir, 'journal') });
  t.teardown(async () => {
    await queue.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const { key } = await loadOrCreateSigningKey(join(dir, 'signing'));
  const kube = new FakeKube();
  await mkdir(join(dir, 'checkpoints'));
  const kubelet = new FakeKubelet(join(dir, 'checkpoints'));
  const store = new MemoryStore();
  const logs = new LogSink();
  const deps: CaptureDeps = {
    queue,
    api: kube,
    kubelet,
    store,
    signingKey: key,
    log: createLogger('debug', logs),
    settings: { ...DEFAULT_CAPTURE_SETTINGS, checkpointDir: join(dir, 'checkpoints'), cluster: 'test', minFreeBytes: 0, retryBaseMs: 1, ...over },
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
        time: '2026-11-28T10:00:00.123456789Z',
        tags: [],
        fields: {},
        target: { namespace: 'shop', pod: 'web-1', container: 'app', containerID: 'aaaaaaaaaaaa' },
        raw: { rule: 'Terminal shell in container' },
        rawText: '{"rule":"Terminal shell in container","evt.time":1741944401512873014}',
      },
      containers: 'target',
      cooldownMs: 60_000,
      timeoutSeconds: 30,
      include: ['podSpec', 'logs'],
      evidence: { retentionDays: 30, lock: 'none' },
    }),
  );
  return { dir, queue, kube, kubelet, store, deps, id: capture.id, key };
}

t.test('seals a bundle whose manifest lists every artifact, signed, with the custody head', async (t) => {
  const { deps, id, store, kubelet, dir, key } = await setup(t);
  const done = await runCapture(deps, id);
  t.equal(done.status.phase, 'Sealed', done.status.message ?? 'sealed');
  t.same(Object.keys(done.status.phaseTimes).sort(), ['Checkpointing', 'Pending', 'Sealed', 'Uploading']);
  t.equal(kubelet.calls.length, 1);
  t.equal(kubelet.calls[0]?.timeoutSeconds, 30, 'the policy timeout goes to the kubelet');
  const keys = await store.list('');
  const prefix = keys[0]?.slice(0, keys[0].lastIndexOf('/')) as string;
  t.match(prefix, new RegExp(`^test/\\d{4}/\\d{2}/\\d{2}/${id}$`));
  t.same(keys.map((k) => k.slice(prefix.length + 1)).sort(), [
    'checkpoint-app.tar',
    'custody.jsonl',
    'logs-app.txt',
    'manifest.json',
    'manifest.jws',
    'pod.json',
    'signals.json',
  ]);
  const manifestText = await text(await store.get(`${prefix}/manifest.json`));
  const manifest = JSON.parse(manifestText);
  t.equal(manifest.captureId, id);
  t.same(manifest.artifacts.map((a: { name: string }) => a.name).sort(), ['checkpoint-app.tar', 'custody.jsonl', 'logs-app.txt', 'pod.json', 'signals.json']);
  t.match(manifest.target, { podUID: '5b0f7c1e-9a64-4d2b-8e3f-2c71a9d4b6e0', node: 'node-a', containers: [{ name: 'app', imageID: /@sha256:/ }] });
  const jws = await text(await store.get(`${prefix}/manifest.jws`));
  t.equal((await verifyDetached(jws, Buffer.from(manifestText), { keys: [key.publicJwk] })).kid, key.kid);
  const custody = verifyCustodyJsonl(await text(await store.get(`${prefix}/custody.jsonl`)));
  t.same(custody.problems, []);
  t.equal(custody.head, manifest.custody.head);
  const actions = (await text(await store.get(`${prefix}/custody.jsonl`)))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).action);
  t.same(actions.slice(0, 5), ['signal.received', 'policy.matched', 'capture.queued', 'checkpoint.requested', 'checkpoint.written']);
  t.equal(actions[actions.length - 1], 'bundle.sealed');
  const pod = await text(await store.get(`${prefix}/pod.json`));
  t.notMatch(pod, /hunter2/, 'a secret-looking env value is redacted');
  t.match(pod, /"value": "prod"/);
  const signals = await text(await store.get(`${prefix}/signals.json`));
  t.match(signals, /1741944401512873014/, 'the received bytes are kept');
  t.same(await readdir(join(dir, 'checkpoints')), [], 'the node copy is deleted after sealing');
  t.equal(done.status.bundle?.signingKeyId, key.kid);
});

t.test('a transient API failure retries; a permanent one fails with a stable reason', async (t) => {
  const { deps, id, kube } = await setup(t, { maxAttempts: 2 });
  kube.failNext.push(new AmberError('KUBE_API_UNAVAILABLE', { message: 'connection refused' }));
  const first = await runCapture(deps, id);
  t.equal(first.status.phase, 'Checkpointing');
  t.equal(first.status.reason, 'KubeApiUnavailable');
  t.ok(first.status.retryAt);
  const second = await runCapture(deps, id);
  t.equal(second.status.phase, 'Sealed');
  t.equal(second.status.attempts, 2);
  t.equal(second.status.reason, undefined, 'the reason is cleared on success');

  const other = await setup(t);
  other.kube.pods.clear();
  const gone = await runCapture(other.deps, other.id);
  t.equal(gone.status.phase, 'Failed');
  t.equal(gone.status.reason, 'PodGone');
  t.same(await other.store.list(''), [], 'nothing half-sealed');
});

t.test('the runtime message of a failed checkpoint is kept in the status', async (t) => {
  const { deps, id, kubelet } = await setup(t);
  kubelet.failNext.push(
    new AmberError('CHECKPOINT_FAILED', { status: 500, message: 'checkpointing of shop/web-1/app failed (CRIU binary not found or too old)' }),
  );
  const done = await runCapture(deps, id);
  t.equal(done.status.phase, 'Failed');
  t.equal(done.status.reason, 'CheckpointFailed');
  t.match(done.status.message, /CRIU binary not found/);
});

t.test('a container that is not running fails without a checkpoint', async (t) => {
  const { deps, id, kube, kubelet } = await setup(t);
  kube.pods.set('shop/web-1', podObject({ running: false }));
  const done = await runCapture(deps, id);
  t.equal(done.status.reason, 'ContainerNotRunning');
  t.equal(kubelet.calls.length, 0);
});

t.test('a node short of free space gets no new checkpoint (DiskPressure)', async (t) => {
  const { deps, id, kubelet } = await setup(t, { minFreeBytes: Number.MAX_SAFE_INTEGER });
  const done = await runCapture(deps, id);
  t.equal(done.status.phase, 'Failed');
  t.equal(done.status.reason, 'DiskPressure');
  t.equal(kubelet.calls.length, 0);
});

t.test('a retry after the checkpoint reuses the archive and keeps stored originals', async (t) => {
  const { deps, id, kubelet, store } = await setup(t);
  // The store fails once in the middle of the upload (after the archive is stored).
  const realPut = store.put.bind(store);
  let puts = 0;
  store.put = async (key, body, meta) => {
    if (++puts === 2) throw new Error('EIO: disk went away');
    return realPut(key, body, meta);
  };
  const first = await runCapture(deps, id);
  t.equal(first.status.phase, 'Uploading');
  t.equal(first.status.reason, 'Internal');
  const archiveKey = (await store.list('')).find((k) => k.endsWith('checkpoint-app.tar')) as string;
  const original = await text(await store.get(archiveKey));
  const second = await runCapture(deps, id);
  t.equal(second.status.phase, 'Sealed', second.status.message ?? 'sealed');
  t.equal(kubelet.calls.length, 1, 'the container was checkpointed once');
  t.equal(await text(await store.get(archiveKey)), original);
  t.same(verifyCustodyJsonl(await text(await store.get(archiveKey.replace('checkpoint-app.tar', 'custody.jsonl')))).problems, []);
});

t.test('a retry after the custody log was stored seals a manifest that names that same chain', async (t) => {
  const { deps, id, store, key } = await setup(t, { maxAttempts: 3 });
  (deps.api as FakeKube).readLogs = async () => {
    throw new AmberError('KUBE_API_UNAVAILABLE', { message: 'logs unavailable' });
  };
  const realPut = store.put.bind(store);
  store.put = async (k, body, meta) => {
    if (k.endsWith('manifest.json')) throw new Error('EIO: disk went away');
    return realPut(k, body, meta);
  };
  const first = await runCapture(deps, id);
  t.equal(first.status.phase, 'Uploading');
  store.put = realPut;
  (deps.api as FakeKube).readLogs = async () => 'logs now available\n';
  const second = await runCapture(deps, id);
  t.equal(second.status.phase, 'Sealed', second.status.message ?? 'sealed');
  const prefix = (await store.list('')).find((k) => k.endsWith('manifest.json'))?.replace('/manifest.json', '') as string;
  const manifestText = await text(await store.get(`${prefix}/manifest.json`));
  const manifest = JSON.parse(manifestText);
  t.equal(verifyCustodyJsonl(await text(await store.get(`${prefix}/custody.jsonl`))).head, manifest.custody.head);
  t.notOk(
    manifest.artifacts.some((a: { name: string }) => a.name === 'logs-app.txt'),
    'the artifact list closed when the chain said sealed',
  );
  t.ok(await verifyDetached(await text(await store.get(`${prefix}/manifest.jws`)), Buffer.from(manifestText), { keys: [key.publicJwk] }));
});

t.test('a capture whose last attempt never finished is failed at the next start, not retried forever', async (t) => {
  const { deps, id, queue, kubelet } = await setup(t, { maxAttempts: 2 });
  const c = await queue.get(id);
  await queue.updateStatus(id, { ...(c as NonNullable<typeof c>).status, phase: 'Checkpointing', attempts: 2 });
  const done = await runCapture(deps, id);
  t.equal(done.status.phase, 'Failed');
  t.equal(done.status.reason, 'AttemptsExhausted');
  t.equal(kubelet.calls.length, 0);
});

t.test('a container that restarted since the alert is not captured in its place', async (t) => {
  const { deps, id, kube, kubelet } = await setup(t);
  const pod = podObject();
  const status = pod.status?.containerStatuses?.[0];
  if (status) status.containerID = `containerd://${'f'.repeat(64)}`; // a new instance under the same name
  kube.pods.set('shop/web-1', pod);
  const done = await runCapture(deps, id);
  t.equal(done.status.phase, 'Failed');
  t.equal(done.status.reason, 'ContainerNotFound');
  t.equal(kubelet.calls.length, 0);
});
