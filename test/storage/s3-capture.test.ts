import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { S3Store } from '../../src/storage/s3-store.js';
import { formatAgeIdentityFile, generateAgeIdentity } from '../../src/evidence/age/age-keys.js';
import { storeSource } from '../../src/evidence/bundle-source.js';
import { verifyBundle } from '../../src/evidence/verify-bundle.js';
import { runAmber, runCliHere } from '../helpers/run-amber.js';
import { startS3rver, S3RVER_CREDENTIALS } from '../helpers/start-s3rver.js';
import { startStack } from '../helpers/start-stack.js';

const MiB = 1024 * 1024;
const UNLOCKED_POLICY = `apiVersion: forensics.amber.dev/v1alpha1
kind: CapturePolicy
metadata: { name: shell-unlocked }
spec:
  description: a shell in a container; s3rver has no Object Lock, so no lock
  match: { sources: [falco], rules: ["Terminal shell in container"] }
  capture: { cooldown: 1s, include: [podSpec, logs] }
  evidence: { retentionDays: 30, lock: none }
`;

const s3 = await startS3rver(['evidence']);
t.teardown(() => s3.close());
const s3Env = {
  AMBER_S3_ENDPOINT: s3.endpoint,
  AMBER_S3_FORCE_PATH_STYLE: 'true',
  AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
  AWS_REGION: 'us-east-1',
};

