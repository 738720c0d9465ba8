// Who calls the admission webhook: real HTTPS sockets, real client certificates (openssl, test/helpers/make-certs.ts).
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startStack, type Stack } from '../helpers/start-stack.js';

const POLICY = (admission: string) => `apiVersion: forensics.amber.dev/v1alpha1
kind: CapturePolicy
metadata: { name: exec-into-prod }
spec:
  description: someone opened a session in a production container
  match: { sources: [admission], rules: ["pods/exec"], namespaces: { include: [shop] } }
  capture: { cooldown: 1s, include: [podSpec] }
  admission: ${admission}
  evidence: { retentionDays: 1, lock: none }
`;

/** A review as anyone could forge it: `kubectl exec` by whoever it names. */
function execReview(pod: string, opts: { operation?: string; subResource?: string; user?: string } = {}) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: randomUUID(),
      kind: { group: '', version: 'v1', kind: 'PodExecOptions' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      ...(opts.subResource === '' ? {} : { subResource: opts.subResource ?? 'exec' }),
      name: pod,
      namespace: 'shop',
      operation: opts.operation ?? 'CONNECT',
      userInfo: { username: opts.user ?? 'mallory@example.com', groups: ['system:masters'] },
      object: { kind: 'PodExecOptions', apiVersion: 'v1', container: 'app', command: ['/bin/sh', '-c', 'rm -rf /'] },
      dryRun: false,
    },
  };
}

async function bundleFile(stack: Stack, id: string, name: string): Promise<string> {
  const done = await stack.worker.settled(id, 30_000);
  if (done.status.phase !== 'Sealed') throw new Error(`capture ${id} is ${done.status.phase}: ${done.status.message ?? ''}`);
  return readFile(join(fileURLToPath(done.status.bundle?.uri ?? ''), name), 'utf8');
}

const failsTls = async (t: { ok(v: unknown, m: string): void }, p: Promise<unknown>, what: string) => {
  const outcome = await p.then(
    (r) => r,
    (e: NodeJS.ErrnoException) => e,
  );
  t.ok(
    outcome instanceof Error,
    `${what}: refused in the TLS handshake (${outcome instanceof Error ? ((outcome as NodeJS.ErrnoException).code ?? outcome.message) : JSON.stringify(outcome)})`,
  );
};

