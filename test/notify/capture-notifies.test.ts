import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DEFAULT_CAPTURE_SETTINGS, type CaptureDeps } from '../../src/capture/capture-deps.js';
import { runCapture } from '../../src/capture/run-capture.js';
import { createLogger } from '../../src/cli/create-logger.js';
import { planCapture } from '../../src/core/decision.js';
import { loadOrCreateSigningKey } from '../../src/evidence/signing-key.js';
import { httpTarget } from '../../src/notify/http-target.js';
import { Notifier } from '../../src/notify/notifier.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';
import { MemoryStore } from '../../src/storage/memory-store.js';
import { FakeKube, FakeKubelet } from '../helpers/fake-kube.js';
import { LogSink } from '../helpers/log-sink.js';

t.test('the capture is Sealed while its notification is still retrying against a receiver that never answers; a re-run sends nothing', async (t) => {
  let requests = 0;
  const server = createServer(() => {
    requests++; // and never answer
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  const dir = await mkdtemp(join(tmpdir(), 'amber-notify-'));
  const queue = await FileQueue.open({ dir: join(dir, 'journal') });
  t.teardown(async () => {
    await queue.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  await mkdir(join(dir, 'checkpoints'));
  const logs = new LogSink();
  const log = createLogger('debug', logs);
  const notifier = new Notifier({
    targets: [
      httpTarget({
        name: 'soc',
        type: 'webhook',
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
        on: new Set(['sealed', 'failed']),
        timeoutMs: 60_000,
      }),
    ],
    policyNotify: new Map(),
    cluster: 'test',
    log,
  });
  t.teardown(() => notifier.close());
  const deps: CaptureDeps = {
    queue,
    api: new FakeKube(),
    kubelet: new FakeKubelet(join(dir, 'checkpoints')),
    store: new MemoryStore(),
    signingKey: (await loadOrCreateSigningKey(join(dir, 'signing'))).key,
    log,
    settings: { ...DEFAULT_CAPTURE_SETTINGS, checkpointDir: join(dir, 'checkpoints'), cluster: 'test', minFreeBytes: 0, retryBaseMs: 1, report: false },
    actor: { component: 'agent', node: 'node-a' },
    version: 'test',
    events: notifier,
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
      },
      containers: 'target',
      cooldownMs: 60_000,
      timeoutSeconds: 30,
      include: ['podSpec'],
      evidence: { retentionDays: 30, lock: 'none' },
    }),
  );
  const done = await runCapture(deps, capture.id);
  t.equal(done.status.phase, 'Sealed', done.status.message ?? 'sealed');
  // the request is in flight (or about to be): the receiver has not answered and the capture did not wait
  for (let i = 0; i < 100 && requests === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(requests, 1, 'the notification reached the receiver, which holds it');
  t.equal(logs.find('notification sent').length, 0, 'and it is not sent yet');
  const again = await runCapture(deps, capture.id);
  t.equal(again.status.phase, 'Sealed');
  t.equal(requests, 1, 'a re-run of a sealed capture notifies nobody again');
});
