import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import t from 'tap';
import { DEFAULT_CAPTURE_SETTINGS, type CaptureDeps } from '../../src/capture/capture-deps.js';
import { startCaptureWorker } from '../../src/capture/capture-worker.js';
import { Semaphore } from '../../src/capture/semaphore.js';
import { createLogger } from '../../src/cli/create-logger.js';
import { planCapture } from '../../src/core/decision.js';
import { loadOrCreateSigningKey } from '../../src/evidence/signing-key.js';
import type { CaptureQueue } from '../../src/queue/capture-queue.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';
import { MemoryStore } from '../../src/storage/memory-store.js';
import type { PutMeta, StoredObject } from '../../src/storage/object-store.js';
import { FakeKube, FakeKubelet, podObject } from '../helpers/fake-kube.js';
import { LogSink } from '../helpers/log-sink.js';

/** A MemoryStore whose writes wait until the test opens it: uploads that do not finish. */
class HeldStore extends MemoryStore {
  private opened = false;
  private waiters: (() => void)[] = [];
  puts = 0;
  open(): void {
    this.opened = true;
    for (const w of this.waiters.splice(0)) w();
  }
  override async put(key: string, body: Readable, meta?: PutMeta): Promise<StoredObject> {
    this.puts++;
    if (!this.opened) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return await super.put(key, body, meta);
  }
}

