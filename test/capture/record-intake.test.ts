import t from 'tap';
import { CaptureRecord, type CaptureStatusStore } from '../../src/capture/capture-record.js';
import { recordIntake } from '../../src/capture/record-intake.js';
import type { Capture, CaptureStatus, CaptureTrigger } from '../../src/core/capture.js';
import { planCapture } from '../../src/core/decision.js';
import type { Signal } from '../../src/core/signal.js';
import { newCapture } from '../../src/queue/capture-queue.js';

class OneCapture implements CaptureStatusStore {
  constructor(public capture: Capture) {}
  async get(id: string): Promise<Capture | undefined> {
    return id === this.capture.id ? this.capture : undefined;
  }
  async updateStatus(_id: string, status: CaptureStatus): Promise<Capture> {
    this.capture = { ...this.capture, status };
    return this.capture;
  }
}

const admissionSignal = (caller?: Signal['caller']): Signal => ({
  source: 'admission',
  rule: 'pods/exec',
  time: '2026-11-28T10:00:00Z',
  tags: ['admission', 'exec'],
  fields: { 'user.name': 'alice', 'user.groups': 'sre,system:authenticated', 'exec.command': '/bin/sh' },
  target: { namespace: 'shop', pod: 'web-1', container: 'app' },
  ...(caller ? { caller } : {}),
  raw: {},
});

async function signalReceived(mutate: (trigger: CaptureTrigger) => CaptureTrigger, caller?: Signal['caller']) {
  const request = planCapture({
    policy: 'exec-into-prod',
    signal: admissionSignal(caller),
    containers: 'target',
    cooldownMs: 0,
    timeoutSeconds: 30,
    include: [],
    evidence: { retentionDays: 0, lock: 'none' },
  });
  const capture = newCapture({ ...request, spec: { ...request.spec, trigger: mutate(request.spec.trigger) } }, Date.UTC(2026, 10, 28, 10));
  const store = new OneCapture(capture);
  const record = await CaptureRecord.load(store, capture.id, { component: 'agent' });
  recordIntake(record);
  return record.custody.entries.find((e) => e.action === 'signal.received')?.details;
}

t.test('signal.received records the caller and what it asserted, never the user and command as facts', async (t) => {
  const details = await signalReceived((x) => x, 'apiserver-mtls');
  t.same(details, {
    source: 'admission',
    rule: 'pods/exec',
    priority: undefined,
    signalDigest: details?.['signalDigest'],
    caller: 'apiserver-mtls',
    asserted: { by: 'apiserver-mtls', user: 'alice', groups: ['sre', 'system:authenticated'], command: '/bin/sh' },
  });
  t.match(await signalReceived((x) => x), { caller: 'unauthenticated', asserted: { by: 'unauthenticated' } }, 'a signal with no caller asserts as anyone');
});

t.test('a capture queued before callers were recorded (user/groups/command in its trigger) is written as an unauthenticated assertion', async (t) => {
  const legacy = await signalReceived(({ caller: _c, asserted: _a, ...rest }) => ({ ...rest, user: 'bob', groups: ['dev'], command: 'id' }));
  t.match(legacy, { caller: 'unauthenticated', asserted: { by: 'unauthenticated', user: 'bob', groups: ['dev'], command: 'id' } });
  t.notOk(legacy && 'user' in legacy, 'no top-level user');
});
