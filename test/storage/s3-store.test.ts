import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import t from 'tap';
import { createS3Client, evidenceRetryStrategy } from '../../src/storage/s3-client.js';
import { S3Store, META_SHA256 } from '../../src/storage/s3-store.js';
import { openStore, parseS3Uri } from '../../src/storage/open-store.js';
import { DEFAULT_SETTINGS } from '../../src/config/settings.js';
import { startS3rver } from '../helpers/start-s3rver.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A deterministic pseudo-random body of `size` bytes, produced in 1 MiB chunks. */
function body(size: number, seed = 1): { stream: () => Readable; sha256: string } {
  const chunk = createHash('sha512').update(String(seed)).digest();
  const block = Buffer.alloc(MiB);
  for (let i = 0; i < MiB; i += chunk.length) chunk.copy(block, i);
  const hash = createHash('sha256');
  for (let left = size; left > 0; left -= MiB) hash.update(block.subarray(0, Math.min(MiB, left)));
  return {
    sha256: hash.digest('hex'),
    stream: () =>
      Readable.from(
        (function* () {
          for (let left = size; left > 0; left -= MiB) yield block.subarray(0, Math.min(MiB, left));
        })(),
      ),
  };
}

const s3 = await startS3rver(['evidence']);
t.teardown(() => s3.close());
const store = new S3Store({ client: s3.client, bucket: 'evidence', partSize: 5 * MiB, queueSize: 2 });

t.test('stores, reads back, lists, and never overwrites', async (t) => {
  const stored = await store.put('t1/a/manifest.json', Readable.from(['{"x":1}']), {
    sha256: sha('{"x":1}'),
    metadata: { 'amber-capture-id': 'c1' },
    contentType: 'application/json',
  });
  t.same(stored, { key: 't1/a/manifest.json', size: 7, sha256: sha('{"x":1}') });
  t.equal(await text(await store.get('t1/a/manifest.json')), '{"x":1}');
  t.same(await store.head('t1/a/manifest.json'), { size: 7 });
  t.equal(await store.head('t1/a/none'), undefined);
  const info = await store.headObject('t1/a/manifest.json');
  t.equal(info?.metadata['amber-capture-id'], 'c1', 'capture id in the object metadata');
  t.equal(info?.metadata[META_SHA256], sha('{"x":1}'), 'artifact hash in the object metadata');
  await store.put('t1/b/other', Readable.from(['y']));
  t.same(await store.list('t1/a/'), ['t1/a/manifest.json']);
  t.same(await store.list('t1/'), ['t1/a/manifest.json', 't1/b/other']);
  await t.rejects(store.put('t1/a/manifest.json', Readable.from(['{"x":2}'])), { code: 'STORE_EXISTS' });
  t.equal(await text(await store.get('t1/a/manifest.json')), '{"x":1}', 'the original is untouched');
  await t.rejects(store.get('t1/nope'), { code: 'STORE_NOT_FOUND' });
  t.equal(store.uri('t1/a/manifest.json'), 's3://evidence/t1/a/manifest.json');
});

t.test('streams a multipart upload and hashes it end to end', async (t) => {
  const b = body(12 * MiB + 123);
  const stored = await store.put('t2/checkpoint-app.tar', b.stream(), { sha256: b.sha256 });
  t.equal(stored.size, 12 * MiB + 123);
  t.equal(stored.sha256, b.sha256);
  const back = createHash('sha256');
  for await (const c of await store.get('t2/checkpoint-app.tar')) back.update(c as Buffer);
  t.equal(back.digest('hex'), b.sha256, 'the server holds exactly those bytes');
});

t.test('a body whose hash does not match leaves nothing under the key, single part or multipart', async (t) => {
  await t.rejects(store.put('t3/small', Readable.from(['tampered']), { sha256: sha('original') }), { code: 'STORE_HASH_MISMATCH' });
  t.equal(await store.head('t3/small'), undefined);
  const b = body(11 * MiB, 2);
  await t.rejects(store.put('t3/large.tar', b.stream(), { sha256: body(11 * MiB, 3).sha256 }), { code: 'STORE_HASH_MISMATCH' });
  t.equal(await store.head('t3/large.tar'), undefined, 'the multipart upload was not completed');
  t.same(await store.list('t3/'), []);
});

