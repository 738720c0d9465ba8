import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger } from '../../src/cli/create-logger.js';
import { canonicalJson, sha256Hex } from '../../src/core/canonical-json.js';
import type { Signal } from '../../src/core/signal.js';
import { IntakeMetrics } from '../../src/http/intake-metrics.js';
import { respondToSignals } from '../../src/http/respond-to-signals.js';
import { parsePolicies } from '../../src/policy/load-policies.js';
import type { CaptureQueue, CaptureRequest } from '../../src/queue/capture-queue.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';

const policies = parsePolicies([
  {
    file: 'p.yaml',
    text: `apiVersion: forensics.amber.dev/v1alpha1
kind: CapturePolicy
metadata: { name: shell }
spec:
  description: Shells.
  match: { sources: [falco], rules: ['Terminal shell in container'] }
  capture: { cooldown: 30m }
  evidence: { retentionDays: 30, lock: none }
`,
  },
]);

const signal: Signal = {
  source: 'falco',
  rule: 'Terminal shell in container',
  priority: 'Notice',
  time: '2026-11-28T10:00:00Z',
  tags: [],
  fields: {},
  target: { namespace: 'shop', pod: 'web-1', container: 'app' },
  raw: { rule: 'Terminal shell in container' },
};
const log = createLogger('warn', new Writable({ write: (_c, _e, done) => done() }));

/** The file queue, with the requests its enqueue was given recorded; `existing` kept or hidden. */
async function recordingQueue(t: { teardown(fn: () => unknown): void }, withExisting: boolean): Promise<{ queue: CaptureQueue; planned: CaptureRequest[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'amber-respond-'));
  const inner = await FileQueue.open({ dir });
  t.teardown(async () => {
    await inner.close();
    await rm(dir, { recursive: true, force: true });
  });
  const planned: CaptureRequest[] = [];
  const queue: CaptureQueue = {
    enqueue: (request) => {
      planned.push(request);
      return inner.enqueue(request);
    },
    get: (id) => inner.get(id),
    list: (o) => inner.list(o),
    updateStatus: (id, s) => inner.updateStatus(id, s),
    watch: (l) => inner.watch(l),
    isReady: () => inner.isReady(),
    close: () => inner.close(),
    ...(withExisting ? { existing: (keys) => inner.existing(keys) } : {}),
  };
  return { queue, planned };
}

t.test('a duplicate alert is answered from the queue without planning a capture', async (t) => {
  const { queue, planned } = await recordingQueue(t, true);
  const deps = { policies, queue, metrics: new IntakeMetrics() };
  const first = await respondToSignals('falco', { signals: [signal], ignored: [] }, deps, log);
  t.equal(first.status, 202);
  t.equal(planned.length, 1);
  t.equal(planned[0]?.spec.trigger.signalDigest, sha256Hex(canonicalJson(signal.raw)), 'the new capture records the digest');
  const answer = respondToSignals('falco', { signals: [signal], ignored: [] }, deps, log);
  t.equal(answer instanceof Promise, false, 'the duplicate is answered at once, without a promise');
  const again = await answer;
  t.equal(again.status, 200);
  t.same(
    again.body.captures.map((c) => [c.id, c.duplicate]),
    [[first.body.captures[0]?.id, true]],
  );
  t.equal(planned.length, 1, 'enqueue was not asked again');
  const batch = await respondToSignals('alertmanager', { signals: [signal, signal], ignored: [] }, deps, log);
  t.same(
    batch.body.captures.map((c) => c.duplicate),
    [true, true],
  );
  t.equal(planned.length, 1, 'nor for the signals of a batch');
});

t.test('a queue that cannot tell at once still dedupes in enqueue', async (t) => {
  const { queue, planned } = await recordingQueue(t, false);
  const deps = { policies, queue, metrics: new IntakeMetrics() };
  const first = await respondToSignals('falco', { signals: [signal], ignored: [] }, deps, log);
  const again = await respondToSignals('falco', { signals: [signal], ignored: [] }, deps, log);
  t.equal(again.status, 200);
  t.equal(again.body.captures[0]?.id, first.body.captures[0]?.id);
  t.equal(planned.length, 2, 'each alert was planned and enqueued');
});
