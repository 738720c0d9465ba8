// The Object Lock suite against a real Ceph RGW (`npm run test:s3`; scripts/rgw.sh starts it).
import { DeleteObjectCommand, GetObjectRetentionCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { storeSource } from '../../src/evidence/bundle-source.js';
import { verifyBundle } from '../../src/evidence/verify-bundle.js';
import { S3Store } from '../../src/storage/s3-store.js';
import { createBucket, rgwClient, rgwEnv } from '../helpers/rgw.js';
import { runAmber } from '../helpers/run-amber.js';
import { startStack } from '../helpers/start-stack.js';

const MiB = 1024 * 1024;
const env = rgwEnv();
if (env === undefined) throw new Error('AMBER_S3_ENDPOINT and AWS_* are not set: run this suite with `npm run test:s3`');
const client = rgwClient();
t.teardown(() => client.destroy());

const policy = (lock: 'compliance' | 'governance', legalHold: boolean) => `apiVersion: forensics.amber.dev/v1alpha1
kind: CapturePolicy
metadata: { name: shell-${lock} }
spec:
  description: a shell in a container, evidence locked
  match: { sources: [falco], rules: ["Terminal shell in container"] }
  capture: { cooldown: 1s, include: [podSpec, logs] }
  evidence: { retentionDays: 1, lock: ${lock}${legalHold ? ', legalHold: true' : ''} }
`;

t.test('a capture is stored under compliance retention; verify on the s3:// URI passes and reports it; a locked object cannot be deleted', async (t) => {
  const bucket = await createBucket(client, 'amber-locked', true);
  const store = new S3Store({ client, bucket, partSize: 5 * MiB, queueSize: 4 });
  await store.checkBucket(true);
  const stack = await startStack({ policyYaml: policy('compliance', false), store: { store, prefix: 'evidence' } });
  t.teardown(() => stack.close());
  stack.sim.archive.pagesBytes = 24 * MiB; // a multipart upload: RGW ignores lock headers there, amber sets retention after
  const res = await stack.postFalco(stack.podWithAlert('locked-1'));
  t.equal(res.status, 202);
  const done = await stack.worker.settled(res.body.captures[0].id as string, 120_000);
  t.equal(done.status.phase, 'Sealed', `${done.status.reason ?? ''} ${done.status.message ?? ''}`);
  const uri = done.status.bundle?.uri ?? '';
  const dir = uri.slice(`s3://${bucket}/`.length, -1);
  const keys = await store.list(`${dir}/`);
  t.equal(keys.length, 10, 'seven sealed objects, report.json and its addendum');
  const promised = Date.parse(done.createdAt) + 24 * 3600_000;
  for (const key of keys) {
    const r = await client.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: key }));
    t.equal(r.Retention?.Mode, 'COMPLIANCE', `${key} is under compliance retention`);
    t.ok((r.Retention?.RetainUntilDate?.getTime() ?? 0) >= promised - 1000, `${key} is retained for the policy's days`);
  }
  const report = await verifyBundle(storeSource(store, dir), { jwks: { keys: [stack.key.publicJwk] } });
  t.equal(report.valid, true, JSON.stringify(report.checks.filter((c) => !c.ok)));

  const work = await mkdtemp(join(tmpdir(), 'amber-rgw-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const jwks = join(work, 'jwks.json');
  await writeFile(jwks, JSON.stringify({ keys: [stack.key.publicJwk] }));
  const cli = await runAmber(['verify', uri, '--jwks', jwks], env);
  t.equal(cli.code, 0, cli.stdout + cli.stderr);
  t.match(cli.stdout, /ok {3}retention checkpoint-app\.tar \(COMPLIANCE until \d{4}-/);
  t.match(cli.stdout, /ok {3}retention manifest\.jws/);

  // WORM: deleting the version is refused; a plain delete only hides it behind a marker
  const versions = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: `${dir}/checkpoint-app.tar` }));
  t.equal(versions.Versions?.length, 1, 'exactly one version: nothing was written twice');
  const versionId = versions.Versions?.[0]?.VersionId;
  const refused = await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: `${dir}/checkpoint-app.tar`, VersionId: versionId })).then(
    () => undefined,
    (e: unknown) => e as { name?: string; $metadata?: { httpStatusCode?: number } },
  );
  t.equal(refused?.$metadata?.httpStatusCode, 403, `deleting a locked version is refused (${refused?.name ?? 'no error'})`);
  const still = await runAmber(['verify', uri, '--jwks', jwks], env);
  t.equal(still.code, 0, 'the bundle still verifies');

  // restored from S3: the record lands beside the bundle under the bundle's own retention
  const restored = await runAmber(['restore', uri, '--jwks', jwks, '--oci-layout', join(work, 'layout'), '--data-dir', work], env);
  t.equal(restored.code, 0, restored.stdout + restored.stderr);
  const record = await client.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: `${dir}/restore-1.json` }));
  t.equal(record.Retention?.Mode, 'COMPLIANCE', 'the restore record is retained like the evidence');
  const withRestore = await runAmber(['verify', uri, '--jwks', jwks, '--jwks', join(work, 'signing', 'jwks.json')], env);
  t.equal(withRestore.code, 0, withRestore.stdout);
  t.match(withRestore.stdout, /ok {3}restore restore-1\.json/);
  t.match(withRestore.stdout, /ok {3}retention restore-1\.jws/);
});

