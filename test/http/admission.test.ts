import { randomUUID } from 'node:crypto';
import t from 'tap';
import { startStack, type Stack } from '../helpers/start-stack.js';

const POLICY = (admission: string) => `apiVersion: forensics.amber.dev/v1alpha1
kind: CapturePolicy
metadata: { name: exec-into-prod }
spec:
  description: someone opened a session in a production container
  match: { sources: [admission], rules: ["pods/exec", "pods/attach", "pods/ephemeralcontainers"], namespaces: { include: [shop] } }
  capture: { cooldown: 1s, include: [podSpec] }
  admission: ${admission}
  evidence: { retentionDays: 1, lock: none }
`;

/** An AdmissionReview as the API server sends it for `kubectl exec -it POD -c app -- /bin/sh`. */
function execReview(pod: string, opts: { dryRun?: boolean; subResource?: string; operation?: string; object?: unknown; kind?: string } = {}) {
  const sub = opts.subResource ?? 'exec';
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: randomUUID(),
      kind: { group: '', version: 'v1', kind: opts.kind ?? 'PodExecOptions' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      subResource: sub,
      requestKind: { group: '', version: 'v1', kind: opts.kind ?? 'PodExecOptions' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      requestSubResource: sub,
      name: pod,
      namespace: 'shop',
      operation: opts.operation ?? 'CONNECT',
      userInfo: { username: 'alice@example.com', uid: 'u-1', groups: ['system:authenticated', 'sre'] },
      object: opts.object ?? { kind: 'PodExecOptions', apiVersion: 'v1', stdin: true, stdout: true, tty: true, container: 'app', command: ['/bin/sh'] },
      oldObject: null,
      dryRun: opts.dryRun ?? false,
      options: null,
    },
  };
}

/** As the API server calls it: HTTPS on the admission listener, with its client certificate from the trusted CA. */
async function review(stack: Stack, body: unknown): Promise<{ status: number; body: any; ms: number; at: number }> {
  const started = Date.now();
  const res = await stack.postReview(body);
  return { status: res.status, body: res.body, ms: Date.now() - started, at: Date.now() };
}

t.test('an exec that a policy matches queues a capture with who and what, and is allowed at once', async (t) => {
  const stack = await startStack({ policyYaml: POLICY('{}') });
  t.teardown(() => stack.close());
  stack.podWithAlert('web-1');
  const req = execReview('web-1');
  const res = await review(stack, req);
  t.equal(res.status, 200);
  t.same(res.body, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: req.request.uid, allowed: true } });
  const [capture] = await stack.queue.list();
  t.ok(capture, 'a capture was queued');
  t.match(capture?.spec.trigger, {
    source: 'admission',
    rule: 'pods/exec',
    policy: 'exec-into-prod',
    caller: 'apiserver-mtls',
    asserted: { by: 'apiserver-mtls', user: 'alice@example.com', groups: ['system:authenticated', 'sre'], command: '/bin/sh' },
  });
  t.notOk(capture && 'user' in capture.spec.trigger, 'who and what are assertions, not top-level facts');
  t.match(capture?.spec.target, { namespace: 'shop', pod: 'web-1', container: 'app' });
  const done = await stack.worker.settled(capture?.id ?? '', 30_000);
  t.equal(done.status.phase, 'Sealed');
  const received = done.status.custody?.find((e) => e.action === 'signal.received');
  t.match(
    received?.details,
    { caller: 'apiserver-mtls', asserted: { by: 'apiserver-mtls', user: 'alice@example.com', groups: ['system:authenticated', 'sre'], command: '/bin/sh' } },
    'the custody log says who, as the API server asserted it',
  );
  const again = await review(stack, req);
  t.equal(again.body.response.allowed, true);
  t.equal((await stack.queue.list()).length, 1, 'the same request re-sent is a duplicate');
});

t.test('holdUntil: checkpointed answers only after the checkpoint is written; a slow kubelet is waited for at most maxWaitSeconds', async (t) => {
  const stack = await startStack({ policyYaml: POLICY('{ holdUntil: checkpointed, maxWaitSeconds: 2 }') });
  t.teardown(() => stack.close());
  stack.podWithAlert('web-2');
  stack.sim.faults.checkpointDelayMs = 600;
  const res = await review(stack, execReview('web-2'));
  t.equal(res.body.response.allowed, true);
  const [capture] = await stack.queue.list();
  const written = capture?.status.checkpoints?.[0]?.writtenAt;
  t.ok(written, 'the checkpoint was written before the answer');
  t.ok(Date.parse(written ?? '') <= res.at, `written ${written} ≤ answered ${new Date(res.at).toISOString()}`);
  t.ok(res.ms >= 600, `held ${res.ms} ms, at least the checkpoint's 600 ms`);

  stack.podWithAlert('web-3');
  stack.sim.faults.checkpointDelayMs = 5000;
  const slow = await review(stack, execReview('web-3'));
  t.equal(slow.body.response.allowed, true, 'fail-open');
  t.ok(slow.ms >= 1900 && slow.ms < 4000, `answered after maxWaitSeconds (${slow.ms} ms)`);
  t.ok(stack.logs.lines.some((l) => l['msg'] === 'checkpoint not written within maxWaitSeconds: allowing (fail-open)'));
});

