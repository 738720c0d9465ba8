import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { sha256Hex } from '../../src/core/canonical-json.js';
import { hashFile } from '../../src/core/hash-stream.js';
import { checkpointImage, type CheckpointImageInput } from '../../src/restore/checkpoint-image.js';
import { parseImageRef, pushImage } from '../../src/restore/registry-client.js';
import { rejected, thrown } from '../helpers/amber-errors.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { makeTestPki } from '../helpers/make-certs.js';
import { REAL_DIR } from '../helpers/real-checkpoints.js';
import { startRegistry } from '../helpers/start-registry.js';

const CRIO = join(REAL_DIR, 'checkpoint-amber-pod_default-shell-2026-12-06T19:11:17Z.tar');
const HTPASSWD = new URL('../fixtures/registry/htpasswd', import.meta.url).pathname;
const CREDS = { user: 'analyst', password: 'amber-test-password' };

const imageOf = (archive: { sha256: string; size: number }, created = '2026-12-07T08:00:00.000Z'): ReturnType<typeof checkpointImage> =>
  checkpointImage({ archive: { ...archive, compression: 'none' }, container: 'shell', architecture: 'amd64', created } satisfies CheckpointImageInput);

const skopeoInspect = (ref: string, ...flags: string[]) =>
  JSON.parse(execFileSync('skopeo', ['inspect', ...flags, `docker://${ref}`], { encoding: 'utf8' })) as Record<string, any>;

t.test('image references name their registry; Docker Hub is never guessed and digests are refused', async (t) => {
  t.same(parseImageRef('127.0.0.1:5000/forensics/shell:r1', 'x'), { registry: '127.0.0.1:5000', repository: 'forensics/shell', tag: 'r1' });
  t.same(parseImageRef('registry.example/forensics', 'restore-1'), { registry: 'registry.example', repository: 'forensics', tag: 'restore-1' });
  t.match(thrown(() => parseImageRef('forensics/shell', 'x')).details['problem'], /is not a registry host/);
  t.match(thrown(() => parseImageRef(`reg.example/a@sha256:${'0'.repeat(64)}`, 'x')).details['problem'], /push by tag/);
  t.match(thrown(() => parseImageRef('reg.example/Upper', 'x')).details['problem'], /is not a repository name/);
});

t.test('a checkpoint image pushed to a real registry is pulled back by skopeo with its digest, the layer the archive', async (t) => {
  const registry = await startRegistry();
  t.teardown(() => registry.close());
  const image = imageOf(await hashFile(CRIO));
  const progress: number[] = [];
  const ref = parseImageRef(`${registry.address}/forensics/shell`, 'restore-1');
  const pushed = await pushImage(ref, image, async () => createReadStream(CRIO), {
    insecure: true,
    chunkBytes: 256 * 1024,
    onProgress: (sent) => progress.push(sent),
  });
  t.equal(pushed.digest, image.manifest.descriptor.digest);
  t.equal(pushed.reference, `${registry.address}/forensics/shell:restore-1@${image.manifest.descriptor.digest}`);
  t.ok(progress.length > 1 && progress[progress.length - 1] === image.layer.size, 'progress in chunks up to the whole layer');
  const inspected = skopeoInspect(`${registry.address}/forensics/shell:restore-1`, '--tls-verify=false');
  t.equal(inspected['Digest'], image.manifest.descriptor.digest, 'the registry serves the digest amber computed');
  t.same(inspected['Layers'], [image.layer.digest]);
  const dir = await mkdtemp(join(tmpdir(), 'amber-pulled-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${registry.address}/forensics/shell@${image.manifest.descriptor.digest}`, `dir:${dir}`], {
    stdio: 'pipe',
  });
  const blob = await readFile(join(dir, image.layer.digest.slice(7)));
  t.equal(sha256Hex(blob), (await hashFile(CRIO)).sha256, 'pulled back by digest: the layer is the archive byte for byte');
  // a second push finds the blobs there and sends only the manifest
  const again = await pushImage(
    parseImageRef(`${registry.address}/forensics/shell:restore-2`, 'x'),
    image,
    async () => {
      throw new Error('the layer must not be read again');
    },
    { insecure: true },
  );
  t.equal(again.digest, image.manifest.descriptor.digest);
});

t.test(
  'a chunk cut mid-body is retried (the distribution registry cannot resume a chunk that partly landed: the upload starts again) and the blob is right',
  async (t) => {
    const registry = await startRegistry();
    t.teardown(() => registry.close());
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 123);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff;
    const image = imageOf({ sha256: sha256Hex(bytes), size: bytes.length });
    const proxy = await startFaultProxy({ target: registry.url, faults: { resetMidBody: 1, methods: ['PATCH'], maxFaults: 2, resetAfterBytes: 300 * 1024 } });
    t.teardown(() => proxy.close());
    const ref = parseImageRef(`127.0.0.1:${proxy.port}/forensics/big`, 'r1');
    const pushed = await pushImage(ref, image, async () => Readable.from([bytes]), { insecure: true, chunkBytes: 1024 * 1024, backoffMs: 10 });
    t.ok(proxy.counts.resets >= 1, `${proxy.counts.resets} PATCH cut`);
    const inspected = skopeoInspect(`${registry.address}/forensics/big:r1`, '--tls-verify=false');
    t.equal(inspected['Digest'], pushed.digest);
  },
);

t.test('basic auth over TLS with a CA file: refused without credentials, pushed with them', async (t) => {
  const pki = makeTestPki();
  const ca = pki.read(pki.caCert);
  const registry = await startRegistry({ htpasswd: HTPASSWD, tls: { cert: pki.serverCert, key: pki.serverKey, ca } });
  t.teardown(() => registry.close());
  const image = imageOf(await hashFile(CRIO));
  const ref = parseImageRef(`${registry.address}/forensics/shell:r1`, 'x');
  const refused = await rejected(pushImage(ref, image, async () => createReadStream(CRIO), { ca }));
  t.equal(refused.code, 'REGISTRY_UNAUTHORIZED');
  t.match(String(refused.details['problem']), /asks for a user and password: pass --registry-user and AMBER_REGISTRY_PASSWORD/);
  const wrong = await rejected(pushImage(ref, image, async () => createReadStream(CRIO), { ca, credentials: { user: 'analyst', password: 'guess' } }));
  t.equal(wrong.code, 'REGISTRY_UNAUTHORIZED');
  const started = Date.now();
  const untrusted = await rejected(pushImage(ref, image, async () => createReadStream(CRIO), { credentials: CREDS }));
  t.equal(untrusted.code, 'REGISTRY_TLS', 'without the CA the certificate is not trusted');
  t.ok(Date.now() - started < 2000, 'and that is not retried: it never passes by itself');
  const pushed = await pushImage(ref, image, async () => createReadStream(CRIO), { ca, credentials: CREDS });
  t.equal(pushed.digest, image.manifest.descriptor.digest);
});

t.test('bytes that are not the sealed archive are not committed to the registry', async (t) => {
  const registry = await startRegistry();
  t.teardown(() => registry.close());
  const image = imageOf(await hashFile(CRIO));
  const e = await rejected(
    pushImage(parseImageRef(`${registry.address}/forensics/shell:r1`, 'x'), image, async () => Readable.from([Buffer.from('something else')]), {
      insecure: true,
    }),
  );
  t.equal(e.code, 'RESTORE_ARCHIVE_MISMATCH');
  t.throws(
    () => execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.address}/forensics/shell:r1`], { stdio: 'pipe' }),
    'no image under the tag',
  );
});