t.test('governance mode and a legal hold are applied as the policy asks, and a missing lock fails verify', async (t) => {
  const bucket = await createBucket(client, 'amber-gov', true);
  const store = new S3Store({ client, bucket, partSize: 5 * MiB, queueSize: 2 });
  const stack = await startStack({ policyYaml: policy('governance', true), store: { store, prefix: '' } });
  t.teardown(() => stack.close());
  const res = await stack.postFalco(stack.podWithAlert('gov-1'));
  const done = await stack.worker.settled(res.body.captures[0].id as string, 120_000);
  t.equal(done.status.phase, 'Sealed', `${done.status.reason ?? ''} ${done.status.message ?? ''}`);
  const dir = (done.status.bundle?.uri ?? '').slice(`s3://${bucket}/`.length, -1);
  for (const key of await store.list(`${dir}/`)) {
    const info = await store.headObject(key);
    t.equal(info?.lockMode, 'GOVERNANCE', key);
    t.equal(info?.legalHold, true, `${key} under legal hold`);
  }
  // the same bundle copied to a bucket without a lock: verify names every unlocked object
  const plainBucket = await createBucket(client, 'amber-copy', false);
  const plain = new S3Store({ client, bucket: plainBucket, partSize: 5 * MiB, queueSize: 2 });
  for (const key of await store.list(`${dir}/`)) await plain.put(key, await store.get(key));
  const work = await mkdtemp(join(tmpdir(), 'amber-rgw-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const jwks = join(work, 'jwks.json');
  await writeFile(jwks, JSON.stringify({ keys: [stack.key.publicJwk] }));
  const copy = await runAmber(['verify', `s3://${plainBucket}/${dir}`, '--jwks', jwks], env);
  t.equal(copy.code, 1, copy.stdout);
  t.match(copy.stdout, /FAIL retention checkpoint-app\.tar: the manifest promises GOVERNANCE until at least .* the store reports no lock/);
  t.match(copy.stdout, /FAIL legal hold manifest\.json/);
});

t.test('amber serve refuses to start on a bucket without Object Lock, and says how to fix it', async (t) => {
  const bucket = await createBucket(client, 'amber-plain', false);
  const work = await mkdtemp(join(tmpdir(), 'amber-rgw-serve-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const res = await runAmber(['serve', '--store', `s3://${bucket}/evidence`, '--data-dir', join(work, 'data'), '--listen', '127.0.0.1:0'], env);
  t.equal(res.code, 2, res.stdout + res.stderr);
  t.match(res.stderr, new RegExp(`STORE_NO_OBJECT_LOCK.*bucket '${bucket}' has no Object Lock`));
  t.match(res.stderr, /--object-lock-enabled-for-bucket/);
  t.notMatch(res.stderr, /does not implement Object Lock/, 'RGW implements it; the bucket just does not have it');
});

t.test('unfinished multipart uploads are aborted: per key before a re-upload, and under the prefix at start', async (t) => {
  const { CreateMultipartUploadCommand, ListMultipartUploadsCommand } = await import('@aws-sdk/client-s3');
  const bucket = await createBucket(client, 'amber-stale', true);
  const store = new S3Store({ client, bucket, partSize: 5 * MiB, queueSize: 2 });
  for (const key of ['evidence/a/checkpoint-app.tar', 'evidence/b/checkpoint-app.tar', 'other/c.tar']) {
    await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  }
  const keys = async () => ((await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).map((u) => u.Key).sort();
  t.same(await store.abortUploads('evidence/a/checkpoint-app.tar'), ['evidence/a/checkpoint-app.tar']);
  t.same(await keys(), ['evidence/b/checkpoint-app.tar', 'other/c.tar']);
  t.same(await store.abortUploads('evidence/', new Date(Date.now() - 3600_000)), [], 'a recent upload is not stale');

  const work = await mkdtemp(join(tmpdir(), 'amber-rgw-stale-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const config = join(work, 'amber.yaml');
  await writeFile(config, 's3: { staleUploadHours: 0 }\n');
  const { spawnAmber } = await import('../helpers/run-amber.js');
  const amber = spawnAmber(
    ['serve', '--config', config, '--store', `s3://${bucket}/evidence`, '--data-dir', join(work, 'data'), '--listen', '127.0.0.1:0'],
    env,
  );
  t.teardown(() => amber.child.kill('SIGKILL'));
  const swept = await amber.waitForLog('aborted stale multipart uploads', 30_000);
  t.equal(swept['aborted'], 1);
  await amber.waitForLog('amber is serving', 30_000);
  t.same(await keys(), ['other/c.tar'], "only amber's prefix is swept");
  amber.child.kill('SIGTERM');
  await amber.exited();
});

t.test('an abort whose answer is lost is retried into NoSuchUpload and counts as done; the sweep goes on to the next upload', async (t) => {
  const { CreateMultipartUploadCommand, ListMultipartUploadsCommand } = await import('@aws-sdk/client-s3');
  const { startFaultProxy } = await import('../helpers/fault-proxy.js');
  const { createS3Client } = await import('../../src/storage/s3-client.js');
  const bucket = await createBucket(client, 'amber-lost-abort', true);
  for (const key of ['evidence/a/report.json', 'evidence/a/manifest.json']) await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  // the first abort is carried out upstream, then its answer is cut: the SDK retries into NoSuchUpload
  const proxy = await startFaultProxy({
    target: env['AMBER_S3_ENDPOINT'] as string,
    s3: true,
    seed: 1,
    faults: { resetMidBody: 1, methods: ['DELETE'], maxFaults: 1 },
  });
  const faulty = createS3Client({ endpoint: proxy.url, forcePathStyle: true, maxAttempts: 3, retryBaseMs: 10, requestTimeoutMs: 5_000 });
  t.teardown(async () => {
    faulty.destroy();
    await proxy.close();
  });
  const store = new S3Store({ client: faulty, bucket, partSize: 5 * MiB, queueSize: 2 });
  t.same((await store.abortUploads('evidence/a/')).sort(), ['evidence/a/manifest.json', 'evidence/a/report.json']);
  t.equal(proxy.counts.resets, 1, 'one answer was lost');
  t.same((await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? [], []);
});
