import { readdir, readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { directorySource } from '../../src/evidence/bundle-source.js';
import { verifyBundle } from '../../src/evidence/verify-bundle.js';
import { KubeletClient } from '../../src/kube/kubelet-client.js';
import { startStack, type Stack } from '../helpers/start-stack.js';

const QUICK_POLICY = `apiVersion: forensics.amber.dev/v1alpha1
kind: CapturePolicy
metadata: { name: quick-shell }
spec:
  description: a shell in a container, with a short checkpoint timeout for tests
  match: { sources: [falco], rules: ["Terminal shell in container"] }
  capture: { timeoutSeconds: 1, cooldown: 1s, include: [podSpec, logs] }
  evidence: { retentionDays: 1, lock: none }
`;

async function captureOf(stack: Stack, alert: unknown) {
  const res = await stack.postFalco(alert);
  if (res.status !== 202) throw new Error(`intake answered ${res.status}: ${JSON.stringify(res.body)}`);
  return stack.worker.settled(res.body.captures[0].id as string, 30_000);
}

/** A checkpoint request from someone other than amber (kubectl, a script). */
function fetchKubelet(stack: Stack, path: string): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `https://127.0.0.1:${stack.sim.kubeletPort('node-a')}/checkpoint/${path}`,
      { method: 'POST', ca: stack.sim.caCert, headers: { authorization: `Bearer ${stack.sim.token}` } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function storedKeys(stack: Stack): Promise<string[]> {
  return stack.store.list('');
}

t.test('alert → checkpoint through the kubelet → a sealed bundle that verifies', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const alert = stack.podWithAlert('checkout-1');
  stack.sim.setLogs('shop', 'checkout-1', 'app', ['GET /healthz 200', 'bash: no job control in this shell']);
  const done = await captureOf(stack, alert);
  t.equal(done.status.phase, 'Sealed', `${done.status.reason ?? ''} ${done.status.message ?? ''}`);
  t.equal(stack.sim.receipts.length, 1);
  t.match(stack.sim.receipts[0], { namespace: 'shop', pod: 'checkout-1', container: 'app', timeoutSeconds: 120, status: 200 });
  const dir = fileURLToPath(done.status.bundle?.uri ?? '');
  const report = await verifyBundle(directorySource(dir), { jwks: { keys: [stack.key.publicJwk] } });
  t.equal(report.valid, true, JSON.stringify(report.checks.filter((c) => !c.ok)));
  t.same((await readdir(dir)).sort(), [
    'addendum.json',
    'addendum.jws',
    'checkpoint-app.tar',
    'custody.jsonl',
    'logs-app.txt',
    'manifest.json',
    'manifest.jws',
    'pod.json',
    'report.json',
    'signals.json',
  ]);
  t.match(
    done.status.report,
    { state: 'Written', indicators: ['mining-cmdline', 'mining-port', 'reverse-shell', 'reverse-shell-port', 'executable-added', 'frozen-time'] },
    'the triage report, made after sealing',
  );
  t.same(
    done.status.custody?.slice(-3).map((e) => e.action),
    ['report.produced', 'artifact.hashed', 'artifact.stored'],
    'its custody continues the chain',
  );
  t.ok((done.status.phaseTimes['Sealed'] ?? '') <= (done.status.custody?.at(-3)?.at ?? ''), 'the report is made after the capture is sealed');
  t.match(report.manifest?.target.containers[0], { name: 'app', imageID: /@sha256:[0-9a-f]{64}$/ });
  t.same(await readdir(stack.sim.checkpointDir('node-a')), [], "the node's copy is gone after sealing");
  const jwks = (await (await fetch(`${stack.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
  t.equal(jwks.keys[0]?.kid, stack.key.kid);
});

t.test('each failure of the kubelet and the API ends Failed with its reason and nothing sealed', async (t) => {
  const cases: { name: string; reason: string; message?: RegExp; policy?: string; kubeletToken?: 'forbidden'; arrange(s: Stack, alert: any): void }[] = [
    { name: 'the pod is gone before the capture (API 404)', reason: 'PodGone', arrange: (s, a) => s.sim.deletePod('shop', a.output_fields['k8s.pod.name']) },
    {
      name: "the kubelet's ContainerCheckpoint gate is off (404 page not found)",
      reason: 'CheckpointFeatureGateOff',
      message: /^404 page not found — remedy: enable the ContainerCheckpoint feature gate/,
      arrange: (s) => (s.sim.faults.checkpointFeatureOff = true),
    },
    {
      name: 'the runtime has no checkpoint call (500)',
      reason: 'CheckpointingNotEnabled',
      message:
        /^checkpointing of shop\/.+\/app failed \(rpc error: code = Unimplemented desc = method CheckpointContainer not implemented\) — remedy: .*containerd 2\.0 or newer/,
      arrange: (s) => (s.sim.faults.checkpointError = 'rpc error: code = Unimplemented desc = method CheckpointContainer not implemented'),
    },
    {
      name: "CRIU meets a live TCP connection without tcp-established (500, CRIU's log)",
      reason: 'TcpEstablishedRequired',
      message: /consider using --tcp-established option\..* — remedy: add a line `tcp-established` to \/etc\/criu\/runc\.conf/,
      arrange: (s) => (s.sim.faults.tcpEstablishedMissing = true),
    },
    {
      name: 'a 500 no one has classified',
      reason: 'CheckpointFailed',
      message: /failed \(rpc error: code = Unknown desc = the disk caught fire\)$/,
      arrange: (s) => (s.sim.faults.checkpointError = 'rpc error: code = Unknown desc = the disk caught fire'),
    },
    {
      name: 'the checkpoint is slower than the timeout',
      reason: 'CheckpointTimeout',
      policy: QUICK_POLICY,
      arrange: (s) => {
        s.sim.archive.runtimeDefaultTimeoutSeconds = 1;
        s.sim.faults.checkpointDelayMs = 2500;
      },
    },
    { name: 'the API rejects the token (401)', reason: 'KubeForbidden', arrange: (s) => (s.sim.faults.rejectToken = true) },
    { name: 'the kubelet denies nodes/checkpoint (403)', reason: 'KubeletForbidden', kubeletToken: 'forbidden', arrange: () => undefined },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const stack = await startStack({ ...(c.policy ? { policyYaml: c.policy } : {}), ...(c.kubeletToken ? { kubeletToken: c.kubeletToken } : {}) });
      t.teardown(() => stack.close());
      const alert = stack.podWithAlert();
      c.arrange(stack, alert);
      const done = await captureOf(stack, alert);
      t.equal(done.status.phase, 'Failed');
      t.equal(done.status.reason, c.reason, done.status.message ?? '');
      if (c.message) t.match(done.status.message, c.message);
      t.notOk(
        (await storedKeys(stack)).some((k) => k.endsWith('manifest.jws')),
        'nothing sealed',
      );
    });
  }
});

t.test('a kubelet that is down is retried, then the capture fails with KubeletUnreachable', async (t) => {
  const stack = await startStack({ capture: { maxAttempts: 2, retryBaseMs: 20 } });
  t.teardown(() => stack.close());
  const alert = stack.podWithAlert();
  stack.sim.faults.kubeletDown = true;
  const done = await captureOf(stack, alert);
  t.equal(done.status.phase, 'Failed');
  t.equal(done.status.reason, 'KubeletUnreachable');
  t.equal(done.status.attempts, 2);
});

t.test('a kubelet that comes back within the retries yields one sealed bundle', async (t) => {
  const stack = await startStack({ capture: { maxAttempts: 3, retryBaseMs: 300 } });
  t.teardown(() => stack.close());
  const alert = stack.podWithAlert();
  stack.sim.faults.kubeletDown = true;
  const res = await stack.postFalco(alert);
  const id = res.body.captures[0].id as string;
  // bring the kubelet back once the first attempt has failed and is waiting for its retry
  while ((await stack.queue.get(id))?.status.reason !== 'KubeletUnreachable') await new Promise((r) => setTimeout(r, 10));
  stack.sim.faults.kubeletDown = false;
  const done = await stack.worker.settled(id, 30_000);
  t.equal(done.status.phase, 'Sealed');
  t.equal(done.status.attempts, 2);
  t.equal(stack.sim.receipts.filter((r) => r.status === 200).length, 1, 'one checkpoint, one original');
});

t.test("a checkpoint another client holds is retried (CheckpointInProgress), then sealed: one archive of amber's", async (t) => {
  // the retry comes in a later second than the other archive (same-second names collide on the node)
  const stack = await startStack({ capture: { maxAttempts: 3, retryBaseMs: 1100 } });
  t.teardown(() => stack.close());
  const alert = stack.podWithAlert();
  const pod = alert.output_fields['k8s.pod.name'] as string;
  stack.sim.faults.checkpointDelayMs = 300;
  // someone else — kubectl, a script, a second amber — checkpoints the container first
  const other = fetchKubelet(stack, `shop/${pod}/app`);
  while (!stack.sim.receipts.some((r) => r.pod === pod)) await new Promise((r) => setTimeout(r, 5));
  const res = await stack.postFalco(alert);
  const id = res.body.captures[0].id as string;
  let seen: { reason?: string; message?: string; retryAt?: string } = {};
  while (seen.reason === undefined && (await stack.queue.get(id))?.status.phase !== 'Sealed') {
    seen = (await stack.queue.get(id))?.status ?? {};
    await new Promise((r) => setTimeout(r, 5));
  }
  t.equal(seen.reason, 'CheckpointInProgress');
  t.match(seen.message, /container process not found\) — remedy: nothing: another client/);
  t.ok(seen.retryAt, 'a retry is scheduled');
  t.equal((await other).status, 200);
  const done = await stack.worker.settled(id, 30_000);
  t.equal(done.status.phase, 'Sealed', `${done.status.reason ?? ''} ${done.status.message ?? ''}`);
  t.equal(done.status.attempts, 2);
});

t.test('a pod deleted while its checkpoint runs ends cleanly: sealed if the runtime finished, else failed with nothing sealed', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const alert = stack.podWithAlert();
  stack.sim.faults.checkpointDelayMs = 800;
  setTimeout(() => stack.sim.deletePod('shop', alert.output_fields['k8s.pod.name']), 200);
  const done = await captureOf(stack, alert);
  const keys = await storedKeys(stack);
  if (done.status.phase === 'Sealed') {
    const report = await verifyBundle(directorySource(fileURLToPath(done.status.bundle?.uri ?? '')), { jwks: { keys: [stack.key.publicJwk] } });
    t.equal(report.valid, true);
  } else {
    t.equal(done.status.phase, 'Failed');
    t.ok(done.status.reason);
    t.notOk(keys.some((k) => k.endsWith('manifest.jws')));
  }
});

t.test(
  'two policies matching one container at once freeze it once: the second signal joins the first capture, with the stricter evidence settings',
  async (t) => {
    const a = QUICK_POLICY.replace('quick-shell', 'shell-a').replace('cooldown: 1s', 'cooldown: 10m');
    const b = a.replace('shell-a', 'shell-b').replace('retentionDays: 1, lock: none', 'retentionDays: 30, lock: governance');
    const stack = await startStack({ policyYaml: `${a}---\n${b}` });
    t.teardown(() => stack.close());
    const alert = stack.podWithAlert();
    const res = await stack.postFalco(alert);
    t.equal(res.status, 202);
    t.equal(res.body.captures.length, 2, 'one answer per policy');
    const [first, second] = res.body.captures as { id: string; policy: string; duplicate: boolean; joined?: boolean }[];
    t.equal(first!.id, second!.id, 'one capture');
    t.same(res.body.captures.map((c: { joined?: boolean }) => c.joined === true).sort(), [false, true], 'one queued it, the other joined it');
    const done = await stack.worker.settled(first!.id, 30_000);
    t.equal(done.status.phase, 'Sealed', `${done.status.reason ?? ''} ${done.status.message ?? ''}`);
    t.equal(stack.sim.receipts.length, 1, 'the container was checkpointed once');
    t.match(done.spec.evidence, { retentionDays: 30, lock: 'governance' }, 'the stricter settings won');
    const actions = (done.status.custody ?? []).map((e) => `${e.action}${e.action === 'policy.matched' ? `:${String(e.details['policy'])}` : ''}`);
    t.same(
      actions.filter((a) => a.startsWith('policy.matched')).sort(),
      ['policy.matched:shell-a', 'policy.matched:shell-b'],
      'both policies are in the custody log',
    );
    t.equal(actions.filter((a) => a === 'signal.received').length, 2, 'and both signals');
    t.ok(actions.includes('capture.joined'), 'with the join');
    const dir = fileURLToPath(done.status.bundle?.uri ?? '');
    const signals = JSON.parse(await readFile(`${dir}/signals.json`, 'utf8')) as unknown;
    t.equal((Array.isArray(signals) ? signals : (signals as { signals: unknown[] }).signals).length, 2, 'signals.json holds both signals');
    const report = await verifyBundle(directorySource(dir), { jwks: { keys: [stack.key.publicJwk] } });
    t.equal(report.valid, true, JSON.stringify(report.checks.filter((c) => !c.ok)));
    t.match(report.manifest?.evidence, { retentionDays: 30, lock: 'governance' });

    const again = await stack.postFalco(alert);
    t.equal(again.status, 200, 'the same alert again, within both cooldowns: a duplicate for both policies, the joined one too');
    t.same(
      again.body.captures.map((x: { id: string; duplicate: boolean }) => [x.id, x.duplicate]),
      [
        [first!.id, true],
        [first!.id, true],
      ],
    );
  },
);

t.test('checkpoints of one container are serialised a second apart (archive names have one-second resolution)', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  stack.podWithAlert('web-1');
  const kubelet = new KubeletClient({ token: { value: stack.sim.token }, ca: await readFile(stack.sim.caFile) });
  t.teardown(() => kubelet.close());
  const node = { host: '127.0.0.1', port: stack.sim.kubeletPort('node-a') };
  await Promise.all([kubelet.checkpoint(node, 'shop', 'web-1', 'app', 5), kubelet.checkpoint(node, 'shop', 'web-1', 'app', 5)]);
  const [a, b] = stack.sim.receipts;
  t.ok(a && b && Math.floor(b.receivedAt / 1000) > Math.floor(a.receivedAt / 1000), 'the second request came in a later second');
});

t.test('the kubelet client accepts only archive names the kubelet would give', async (t) => {
  const { archiveNameFits } = await import('../../src/kube/kubelet-client.js');
  t.ok(archiveNameFits('/var/lib/kubelet/checkpoints/checkpoint-web-1_shop-app-2026-11-28T10:00:00Z.tar', 'shop', 'web-1', 'app'));
  t.ok(archiveNameFits('checkpoint-web-1_shop-app-2026-11-28T10:00:00+01:00.tar', 'shop', 'web-1', 'app'));
  t.notOk(archiveNameFits('/var/lib/kubelet/checkpoints/checkpoint-other_shop-app-2026-11-28T10:00:00Z.tar', 'shop', 'web-1', 'app'), "another pod's archive");
  t.notOk(archiveNameFits('/var/lib/kubelet/checkpoints/..', 'shop', 'web-1', 'app'));
  t.notOk(archiveNameFits('', 'shop', 'web-1', 'app'));
});