async function setup(t: { teardown(fn: () => unknown): void }, store: MemoryStore, kube = new FakeKube()) {
  const dir = await mkdtemp(join(tmpdir(), 'amber-worker-'));
  const queue = await FileQueue.open({ dir: join(dir, 'journal') });
  t.teardown(async () => {
    await queue.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  await mkdir(join(dir, 'checkpoints'));
  const { key } = await loadOrCreateSigningKey(join(dir, 'signing'));
  const deps: CaptureDeps = {
    queue,
    api: kube,
    kubelet: new FakeKubelet(join(dir, 'checkpoints')),
    store,
    signingKey: key,
    log: createLogger('warn', new LogSink()),
    settings: { ...DEFAULT_CAPTURE_SETTINGS, checkpointDir: join(dir, 'checkpoints'), cluster: 'test', minFreeBytes: 0, report: false },
    actor: { component: 'agent', node: 'node-a' },
    version: 'test',
  };
  const enqueue = (pod: string) =>
    queue.enqueue(
      planCapture({
        policy: 'interactive-shell',
        signal: {
          source: 'falco',
          rule: 'Terminal shell in container',
          priority: 'Notice',
          time: '2026-11-29T10:00:00Z',
          tags: [],
          fields: {},
          target: { namespace: 'shop', pod, container: 'app' },
          raw: {},
          rawText: '{}',
        },
        containers: 'target',
        cooldownMs: 60_000,
        timeoutSeconds: 30,
        include: [],
        evidence: { retentionDays: 30, lock: 'none' },
      }),
    );
  return { deps, queue, enqueue };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

t.test('new captures are checkpointed while older ones are stuck in their uploads', async (t) => {
  // More captures than the checkpoint step's cap (256), one upload slot, and a store that holds
  // every write: a worker that counted uploading captures against that cap would stop at 256.
  const N = 260;
  const store = new HeldStore();
  const kube = new FakeKube();
  for (let i = 1; i <= N; i++) kube.pods.set(`shop/web-${i}`, podObject({ name: `web-${i}` }));
  const { deps, enqueue } = await setup(t, store, kube);
  const kubelet = deps.kubelet as FakeKubelet;
  const worker = await startCaptureWorker(deps, { concurrency: 1 });
  const ids: string[] = [];
  for (let i = 1; i <= N; i++) ids.push((await enqueue(`web-${i}`)).capture.id);
  await until(() => kubelet.calls.length === N, `${N} checkpoint requests`);
  t.equal(new Set(kubelet.calls.map((c) => c.pod)).size, N, 'every capture reached the kubelet');
  t.equal(store.puts, 1, 'while a single upload is still held');
  store.open();
  const settled = await Promise.all(ids.map((id) => worker.settled(id, 60_000)));
  t.same(new Set(settled.map((c) => c.status.phase)), new Set(['Sealed']), 'then every capture is sealed');
  await worker.stop();
});

t.test('the checkpoint step has a bound of its own', async (t) => {
  const store = new HeldStore();
  const kube = new FakeKube();
  for (let i = 1; i <= 3; i++) kube.pods.set(`shop/web-${i}`, podObject({ name: `web-${i}` }));
  const { deps, enqueue } = await setup(t, store, kube);
  const kubelet = deps.kubelet as FakeKubelet;
  let inFlight = 0;
  let most = 0;
  const checkpoint = kubelet.checkpoint.bind(kubelet);
  kubelet.checkpoint = async (...args) => {
    most = Math.max(most, ++inFlight);
    await new Promise((r) => setTimeout(r, 20));
    try {
      return await checkpoint(...args);
    } finally {
      inFlight--;
    }
  };
  store.open();
  const worker = await startCaptureWorker({ ...deps, checkpoints: new Semaphore(2) });
  const ids = [];
  for (let i = 1; i <= 3; i++) ids.push((await enqueue(`web-${i}`)).capture.id);
  const settled = await Promise.all(ids.map((id) => worker.settled(id)));
  t.same(
    settled.map((c) => c.status.phase),
    ['Sealed', 'Sealed', 'Sealed'],
  );
  t.equal(most, 2, 'at most two checkpoint requests at a time');
  await worker.stop();
});

t.test("a new capture's pod is read while its journal record is flushed, and not read again for the checkpoint", async (t) => {
  const kube = new FakeKube();
  const { deps, queue, enqueue } = await setup(t, new MemoryStore(), kube);
  let readsBeforeDurable = -1;
  let readsAtCheckpoint = -1;
  const kubelet = deps.kubelet as FakeKubelet;
  const checkpoint = kubelet.checkpoint.bind(kubelet);
  kubelet.checkpoint = async (...args) => {
    readsAtCheckpoint = kube.calls;
    return await checkpoint(...args);
  };
  const worker = await startCaptureWorker(deps);
  // registered after the worker's: sees the capture once it is durable, as the worker does
  queue.watch(() => (readsBeforeDurable = kube.calls));
  const { capture } = await enqueue('web-1');
  t.equal(readsBeforeDurable, 1, 'the pod read started before the capture was durable');
  const done = await worker.settled(capture.id);
  t.equal(done.status.phase, 'Sealed');
  t.equal(readsAtCheckpoint, 1, 'the checkpoint used that read');
  await worker.stop();
});

t.test('a capture whose pod read fails early is retried like any other attempt', async (t) => {
  const kube = new FakeKube();
  const { deps, enqueue } = await setup(t, new MemoryStore(), kube);
  const { AmberError } = await import('../../src/core/amber-error.js');
  kube.failNext.push(new AmberError('KUBE_API_UNAVAILABLE', { status: 503 }));
  const worker = await startCaptureWorker({ ...deps, settings: { ...deps.settings, retryBaseMs: 1 } });
  const { capture } = await enqueue('web-1');
  const done = await worker.settled(capture.id);
  t.equal(done.status.phase, 'Sealed');
  t.equal(done.status.attempts, 2, 'the early read failed the first attempt; the second read its own');
  await worker.stop();
});

t.test('a run stopped because the queue itself failed is tried again, not left until a restart', async (t) => {
  const { deps, queue, enqueue } = await setup(t, new MemoryStore());
  const { AmberError } = await import('../../src/core/amber-error.js');
  const sink = new LogSink();
  let failGets = 2;
  // the queue the worker sees: its first reads of the capture fail as an unavailable API server would
  const flaky: CaptureQueue = {
    enqueue: (r) => queue.enqueue(r),
    list: (o) => queue.list(o),
    updateStatus: (id, st) => queue.updateStatus(id, st),
    watch: (l) => queue.watch(l),
    watchAccepted: (l) => queue.watchAccepted(l),
    isReady: () => queue.isReady(),
    close: () => queue.close(),
    get: async (id: string) => {
      if (failGets > 0) {
        failGets--;
        throw new AmberError('QUEUE_UNAVAILABLE', { what: 'list', status: 429, message: 'storage is (re)initializing' });
      }
      return queue.get(id);
    },
  };
  const { capture } = await enqueue('web-1');
  // found at start: each run reads the capture first
  const worker = await startCaptureWorker({ ...deps, queue: flaky, log: createLogger('warn', sink), settings: { ...deps.settings, retryBaseMs: 5 } });
  while (failGets > 0) await new Promise((r) => setTimeout(r, 5));
  const done = await worker.settled(capture.id, 10_000);
  t.equal(done.status.phase, 'Sealed');
  t.equal(failGets, 0);
  const lines = sink.lines.filter((l) => l['msg'] === 'capture run stopped by a failure of the queue; trying again');
  t.equal(lines.length, 2, 'one line per failure');
  t.match(
    lines.map((l) => l['retryInMs']),
    [5, 10],
    'backing off',
  );
  t.match(lines[0], { capture: capture.id, code: 'QUEUE_UNAVAILABLE' });
  await worker.stop();
});