t.test('dryRun never captures; kubectl debug and attach are signals; other requests are allowed untouched', async (t) => {
  const stack = await startStack({ policyYaml: POLICY('{}') });
  t.teardown(() => stack.close());
  stack.podWithAlert('web-4');
  const dry = await review(stack, execReview('web-4', { dryRun: true }));
  t.equal(dry.body.response.allowed, true);
  t.equal((await stack.queue.list()).length, 0, 'nothing for a dry run');
  const debug = await review(
    stack,
    execReview('web-4', {
      operation: 'UPDATE',
      subResource: 'ephemeralcontainers',
      kind: 'Pod',
      object: {
        kind: 'Pod',
        apiVersion: 'v1',
        metadata: { name: 'web-4', namespace: 'shop' },
        spec: { containers: [{ name: 'app' }], ephemeralContainers: [{ name: 'debugger-x1', image: 'busybox', targetContainerName: 'app', command: ['sh'] }] },
      },
    }),
  );
  t.equal(debug.body.response.allowed, true);
  const [captured] = await stack.queue.list();
  t.match(captured?.spec.trigger, { rule: 'pods/ephemeralcontainers', asserted: { command: 'sh' } });
  t.equal(captured?.spec.target.container, 'app', 'the debug target is the container captured');
  const other = await review(stack, execReview('web-4', { operation: 'CREATE', subResource: 'binding', kind: 'Binding', object: {} }));
  t.equal(other.body.response.allowed, true);
});

t.test('a malformed review gets a well-formed error answer at once, never a denial or a hang', async (t) => {
  const stack = await startStack({ policyYaml: POLICY('{}') });
  t.teardown(() => stack.close());
  for (const body of [
    '{"apiVersion":',
    JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }),
    JSON.stringify({ kind: 'Something' }),
  ]) {
    const res = await review(stack, body);
    t.ok(res.status === 400 || res.status === 422, `${res.status} for ${body}: not JSON 400, not a review 422`);
    t.type(res.body.error?.code, 'string');
    t.ok(res.ms < 2000);
  }
  const badName = execReview('Not_A_Pod');
  const res = await review(stack, badName);
  t.equal(res.status, 200, 'a review amber cannot use is still allowed');
  t.match(res.body.response, { uid: badName.request.uid, allowed: true, warnings: [/could not process/] });
});

t.test('holdDeletes denies deleting or evicting the pod until its capture reaches Uploading, naming the capture', async (t) => {
  const stack = await startStack({ policyYaml: POLICY('{ holdDeletes: true }') });
  t.teardown(() => stack.close());
  stack.podWithAlert('web-5');
  stack.sim.faults.checkpointDelayMs = 1500;
  await review(stack, execReview('web-5'));
  const [capture] = await stack.queue.list();
  const del = execReview('web-5', { operation: 'DELETE', subResource: '', kind: 'DeleteOptions', object: null });
  (del.request as Record<string, unknown>)['subResource'] = undefined;
  const denied = await review(stack, del);
  t.equal(denied.body.response.allowed, false);
  t.equal(denied.body.response.status.code, 403);
  t.match(denied.body.response.status.message, new RegExp(`capture ${capture?.id ?? 'x'} \\(policy exec-into-prod\\)`));
  const evict = await review(stack, execReview('web-5', { operation: 'CREATE', subResource: 'eviction', kind: 'Eviction', object: { kind: 'Eviction' } }));
  t.equal(evict.body.response.allowed, false, 'evictions too (an autoscaler draining the node)');
  await stack.worker.settled(capture?.id ?? '', 30_000);
  t.equal((await review(stack, del)).body.response.allowed, true, 'allowed once the evidence is safe');
  t.equal(
    (await review(stack, execReview('other-pod', { operation: 'DELETE', subResource: '', kind: 'DeleteOptions', object: null }))).body.response.allowed,
    true,
  );
});
