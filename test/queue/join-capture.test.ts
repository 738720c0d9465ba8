/**
 * One freeze per container: a signal for a container that a capture is about to checkpoint joins
 * that capture (core/join-capture.ts), in the embedded queue. The Kubernetes queue is tested
 * against the simulated API server in test/queue/kube-queue.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { EvidenceSettings } from '../../src/core/capture.js';
import type { PlannedCapture } from '../../src/core/decision.js';
import { canJoin, strictestEvidence } from '../../src/core/join-capture.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';

const AGE_A = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const AGE_B = 'age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj';

function request(
  policy: string,
  over: { container?: string; containers?: 'target' | 'all'; evidence?: EvidenceSettings; pod?: string; include?: ('podSpec' | 'logs')[] } = {},
): PlannedCapture {
  const pod = over.pod ?? 'web-1';
  const containers = over.containers ?? 'target';
  const container = over.container ?? 'app';
  return {
    dedupeKey: `${policy}/shop/${pod}/${containers === 'all' ? '*' : container}`,
    cooldownMs: 60_000,
    spec: {
      target: { namespace: 'shop', pod, ...(containers === 'all' ? {} : { container }) },
      trigger: { source: 'falco', rule: `rule of ${policy}`, time: '2026-11-28T10:00:00Z', policy, signalDigest: `digest-${policy}` },
      containers,
      timeoutSeconds: 120,
      include: over.include ?? ['podSpec'],
      evidence: over.evidence ?? { retentionDays: 1, lock: 'none' },
    },
    signals: [{ rule: `rule of ${policy}` }],
  };
}

async function openQueue(t: { teardown(fn: () => unknown): void }, now: () => number) {
  const dir = await mkdtemp(join(tmpdir(), 'amber-join-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const q = await FileQueue.open({ dir, now });
  return { dir, q };
}

t.test('the strictest evidence settings win: longer retention, stronger lock, any legal hold, every recipient', async (t) => {
  t.same(strictestEvidence({ retentionDays: 30, lock: 'governance' }, { retentionDays: 365, lock: 'none', legalHold: true }), {
    retentionDays: 365,
    lock: 'governance',
    legalHold: true,
  });
  t.same(strictestEvidence({ retentionDays: 1, lock: 'compliance' }, { retentionDays: 1, lock: 'governance' }), { retentionDays: 1, lock: 'compliance' });
  t.same(strictestEvidence({ retentionDays: 1, lock: 'none', encryption: { recipients: [AGE_A] } }, { retentionDays: 1, lock: 'none' }), {
    retentionDays: 1,
    lock: 'none',
    encryption: { recipients: [AGE_A] },
  });
  t.same(
    strictestEvidence(
      { retentionDays: 1, lock: 'none', encryption: { recipients: [AGE_A] } },
      { retentionDays: 1, lock: 'none', encryption: { recipients: [AGE_B, AGE_A] } },
    ).encryption,
    { recipients: [AGE_A, AGE_B] },
  );
});

t.test('who may join whom: same pod and container (or a capture of every container), while Pending or Checkpointing', async (t) => {
  const view = (phase: string, r: PlannedCapture) => ({ spec: r.spec, status: { phase: phase as 'Pending' } });
  const a = request('a');
  t.ok(canJoin(view('Pending', a), request('b')), 'Pending, same container');
  t.ok(canJoin(view('Checkpointing', a), request('b')), 'Checkpointing, same container');
  t.notOk(canJoin(view('Uploading', a), request('b')), 'Uploading: the archive is taken');
  t.notOk(canJoin(view('Sealed', a), request('b')));
  t.notOk(canJoin(view('Pending', a), request('b', { container: 'sidecar' })), 'another container');
  t.notOk(canJoin(view('Pending', a), request('b', { pod: 'web-2' })), 'another pod');
  t.ok(canJoin(view('Checkpointing', request('a', { containers: 'all' })), request('b', { container: 'sidecar' })), 'a capture of every container covers each');
  t.ok(canJoin(view('Pending', a), request('b', { containers: 'all' })), 'Pending: widened to every container');
  t.notOk(canJoin(view('Checkpointing', a), request('b', { containers: 'all' })), 'Checkpointing: too late to widen');
  const byId = (id: string) => ({ ...request('x'), spec: { ...request('x').spec, target: { namespace: 'shop', pod: 'web-1', containerID: id } } });
  t.ok(canJoin(view('Pending', byId('a71d3e9c0b58c0ffee')), byId('a71d3e9c0b58')), 'Falco names a container by a prefix of its id');
  const recipients = (from: number, n: number) => Array.from({ length: n }, (_, i) => `age1-recipient-${from + i}`);
  const encrypted = (r: string[]) => ({ evidence: { retentionDays: 1, lock: 'none' as const, encryption: { recipients: r } } });
  t.ok(canJoin(view('Pending', request('a', encrypted(recipients(0, 20)))), request('b', encrypted(recipients(10, 22)))), '32 recipients together');
  t.notOk(
    canJoin(view('Pending', request('a', encrypted(recipients(0, 20)))), request('b', encrypted(recipients(10, 23)))),
    'more than 32 recipients together: a capture of its own',
  );
});

t.test('a second policy matching the same container joins its Pending capture; its keys are duplicates of it from then on, across a restart', async (t) => {
  let now = Date.parse('2026-11-28T10:00:00Z');
  const { dir, q } = await openQueue(t, () => now);
  const announced: string[] = [];
  q.watch((c) => announced.push(c.id));
  const first = await q.enqueue(request('a', { evidence: { retentionDays: 30, lock: 'governance' } }));
  now += 1_000;
  const second = await q.enqueue(request('b', { evidence: { retentionDays: 365, lock: 'none', legalHold: true }, include: ['logs'] }));
  t.match(second, { duplicate: false, joined: true });
  t.equal(second.capture.id, first.capture.id);
  t.same(second.capture.signals, [{ rule: 'rule of a' }, { rule: 'rule of b' }]);
  t.same(second.capture.spec.evidence, { retentionDays: 365, lock: 'governance', legalHold: true });
  t.same(second.capture.spec.include, ['podSpec', 'logs']);
  t.match(second.capture.joined, [{ at: '2026-11-28T10:00:01.000Z', dedupeKey: 'b/shop/web-1/app', phase: 'Pending', trigger: { policy: 'b' } }]);
  t.same(announced, [first.capture.id], 'a join announces no new capture');

  now += 30_000;
  const again = await q.enqueue(request('b'));
  t.match(again, { duplicate: true });
  t.equal(again.capture.id, first.capture.id, "b's next alert within b's cooldown is a duplicate of the capture it joined");
  t.equal(q.existing({ dedupeKey: 'b/shop/web-1/app', cooldownMs: 60_000 }) && 'ok', 'ok', 'and the intake can tell without I/O');

  await q.close();
  const reopened = await FileQueue.open({ dir, now: () => now });
  t.teardown(() => reopened.close());
  const back = await reopened.get(first.capture.id);
  t.same(back?.signals.length, 2, 'the join survives a restart');
  t.same(back?.spec.evidence, { retentionDays: 365, lock: 'governance', legalHold: true });
  t.match(await reopened.enqueue(request('b')), { duplicate: true, capture: { id: first.capture.id } }, 'and so do its keys');
  t.match(await reopened.enqueue(request('c')), { joined: true, capture: { id: first.capture.id } }, 'still Pending after the restart: joinable');
});

t.test('three policies at once converge on one capture; a capture that has its archive is not joined', async (t) => {
  const now = Date.parse('2026-11-28T10:00:00Z');
  const { q } = await openQueue(t, () => now);
  t.teardown(() => q.close());
  const results = await Promise.all(['a', 'b', 'c'].map((p) => q.enqueue(request(p))));
  t.equal(new Set(results.map((r) => r.capture.id)).size, 1, 'one capture');
  t.same(
    results.map((r) => r.joined === true),
    [false, true, true],
  );
  const capture = await q.get(results[0]!.capture.id);
  t.same(
    capture?.joined?.map((j) => j.trigger.policy),
    ['b', 'c'],
  );
  t.equal(capture?.signals.length, 3);

  await q.updateStatus(capture!.id, { ...capture!.status, phase: 'Checkpointing' });
  t.match(await q.enqueue(request('d')), { joined: true }, 'Checkpointing: joined');
  const status = (await q.get(capture!.id))!.status;
  const uploading = await q.updateStatus(capture!.id, { ...status, phase: 'Uploading' });
  t.same(
    uploading.joined?.map((j) => [j.trigger.policy, j.phase]),
    [
      ['b', 'Pending'],
      ['c', 'Pending'],
      ['d', 'Checkpointing'],
    ],
    'the capture the worker goes on with holds every join',
  );
  const late = await q.enqueue(request('e'));
  t.match(late, { duplicate: false });
  t.notOk(late.joined);
  t.not(late.capture.id, capture!.id, 'Uploading: a capture of its own');
});

t.test('a capture of one container is widened to every container while Pending, never once Checkpointing', async (t) => {
  const now = Date.parse('2026-11-28T10:00:00Z');
  const { q } = await openQueue(t, () => now);
  t.teardown(() => q.close());
  const first = await q.enqueue(request('a'));
  const all = await q.enqueue(request('b', { containers: 'all' }));
  t.match(all, { joined: true, capture: { id: first.capture.id, spec: { containers: 'all', target: { namespace: 'shop', pod: 'web-1' } } } });
  t.equal(all.capture.spec.target.container, undefined);
  t.match(await q.enqueue(request('c', { container: 'sidecar' })), { joined: true }, 'now it covers the sidecar too');

  const other = await q.enqueue(request('d', { pod: 'web-2' }));
  await q.updateStatus(other.capture.id, { ...other.capture.status, phase: 'Checkpointing' });
  const late = await q.enqueue(request('e', { pod: 'web-2', containers: 'all' }));
  t.notOk(late.joined);
  t.not(late.capture.id, other.capture.id);
});