t.test('a body that fails mid-stream stores nothing', async (t) => {
  const failing = new Readable({
    read() {
      this.push(randomBytes(64 * 1024));
      this.destroy(new Error('connection reset by peer'));
    },
  });
  await t.rejects(store.put('t4/checkpoint.tar', failing), { code: 'STORE_UNAVAILABLE' });
  t.equal(await store.head('t4/checkpoint.tar'), undefined);
});

t.test('putFile hashes the file first, records the hash as metadata, and deletes the file only when taken', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-s3-file-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const kept = join(dir, 'kept.tar');
  const content = randomBytes(6 * MiB);
  await writeFile(kept, content);
  const stored = await store.putFile('t5/kept.tar', kept, { metadata: { 'amber-capture-id': 'c5' } });
  t.same(stored, { key: 't5/kept.tar', size: content.length, sha256: sha(content) });
  t.equal((await stat(kept)).size, content.length, 'not taken: the file stays');
  t.equal((await store.headObject('t5/kept.tar'))?.metadata[META_SHA256], sha(content));
  const taken = join(dir, 'taken.tar');
  await writeFile(taken, 'small archive');
  await store.putFile('t5/taken.tar', taken, { take: true });
  await t.rejects(stat(taken), 'taken: the store holds it now');
  await t.rejects(store.putFile('t5/kept.tar', kept), { code: 'STORE_EXISTS' });
  await t.rejects(store.putFile('t5/other.tar', kept, { sha256: sha('something else') }), { code: 'STORE_HASH_MISMATCH' });
  t.equal(await store.head('t5/other.tar'), undefined);
});

t.test('refuses keys that are not plain relative paths', async (t) => {
  for (const key of ['', '/abs', 'a/../b', 'a/./b', 'nul\0']) {
    await t.rejects(store.put(key, Readable.from(['x'])), { code: 'STORE_BAD_KEY' }, JSON.stringify(key));
  }
});

t.test('the start-up check names a missing bucket and a bucket without Object Lock, with the fix', async (t) => {
  await store.checkBucket(false);
  const missing = new S3Store({ client: s3.client, bucket: 'no-such-bucket', partSize: 5 * MiB, queueSize: 1 });
  await t.rejects(missing.checkBucket(false), { code: 'STORE_UNAVAILABLE', message: /no-such-bucket.*does not exist/ });
  const err = await store.checkBucket(true).catch((e: unknown) => e as Error & { details: Record<string, unknown> });
  t.match(err, { code: 'STORE_NO_OBJECT_LOCK' });
  t.match(String(err?.details['fix']), /--object-lock-enabled-for-bucket/);
  t.match(String(err?.details['fix']), /evidence\.lock: none/);
  const down = new S3Store({
    client: createS3Client({ endpoint: 'http://127.0.0.1:9', forcePathStyle: true, maxAttempts: 1, requestTimeoutMs: 2000 }),
    bucket: 'evidence',
    partSize: 5 * MiB,
    queueSize: 1,
  });
  await t.rejects(down.checkBucket(false), { code: 'STORE_UNAVAILABLE', message: /did not answer/ });
});

t.test('openStore parses s3:// URIs and refuses bad ones', async (t) => {
  t.same(parseS3Uri('s3://evidence'), { bucket: 'evidence', prefix: '' });
  t.same(parseS3Uri('s3://evidence/prod/amber/'), { bucket: 'evidence', prefix: 'prod/amber' });
  t.throws(() => parseS3Uri('s3://Bad_Bucket/x'), { code: 'CONFIG_INVALID' });
  t.throws(() => parseS3Uri('s3://ok-bucket/a/../b'), { code: 'CONFIG_INVALID' });
  const opened = openStore('s3://evidence/prod', { ...DEFAULT_SETTINGS.s3, endpoint: s3.endpoint, forcePathStyle: true });
  t.equal(opened.prefix, 'prod');
  t.ok(opened.s3);
  t.equal(opened.store.uri('prod/x'), 's3://evidence/prod/x');
  t.throws(() => openStore('s3://evidence', { ...DEFAULT_SETTINGS.s3, partSizeMiB: 4 }), { code: 'CONFIG_INVALID' });
});

