import { appendFile, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { isAmberError } from '../../src/core/amber-error.js';
import type { PlannedCapture } from '../../src/core/decision.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';

function request(over: Partial<PlannedCapture> & { pod?: string } = {}): PlannedCapture {
  const pod = over.pod ?? 'web-1';
  return {
    dedupeKey: `p/shop/${pod}/app`,
    cooldownMs: 60_000,
    spec: {
      target: { namespace: 'shop', pod, container: 'app' },
      trigger: { source: 'falco', rule: 'Terminal shell in container', time: '2026-11-28T10:00:00Z', policy: 'p', signalDigest: 'ab' },
      containers: 'target',
      timeoutSeconds: 120,
      include: ['podSpec'],
      evidence: { retentionDays: 1, lock: 'none' },
    },
    signals: [{ rule: 'Terminal shell in container' }],
    ...over,
  };
}

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'amber-queue-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a reopened journal holds every capture that was acknowledged', async (t) => {
  const dir = await tempDir(t);
  const q = await FileQueue.open({ dir });
  const ids = [];
  for (let i = 0; i < 20; i++) ids.push((await q.enqueue(request({ pod: `web-${i}` }))).capture.id);
  await q.close();
  const again = await FileQueue.open({ dir });
  t.teardown(() => again.close());
  const listed = await again.list({ limit: 1000 });
  t.same(listed.map((c) => c.id).sort(), [...ids].sort());
  t.equal((await again.get(ids[3] as string))?.spec.target.pod, 'web-3');
});

t.test('dedupes one container within the cooldown and queues again after it', async (t) => {
  const dir = await tempDir(t);
  let now = Date.parse('2026-11-28T10:00:00Z');
  const q = await FileQueue.open({ dir, now: () => now });
  t.teardown(() => q.close());
  const first = await q.enqueue(request());
  now += 59_000;
  const second = await q.enqueue(request());
  t.equal(second.duplicate, true);
  t.equal(second.capture.id, first.capture.id);
  now += 2_000;
  // the first capture has its archive by now: one still Pending would be joined instead
  await q.updateStatus(first.capture.id, { ...first.capture.status, phase: 'Uploading' });
  const third = await q.enqueue(request());
  t.equal(third.duplicate, false);
  t.not(third.capture.id, first.capture.id);
});

t.test('a re-delivered signal is a duplicate even after the cooldown', async (t) => {
  const dir = await tempDir(t);
  let now = Date.parse('2026-11-28T10:00:00Z');
  const q = await FileQueue.open({ dir, now: () => now });
  const first = await q.enqueue(request({ deliveryKey: 'p/alertmanager:abc:2026-11-28T09:59:00Z' }));
  await q.close();
  now += 3_600_000;
  const reopened = await FileQueue.open({ dir, now: () => now });
  t.teardown(() => reopened.close());
  const again = await reopened.enqueue(request({ deliveryKey: 'p/alertmanager:abc:2026-11-28T09:59:00Z' }));
  t.equal(again.duplicate, true);
  t.equal(again.capture.id, first.capture.id);
});

t.test('concurrent identical requests converge on one capture; distinct ones all land', async (t) => {
  const dir = await tempDir(t);
  const q = await FileQueue.open({ dir });
  const same = await Promise.all(Array.from({ length: 200 }, () => q.enqueue(request())));
  t.equal(new Set(same.map((r) => r.capture.id)).size, 1);
  t.equal(same.filter((r) => !r.duplicate).length, 1);
  const distinct = await Promise.all(Array.from({ length: 200 }, (_, i) => q.enqueue(request({ pod: `p-${i}` }))));
  t.equal(new Set(distinct.map((r) => r.capture.id)).size, 200);
  await q.close();
  const lines = (await readFile(join(dir, 'captures.jsonl'), 'utf8')).trim().split('\n');
  t.equal(lines.length, 201, 'one journal line per capture, none doubled');
});

t.test('cuts off a torn last line (a write the process died in) and keeps the rest', async (t) => {
  const dir = await tempDir(t);
  const q = await FileQueue.open({ dir });
  const kept = await q.enqueue(request());
  await q.close();
  await appendFile(join(dir, 'captures.jsonl'), '{"v":1,"capture":{"id":"01');
  const again = await FileQueue.open({ dir });
  t.same(
    (await again.list()).map((c) => c.id),
    [kept.capture.id],
  );
  await again.enqueue(request({ pod: 'after' }));
  await again.close();
  const third = await FileQueue.open({ dir });
  t.teardown(() => third.close());
  t.equal((await third.list()).length, 2, 'the journal stays readable after the repair');
});

t.test('refuses to open a journal with a corrupt line in the middle, naming the line', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'captures.jsonl'), 'not json\n{"v":1}\n');
  await t.rejects(FileQueue.open({ dir }), { code: 'QUEUE_CORRUPT', details: { line: 1 } });
  await writeFile(join(dir, 'captures.jsonl'), '{"v":1,"capture":{"id":"x"}}\n');
  await t.rejects(FileQueue.open({ dir }), { code: 'QUEUE_CORRUPT', details: { line: 1 } });
});

