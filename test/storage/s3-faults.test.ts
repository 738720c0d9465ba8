import t from 'tap';
import { runS3FaultScenario } from '../helpers/s3-fault-scenario.js';
import { startS3rver } from '../helpers/start-s3rver.js';

const POLICY = `apiVersion: forensics.amber.dev/v1alpha1
kind: CapturePolicy
metadata: { name: shell-unlocked }
spec:
  description: a shell in a container (s3rver has no Object Lock)
  match: { sources: [falco], rules: ["Terminal shell in container"] }
  capture: { cooldown: 1s, include: [podSpec, logs] }
  evidence: { retentionDays: 30, lock: none }
`;

t.test('under 30 % S3 faults and a flaky kubelet, every capture ends Sealed and verifies', async (t) => {
  const s3 = await startS3rver(['evidence']);
  t.teardown(() => s3.close());
  const r = await runS3FaultScenario({
    upstream: s3.endpoint,
    bucket: 'evidence',
    captures: 4,
    archiveBytes: 6 * 1024 * 1024,
    policyYaml: POLICY,
    seed: 11,
    directClient: s3.client,
  });
  t.comment(`phases ${JSON.stringify(r.phases)}; verified ${r.verified}`);
  t.comment(`S3 proxy: ${JSON.stringify(r.s3)}`);
  t.comment(`kubelet proxy: ${JSON.stringify(r.kubelet)}`);
  t.same(r.failures, [], 'no capture failed or failed to verify');
  t.same(r.phases, { Sealed: 4 });
  t.equal(r.verified, 4);
  const injected = r.s3.injected5xx + r.s3.slowDown + r.s3.resets + r.s3.stalls;
  t.ok(injected / r.s3.requests > 0.2, `the S3 faults were real: ${injected} of ${r.s3.requests} requests`);
  t.ok(r.kubelet.injected5xx + r.kubelet.resets > 0, 'the kubelet faults were real');
});