t.test('the retry strategy retries transient, throttling and 5xx errors with backoff, never client errors', async (t) => {
  const strategy = evidenceRetryStrategy(4, 10);
  let token = await strategy.acquireInitialRetryToken();
  for (const errorType of ['TRANSIENT', 'THROTTLING', 'SERVER_ERROR'] as const) {
    token = await strategy.refreshRetryTokenForRetry(token, { errorType });
    t.ok(token.getRetryDelay() >= 0 && token.getRetryDelay() <= 10 * 2 ** (token.getRetryCount() - 1), `${errorType}: delay within the backoff`);
  }
  t.equal(token.getRetryCount(), 3);
  await t.rejects(strategy.refreshRetryTokenForRetry(token, { errorType: 'TRANSIENT' }), 'the 4th attempt was the last');
  await t.rejects(strategy.refreshRetryTokenForRetry(await strategy.acquireInitialRetryToken(), { errorType: 'CLIENT_ERROR' }), 'a 4xx is final');
  await t.rejects(
    strategy.refreshRetryTokenForRetry(await strategy.acquireInitialRetryToken(), { errorType: 'SERVER_ERROR', error: { $metadata: { httpStatusCode: 501 } } }),
    '501 Not Implemented is final',
  );
  const hinted = await strategy.refreshRetryTokenForRetry(await strategy.acquireInitialRetryToken(), {
    errorType: 'THROTTLING',
    retryAfterHint: new Date(Date.now() + 500),
  });
  t.ok(hinted.getRetryDelay() > 400, 'Retry-After is honoured');
});

t.test('server-side encryption settings travel on every object created', async (t) => {
  const { startFaultProxy } = await import('../helpers/fault-proxy.js');
  const seen: { method: string; url: string; headers: Record<string, unknown> }[] = [];
  // the proxy injects nothing here; its filter hook is where the requests are observed
  const proxy = await startFaultProxy({
    target: s3.endpoint,
    faults: { match: (req) => (seen.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } }), false) },
  });
  t.teardown(() => proxy.close());
  const client = createS3Client({ endpoint: proxy.url, forcePathStyle: true, maxAttempts: 2, requestTimeoutMs: 10_000 });
  t.teardown(() => client.destroy());
  const kms = new S3Store({
    client,
    bucket: 'evidence',
    partSize: 5 * MiB,
    queueSize: 2,
    sse: { mode: 'aws:kms', kmsKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/amber' },
  });
  await kms.put('t9/small.json', Readable.from(['{}']));
  const b = body(6 * MiB, 9);
  await kms.put('t9/large.tar', b.stream(), { sha256: b.sha256 });
  const creates = seen.filter((r) => r.method === 'POST' && /[?&]uploads(=|&|$)/.test(r.url));
  t.equal(creates.length, 2, 'both objects began as multipart uploads');
  for (const c of creates) {
    t.equal(c.headers['x-amz-server-side-encryption'], 'aws:kms', c.url);
    t.equal(c.headers['x-amz-server-side-encryption-aws-kms-key-id'], 'arn:aws:kms:eu-west-1:111122223333:key/amber');
  }
  seen.length = 0;
  const s3sse = new S3Store({ client, bucket: 'evidence', partSize: 5 * MiB, queueSize: 2, sse: { mode: 'AES256' } });
  await s3sse.put('t9/sse-s3.json', Readable.from(['{}']));
  t.equal(seen.find((r) => r.method === 'POST' && /[?&]uploads/.test(r.url))?.headers['x-amz-server-side-encryption'], 'AES256');
  t.notOk(
    seen.some((r) => r.method === 'PUT' && !/partNumber=/.test(r.url)),
    'no PutObject: a retried PutObject could store a second version',
  );
});