t.test('a capture lands in S3 as a sealed bundle that `amber verify s3://…` accepts', async (t) => {
  // 5 MiB parts and a ~16 MiB archive: the archive goes up as a real multipart upload
  const store = new S3Store({ client: s3.client, bucket: 'evidence', partSize: 5 * MiB, queueSize: 2 });
  const stack = await startStack({ policyYaml: UNLOCKED_POLICY, store: { store, prefix: 'prod/amber' } });
  t.teardown(() => stack.close());
  stack.sim.archive.pagesBytes = 16 * MiB;
  const res = await stack.postFalco(stack.podWithAlert('checkout-s3'));
  t.equal(res.status, 202);
  const done = await stack.worker.settled(res.body.captures[0].id as string, 60_000);
  t.equal(done.status.phase, 'Sealed', `${done.status.reason ?? ''} ${done.status.message ?? ''}`);
  const uri = done.status.bundle?.uri ?? '';
  t.match(uri, /^s3:\/\/evidence\/prod\/amber\/sim\/\d{4}\/\d{2}\/\d{2}\/[^/]+\/$/);
  const dir = uri.slice('s3://evidence/'.length, -1);
  const keys = await store.list(`${dir}/`);
  t.same(
    keys.map((k) => k.slice(dir.length + 1)),
    [
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
    ],
  );
  t.match(done.status.report, { state: 'Written' }, 'the report read the archive back from S3 (the node copy was taken)');
  const archive = await store.headObject(`${dir}/checkpoint-app.tar`);
  t.ok((archive?.size ?? 0) > 16 * MiB);
  t.equal(archive?.metadata['amber-capture-id'], done.id);
  const manifestEntry = done.status.artifacts?.find((a) => a.name === 'checkpoint-app.tar');
  t.equal(archive?.metadata['amber-sha256'], manifestEntry?.sha256, "the object's metadata carries the manifest's hash");
  t.same(await readdir(stack.sim.checkpointDir('node-a')), [], "the node's copy is gone once the bundle is sealed in S3");

  const report = await verifyBundle(storeSource(store, dir), { jwks: { keys: [stack.key.publicJwk] } });
  t.equal(report.valid, true, JSON.stringify(report.checks.filter((c) => !c.ok)));

  const work = await mkdtemp(join(tmpdir(), 'amber-s3-verify-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const jwks = join(work, 'jwks.json');
  await writeFile(jwks, JSON.stringify({ keys: [stack.key.publicJwk] }));
  const cli = await runCliHere(['verify', uri, '--jwks', jwks], s3Env);
  t.equal(cli.code, 0, cli.stdout + cli.stderr);
  t.match(cli.stdout, /VALID: all \d+ checks passed/);
  t.match(cli.stdout, /info lock checkpoint-app\.tar: no retention/, 'what the store holds is reported even when nothing was promised');
  const json = await runCliHere(['verify', uri, '--jwks', jwks, '--json'], s3Env);
  const parsed = JSON.parse(json.stdout) as { valid: boolean; objects: { name: string; legalHold: boolean }[] };
  t.equal(parsed.valid, true);
  t.equal(parsed.objects.length, 10);

  // a flipped byte in S3 is named
  const { PutObjectCommand } = await import('@aws-sdk/client-s3');
  const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
  await s3.client.send(new DeleteObjectCommand({ Bucket: 'evidence', Key: `${dir}/signals.json` }));
  await s3.client.send(new PutObjectCommand({ Bucket: 'evidence', Key: `${dir}/signals.json`, Body: '[{"forged":true}]\n' }));
  const bad = await runCliHere(['verify', uri, '--jwks', jwks], s3Env);
  t.equal(bad.code, 1);
  t.match(bad.stdout, /FAIL artifact signals\.json/);

  const missing = await runCliHere(['verify', 's3://evidence/prod/amber/nothing-here', '--jwks', jwks], s3Env);
  t.equal(missing.code, 2, missing.stderr);
  t.match(missing.stderr, /BUNDLE_NOT_FOUND|no objects under this prefix/);
});

t.test('encrypted evidence streams to S3; verify and inspect read it from there with an identity', async (t) => {
  const team = generateAgeIdentity();
  const store = new S3Store({ client: s3.client, bucket: 'evidence', partSize: 5 * MiB, queueSize: 2 });
  const policy = UNLOCKED_POLICY.replace('lock: none }', `lock: none, encryption: { recipients: [${team.recipient}] } }`);
  const stack = await startStack({ policyYaml: policy, store: { store, prefix: 'sealed' } });
  t.teardown(() => stack.close());
  stack.sim.archive.pagesBytes = 12 * MiB; // a multipart upload of ciphertext whose length nobody knew in advance
  const res = await stack.postFalco(stack.podWithAlert('checkout-age'));
  const done = await stack.worker.settled(res.body.captures[0].id as string, 60_000);
  t.equal(done.status.phase, 'Sealed', `${done.status.reason ?? ''} ${done.status.message ?? ''}`);
  t.match(done.status.report, { state: 'Written' });
  const uri = done.status.bundle?.uri ?? '';
  const dir = uri.slice('s3://evidence/'.length, -1);
  t.ok((await store.list(`${dir}/`)).some((k) => k.endsWith('/checkpoint-app.tar.age')));
  const work = await mkdtemp(join(tmpdir(), 'amber-s3-age-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const jwks = join(work, 'jwks.json');
  await writeFile(jwks, JSON.stringify({ keys: [stack.key.publicJwk] }));
  const key = join(work, 'key.txt');
  await writeFile(key, formatAgeIdentityFile(team.secretKey), { mode: 0o600 });
  const verified = await runCliHere(['verify', uri, '--jwks', jwks, '--identity', key], s3Env);
  t.equal(verified.code, 0, verified.stdout + verified.stderr);
  t.match(verified.stdout, /ok {3}plaintext checkpoint-app\.tar\.age \(checkpoint-app\.tar: \d+ bytes/);
  const inspected = await runCliHere(['inspect', uri, '--identity', key, '--search', 'stratum+tcp'], s3Env);
  t.equal(inspected.code, 0, inspected.stderr);
  t.match(inspected.stdout, /pid 7 0x[0-9a-f]+ .*stratum\+tcp:\/\/198\.51\.100\.7:3333/);
});

t.test('serve refuses to start on an S3 store without Object Lock when a policy asks for a lock', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'amber-s3-serve-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const res = await runAmber(['serve', '--store', 's3://evidence/prod', '--data-dir', join(work, 'data'), '--listen', '127.0.0.1:0'], s3Env);
  t.equal(res.code, 2, res.stdout + res.stderr);
  const all = res.stdout + res.stderr;
  t.match(all, /STORE_NO_OBJECT_LOCK/);
  t.match(all, /object-lock-enabled-for-bucket/, 'the message says how to fix it');
  const missingBucket = await runAmber(['serve', '--store', 's3://no-such-bucket/prod', '--data-dir', join(work, 'data'), '--listen', '127.0.0.1:0'], s3Env);
  t.equal(missingBucket.code, 2);
  t.match(missingBucket.stdout + missingBucket.stderr, /no-such-bucket.*does not exist/);
});

t.test('amber demo takes --store s3://… and --policies like serve, and verifies the bundle in S3', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'amber-s3-demo-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const policies = join(work, 'policies');
  await (await import('node:fs/promises')).mkdir(policies);
  await writeFile(join(policies, 'shell.yaml'), UNLOCKED_POLICY);
  const res = await runAmber(['demo', '--data-dir', join(work, 'demo'), '--store', 's3://evidence/demo', '--policies', policies], s3Env);
  t.equal(res.code, 0, res.stdout + res.stderr);
  t.match(res.stdout, /bundle: s3:\/\/evidence\/demo\/demo\/\d{4}\/\d{2}\/\d{2}\/[0-9a-z]+/);
  t.match(res.stdout, /the sealed bundle VERIFIES/);
  const refused = await runAmber(['demo', '--data-dir', join(work, 'demo2'), '--store', 's3://evidence/demo'], s3Env);
  t.equal(refused.code, 2, 'the default policies ask for compliance locks, which s3rver cannot give');
  t.match(refused.stderr, /STORE_NO_OBJECT_LOCK/);
});