t.test('a second process cannot open a journal that a live process holds', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'LOCK'), `${process.ppid}\n`); // a live process that is not us
  await t.rejects(FileQueue.open({ dir }), { code: 'QUEUE_LOCKED' });
  await writeFile(join(dir, 'LOCK'), '999999999\n'); // a dead one: stale lock is taken over
  const q = await FileQueue.open({ dir });
  await q.close();
});

t.test('when the disk write fails, enqueue rejects with QUEUE_UNAVAILABLE and nothing is half-kept', async (t) => {
  const dir = await tempDir(t);
  const q = await FileQueue.open({ dir });
  const ok = await q.enqueue(request({ pod: 'before' }));
  // Close the journal's file descriptor underneath it: the next write fails with EBADF.
  await (q as unknown as { journal: { fh: { close(): Promise<void> } } }).journal.fh.close();
  const err = await q.enqueue(request({ pod: 'lost' })).catch((e: unknown) => e);
  t.ok(isAmberError(err, 'QUEUE_UNAVAILABLE'));
  t.equal(q.isReady(), false);
  t.same(
    (await q.list()).map((c) => c.id),
    [ok.capture.id],
    'the failed capture is not listed',
  );
  await t.rejects(q.enqueue(request({ pod: 'later' })), { code: 'QUEUE_UNAVAILABLE' });
  // a duplicate of a durable capture is still answered from memory
  t.equal((await q.enqueue(request({ pod: 'before' }))).duplicate, true);
  await q.close().catch(() => undefined);
});

t.test('status updates are durable and compacted at the next open', async (t) => {
  const dir = await tempDir(t);
  const q = await FileQueue.open({ dir });
  const { capture } = await q.enqueue(request());
  for (let i = 1; i <= 100; i++) {
    await q.updateStatus(capture.id, { ...capture.status, attempts: i });
  }
  await t.rejects(q.updateStatus('nope', capture.status), { code: 'CAPTURE_NOT_FOUND' });
  await q.close();
  const again = await FileQueue.open({ dir });
  t.teardown(() => again.close());
  t.equal((await again.get(capture.id))?.status.attempts, 100);
  const lines = (await readFile(join(dir, 'captures.jsonl'), 'utf8')).trim().split('\n');
  t.equal(lines.length, 1, 'superseded records dropped');
});

t.test('lists newest first, filtered by phase and limited', async (t) => {
  const dir = await tempDir(t);
  let now = 1_000_000;
  const q = await FileQueue.open({ dir, now: () => (now += 1000) });
  t.teardown(() => q.close());
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push((await q.enqueue(request({ pod: `w-${i}` }))).capture.id);
  t.same(
    (await q.list({ limit: 2 })).map((c) => c.id),
    [ids[4], ids[3]],
  );
  t.equal((await q.list({ phase: 'Sealed' })).length, 0);
  t.equal((await q.list({ phase: 'Pending' })).length, 5);
});

t.test('status updates live in their own journal and are replayed onto their captures', async (t) => {
  const dir = await tempDir(t);
  const q = await FileQueue.open({ dir });
  const { capture } = await q.enqueue(request());
  await q.updateStatus(capture.id, { ...capture.status, phase: 'Checkpointing', attempts: 1 });
  await q.close();
  const captures = (await readFile(join(dir, 'captures.jsonl'), 'utf8')).trim().split('\n');
  const statuses = (await readFile(join(dir, 'status.jsonl'), 'utf8')).trim().split('\n');
  t.equal(captures.length, 1, 'the intake journal holds only new captures');
  t.equal(statuses.length, 1);
  const again = await FileQueue.open({ dir });
  t.teardown(() => again.close());
  t.match(await again.get(capture.id), { status: { phase: 'Checkpointing', attempts: 1 } });
});

t.test('refuses a status journal line for a capture it does not know', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'status.jsonl'), '{"v":1,"id":"nope","status":{}}\n');
  await t.rejects(FileQueue.open({ dir }), { code: 'QUEUE_CORRUPT', details: { line: 1 } });
});

t.test('tells accept listeners of a new capture before it is durable, and whether it became so', async (t) => {
  const dir = await tempDir(t);
  const q = await FileQueue.open({ dir });
  const seen: { id: string; durableAtCall: boolean; durable: Promise<unknown> }[] = [];
  let durableSeen = false;
  q.watch(() => (durableSeen = true));
  const stop = q.watchAccepted((capture, durable) => seen.push({ id: capture.id, durableAtCall: durableSeen, durable }));
  const first = await q.enqueue(request({ pod: 'web-1' }));
  t.same(
    seen.map((s) => [s.id, s.durableAtCall]),
    [[first.capture.id, false]],
    'called before watch, i.e. before the fsync',
  );
  await t.resolves(seen[0]?.durable as Promise<unknown>);
  await q.enqueue(request({ pod: 'web-1' }));
  t.equal(seen.length, 1, 'a duplicate is not a new capture');
  await (q as unknown as { journal: { fh: { close(): Promise<void> } } }).journal.fh.close();
  await t.rejects(q.enqueue(request({ pod: 'lost' })), { code: 'QUEUE_UNAVAILABLE' });
  t.equal(seen.length, 2);
  await t.rejects(seen[1]?.durable as Promise<unknown>, { code: 'QUEUE_UNAVAILABLE' }, 'its listener learns the capture never existed');
  stop();
  await q.close().catch(() => undefined);
});