t.test('mTLS: a forged review without the API server’s certificate is refused and queues nothing; the API server’s is processed', async (t) => {
  const stack = await startStack({ policyYaml: POLICY('{}') });
  t.teardown(() => stack.close());
  stack.podWithAlert('web-1');
  await failsTls(t, stack.postReview(execReview('web-1'), { as: 'nobody' }), 'no client certificate');
  await failsTls(t, stack.postReview(execReview('web-1'), { as: 'stranger' }), 'a certificate from another CA');
  t.same(await stack.queue.list(), [], 'nothing was queued');

  const req = execReview('web-1', { user: 'alice@example.com' });
  const res = await stack.postReview(req);
  t.equal(res.status, 200);
  t.same(res.body.response, { uid: req.request.uid, allowed: true });
  const [capture] = await stack.queue.list();
  t.match(capture?.spec.trigger, { caller: 'apiserver-mtls', asserted: { by: 'apiserver-mtls', user: 'alice@example.com', command: '/bin/sh -c rm -rf /' } });
  const custody = (await bundleFile(stack, capture?.id ?? '', 'custody.jsonl'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const received = custody.find((e) => e.action === 'signal.received');
  t.match(received.details, { caller: 'apiserver-mtls', asserted: { by: 'apiserver-mtls', user: 'alice@example.com', groups: ['system:masters'] } });
  t.notOk('user' in received.details, 'the user is not recorded as a fact');
  const signals = JSON.parse(await bundleFile(stack, capture?.id ?? '', 'signals.json'));
  t.same(signals.callers, ['apiserver-mtls'], 'signals.json says how the caller was authenticated');
  t.equal(signals.raw.length, 1, 'and keeps the exact bytes received');
  t.equal(JSON.parse(signals.raw[0]).request.uid, req.request.uid);
});

t.test('mTLS with an expected name: a certificate of the same CA with another name gets 401 and queues nothing', async (t) => {
  const stack = await startStack({ policyYaml: POLICY('{}'), admission: { clientName: 'kube-apiserver.webhook-client' } });
  t.teardown(() => stack.close());
  stack.podWithAlert('web-2');
  const falco = await stack.postReview(execReview('web-2'), { as: 'falco' });
  t.equal(falco.status, 401, 'CN falco is not the API server');
  t.equal(falco.body.error.code, 'AUTH_REQUIRED');
  t.same(await stack.queue.list(), []);
  const apiserver = await stack.postReview(execReview('web-2'));
  t.equal(apiserver.body.response.allowed, true);
  t.equal((await stack.queue.list()).length, 1, 'the named certificate (its DNS SAN) is accepted');
});

t.test('unauthenticated mode: signals say so, and holds are refused unless allowed', async (t) => {
  const stack = await startStack({
    policyYaml: POLICY('{ holdUntil: checkpointed, maxWaitSeconds: 5, holdDeletes: true }'),
    admission: { mtls: false, allowUnauthenticated: true },
  });
  t.teardown(() => stack.close());
  stack.podWithAlert('web-3');
  stack.sim.faults.checkpointDelayMs = 1500;
  const started = Date.now();
  const res = await stack.postReview(execReview('web-3'), { as: 'nobody' });
  const ms = Date.now() - started;
  t.equal(res.body.response.allowed, true);
  t.ok(ms < 1200, `answered at once (${ms} ms), not held for the checkpoint`);
  t.ok(stack.logs.lines.some((l) => l['msg'] === 'an unauthenticated caller is never held: answering at once (allowed)'));
  t.match(await stack.metrics.registry.metrics(), /amber_admission_holds_skipped_total\{reason="unauthenticated"\} 1/);
  const [capture] = await stack.queue.list();
  t.match(capture?.spec.trigger, { caller: 'unauthenticated', asserted: { by: 'unauthenticated', user: 'mallory@example.com' } });
  const del = await stack.postReview(execReview('web-3', { operation: 'DELETE', subResource: '' }), { as: 'nobody' });
  t.equal(del.body.response.allowed, true, 'no evidence hold on the word of an unauthenticated caller');
  const custody = (await bundleFile(stack, capture?.id ?? '', 'custody.jsonl'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.match(custody.find((e) => e.action === 'signal.received').details, { caller: 'unauthenticated', asserted: { by: 'unauthenticated' } });
  t.same(JSON.parse(await bundleFile(stack, capture?.id ?? '', 'signals.json')).callers, ['unauthenticated']);
});

t.test('a client CA and unauthenticated callers together: each signal says which it was', async (t) => {
  const stack = await startStack({ policyYaml: POLICY('{}'), admission: { allowUnauthenticated: true } });
  t.teardown(() => stack.close());
  stack.podWithAlert('web-8');
  stack.podWithAlert('web-9');
  t.equal((await stack.postReview(execReview('web-8'), { as: 'nobody' })).body.response.allowed, true, 'no certificate: let in');
  t.equal((await stack.postReview(execReview('web-9'))).body.response.allowed, true);
  const callers = Object.fromEntries((await stack.queue.list()).map((c) => [c.spec.target.pod, c.spec.trigger.caller]));
  t.same(callers, { 'web-8': 'unauthenticated', 'web-9': 'apiserver-mtls' });
});

t.test('unauthenticated holds, when the operator allowed them, hold', async (t) => {
  const stack = await startStack({
    policyYaml: POLICY('{ holdUntil: checkpointed, maxWaitSeconds: 5 }'),
    admission: { mtls: false, allowUnauthenticated: true, allowUnauthenticatedHolds: true },
  });
  t.teardown(() => stack.close());
  stack.podWithAlert('web-4');
  stack.sim.faults.checkpointDelayMs = 600;
  const started = Date.now();
  await stack.postReview(execReview('web-4'), { as: 'nobody' });
  t.ok(Date.now() - started >= 600, 'held until the checkpoint was written');
});

t.test('holds beyond --admission-max-holds are answered at once (allowed), logged and counted', async (t) => {
  const stack = await startStack({ policyYaml: POLICY('{ holdUntil: checkpointed, maxWaitSeconds: 5 }'), admission: { maxConcurrentHolds: 1 } });
  t.teardown(() => stack.close());
  stack.podWithAlert('web-5');
  stack.podWithAlert('web-6');
  stack.sim.faults.checkpointDelayMs = 1500;
  const timed = async (pod: string) => {
    const started = Date.now();
    const res = await stack.postReview(execReview(pod));
    return { allowed: res.body.response.allowed as boolean, ms: Date.now() - started };
  };
  const first = timed('web-5');
  // the first review is held once its capture is queued
  while ((await stack.queue.list()).length === 0) await new Promise((r) => setTimeout(r, 10));
  const second = await timed('web-6');
  t.equal(second.allowed, true);
  t.ok(second.ms < 1000, `the second is answered at once (${second.ms} ms)`);
  const held = await first;
  t.equal(held.allowed, true);
  t.ok(held.ms >= 1400, `the first was held (${held.ms} ms)`);
  t.ok(stack.logs.lines.some((l) => l['msg'] === 'too many admission reviews held at once: answering at once (allowed)' && l['maxConcurrentHolds'] === 1));
  t.match(await stack.metrics.registry.metrics(), /amber_admission_holds_skipped_total\{reason="limit"\} 1/);
  t.equal((await stack.queue.list()).length, 2, 'both captures are still queued');
});

t.test('the intake listener no longer serves /v1/admission: 404, and nothing is queued', async (t) => {
  const stack = await startStack({ policyYaml: POLICY('{}') });
  t.teardown(() => stack.close());
  stack.podWithAlert('web-7');
  const res = await fetch(`${stack.url}/v1/admission`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(execReview('web-7')),
  });
  t.equal(res.status, 404);
  t.equal(((await res.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
  t.same(await stack.queue.list(), []);
  const onAdmission = await fetch(`${stack.admission.url.replace('https:', 'http:')}/healthz`).then(
    (r) => r.status,
    () => 'refused',
  );
  t.equal(onAdmission, 'refused', 'the admission port speaks only TLS');
});
