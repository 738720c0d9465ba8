import t from 'tap';
import { CaptureRecord, reasonOf, type CaptureStatusStore } from '../../src/capture/capture-record.js';
import type { Capture, CaptureStatus } from '../../src/core/capture.js';
import { planCapture } from '../../src/core/decision.js';
import { newCapture } from '../../src/queue/capture-queue.js';

/** Holds one capture; each write waits for the test to let it land, so saves can overlap. */
class HeldStatusStore implements CaptureStatusStore {
  readonly written: CaptureStatus[] = [];
  hold = false;
  failNext = false;
  private waiting: (() => void)[] = [];
  constructor(public capture: Capture) {}
  async get(id: string): Promise<Capture | undefined> {
    return id === this.capture.id ? this.capture : undefined;
  }
  async updateStatus(_id: string, status: CaptureStatus): Promise<Capture> {
    if (this.hold) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.failNext) {
      this.failNext = false;
      throw new Error('the queue is down');
    }
    this.written.push(status);
    // the queue answers with what it holds: a signal may have joined meanwhile
    this.capture = { ...this.capture, status };
    return this.capture;
  }
  release(): void {
    this.hold = false;
    for (const w of this.waiting.splice(0)) w();
  }
}

function capture(): Capture {
  const request = planCapture({
    policy: 'interactive-shell',
    signal: {
      source: 'falco',
      rule: 'Terminal shell in container',
      time: '2026-11-28T10:00:00Z',
      tags: [],
      fields: {},
      target: { namespace: 'shop', pod: 'web-1', container: 'app' },
      raw: {},
    },
    containers: 'target',
    cooldownMs: 60_000,
    timeoutSeconds: 30,
    include: [],
    evidence: { retentionDays: 0, lock: 'none' },
  });
  return newCapture(request, Date.UTC(2026, 10, 28, 10, 0, 0));
}

const clock = () => {
  let s = 0;
  return () => new Date(Date.UTC(2026, 10, 28, 10, 0, s++));
};

t.test('saves land one after another in call order, each with the custody chain as it was when called', async (t) => {
  const store = new HeldStatusStore(capture());
  const record = await CaptureRecord.load(store, store.capture.id, { component: 'agent' }, clock());
  store.hold = true;
  record.custody.append('capture.queued', {});
  const first = record.save({ attempts: 1 }, 'Checkpointing'); // not awaited, as the checkpoint step does
  record.custody.append('checkpoint.requested', {});
  const second = record.save({ checkpoints: [] });
  store.release();
  await Promise.all([first, second]);
  t.same(
    store.written.map((s) => [s.phase, s.attempts, s.custody?.length]),
    [
      ['Checkpointing', 1, 1],
      ['Checkpointing', 1, 2],
    ],
    'the second keeps what the first wrote',
  );
  t.same(record.current.status.checkpoints, []);
});

t.test("a phase's time is recorded when it is entered, not again", async (t) => {
  const store = new HeldStatusStore(capture());
  const record = await CaptureRecord.load(store, store.capture.id, { component: 'agent' }, clock());
  await record.save({}, 'Checkpointing');
  const entered = record.current.status.phaseTimes['Checkpointing'];
  await record.save({}, 'Checkpointing');
  t.equal(record.current.status.phaseTimes['Checkpointing'], entered);
  t.same(Object.keys(record.current.status.phaseTimes).sort(), ['Checkpointing', 'Pending']);
});

t.test('a failed save rejects for its caller and does not stop the saves after it', async (t) => {
  const store = new HeldStatusStore(capture());
  const record = await CaptureRecord.load(store, store.capture.id, { component: 'agent' }, clock());
  store.failNext = true;
  const failed = record.save({ attempts: 1 });
  const next = record.save({ attempts: 2 });
  await t.rejects(failed, /the queue is down/);
  await next;
  t.equal(record.current.status.attempts, 2);
});

t.test("a new attempt drops the last one's outcome with its first save", async (t) => {
  const c = capture();
  const store = new HeldStatusStore({ ...c, status: { ...c.status, reason: 'KubeApiUnavailable', message: 'refused', retryAt: '2026-11-28T10:01:00Z' } });
  const record = await CaptureRecord.load(store, c.id, { component: 'agent' });
  record.clearOutcome();
  t.same(store.written, [], 'nothing written until the next save');
  await record.save({ attempts: 2 });
  t.same([store.written[0]?.reason, store.written[0]?.message, store.written[0]?.retryAt], [undefined, undefined, undefined]);
});

t.test("the report's custody entries join the record only when adopted", async (t) => {
  const store = new HeldStatusStore(capture());
  const record = await CaptureRecord.load(store, store.capture.id, { component: 'agent' }, clock());
  record.custody.append('bundle.sealed', {});
  await record.save({});
  const fork = record.forkCustody();
  fork.append('report.produced', {});
  await record.recordPlaintext('report.json', { size: 1, sha256: 'a'.repeat(64) });
  t.same(
    store.written.at(-1)?.custody?.map((e) => e.action),
    ['bundle.sealed'],
    'a save meanwhile writes the sealed chain only',
  );
  t.same(record.plaintextOf('report.json'), { size: 1, sha256: 'a'.repeat(64) });
  record.adoptCustody(fork.entries.slice(1));
  await record.save({ report: { state: 'Written' } });
  t.same(
    store.written.at(-1)?.custody?.map((e) => e.action),
    ['bundle.sealed', 'report.produced'],
  );
  // the entries of a stored addendum replace any from their first seq on
  const again = new HeldStatusStore(store.capture);
  const resumed = await CaptureRecord.load(again, store.capture.id, { component: 'agent' });
  resumed.adoptCustody(fork.entries.slice(1));
  t.equal(resumed.custody.entries.length, 2);
});

t.test('a capture that is not in the queue cannot be run', async (t) => {
  await t.rejects(CaptureRecord.load(new HeldStatusStore(capture()), 'no-such-id', { component: 'agent' }), { code: 'CAPTURE_NOT_FOUND' });
  t.equal(reasonOf('DISK_PRESSURE'), 'DiskPressure');
  t.equal(reasonOf('KUBE_API_UNAVAILABLE'), 'KubeApiUnavailable');
});