t.test('existing answers what enqueue would answer a duplicate with, without planning a capture', async (t) => {
  const dir = await tempDir(t);
  let now = Date.parse('2026-11-28T10:00:00Z');
  const q = await FileQueue.open({ dir, now: () => now });
  t.teardown(() => q.close().catch(() => undefined));
  const keys = { dedupeKey: 'p/shop/web-1/app', cooldownMs: 60_000 };
  t.equal(q.existing(keys), undefined, 'nothing queued yet');
  const first = await q.enqueue(request());
  const known = q.existing(keys);
  t.equal(known instanceof Promise, false, 'a durable capture is answered at once, not as a promise');
  t.equal((await known)?.id, first.capture.id);
  t.equal(q.existing({ ...keys, dedupeKey: 'p/shop/web-2/app' }), undefined, 'another container');
  now += 61_000;
  t.equal(q.existing(keys), undefined, 'after the cooldown a new capture is due');
  const redelivered = await q.enqueue(request({ pod: 'web-3', deliveryKey: 'p/falcosidekick:u-1' }));
  t.equal(
    (await q.existing({ dedupeKey: 'p/shop/web-9/app', deliveryKey: 'p/falcosidekick:u-1', cooldownMs: 0 }))?.id,
    redelivered.capture.id,
    'a re-delivery whatever the cooldown',
  );
});

t.test('existing waits for a capture being written, and fails with it', async (t) => {
  const dir = await tempDir(t);
  const q = await FileQueue.open({ dir });
  const keys = { dedupeKey: 'p/shop/lost/app', cooldownMs: 60_000 };
  await (q as unknown as { journal: { fh: { close(): Promise<void> } } }).journal.fh.close();
  const writing = q.enqueue(request({ pod: 'lost' }));
  const duplicate = q.existing(keys);
  t.ok(duplicate, 'the capture being written is the one a duplicate would get');
  await t.rejects(writing, { code: 'QUEUE_UNAVAILABLE' });
  await t.rejects(duplicate as Promise<unknown>, { code: 'QUEUE_UNAVAILABLE' }, 'no duplicate of a capture that never existed');
  t.equal(q.existing(keys), undefined);
  await q.close().catch(() => undefined);
});

t.test('captures are read back from the journals whole: signals, spec and the latest status', async (t) => {
  const dir = await tempDir(t);
  const q = await FileQueue.open({ dir });
  const signal = { rule: 'Terminal shell in container', output: 'a shell in café-0 😀' };
  const { capture } = await q.enqueue(request({ signals: [signal] }));
  const updated = await q.updateStatus(capture.id, { ...capture.status, phase: 'Checkpointing', attempts: 1 });
  t.same(updated.signals, [signal], 'updateStatus answers the whole capture');
  t.same(await q.get(capture.id), { ...capture, status: updated.status });
  t.same(
    (await q.list({ phase: 'Checkpointing' })).map((c) => c.id),
    [capture.id],
    'the phase filter follows the update',
  );
  t.same(await q.list({ phase: 'Pending' }), []);
  await q.close();
  const again = await FileQueue.open({ dir });
  t.teardown(() => again.close());
  t.same(await again.get(capture.id), { ...capture, status: updated.status }, 'and after a restart');
});

t.test('a capture is read from disk when asked for: a record changed underneath is reported, not served', async (t) => {
  const dir = await tempDir(t);
  const q = await FileQueue.open({ dir });
  t.teardown(() => q.close());
  const { capture } = await q.enqueue(request());
  const fh = await open(join(dir, 'captures.jsonl'), 'r+');
  await fh.write('#', 0); // the first byte of its line
  await fh.close();
  await t.rejects(q.get(capture.id), { code: 'QUEUE_CORRUPT' });
  t.same(q.existing({ dedupeKey: capture.dedupeKey, cooldownMs: 60_000 }), { id: capture.id, target: capture.spec.target }, 'dedupe answers from memory');
});

t.test('a capture recorded twice (as older versions re-recorded it) is the last record', async (t) => {
  const dir = await tempDir(t);
  const q = await FileQueue.open({ dir });
  const { capture } = await q.enqueue(request());
  await q.close();
  const failed = { ...capture, status: { ...capture.status, phase: 'Failed' as const, reason: 'CHECKPOINT_FAILED' } };
  await appendFile(join(dir, 'captures.jsonl'), `${JSON.stringify({ v: 1, capture: failed })}\n`);
  const again = await FileQueue.open({ dir });
  t.teardown(() => again.close());
  t.same(await again.get(capture.id), failed);
  t.same(
    (await again.list({ phase: 'Failed' })).map((c) => c.id),
    [capture.id],
  );
  t.equal((await again.list()).length, 1, 'one capture, not two');
});
