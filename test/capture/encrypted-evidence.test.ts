import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DEFAULT_CAPTURE_SETTINGS, type CaptureDeps } from '../../src/capture/capture-deps.js';
import { runCapture } from '../../src/capture/run-capture.js';
import { createLogger } from '../../src/cli/create-logger.js';
import { runCli } from '../../src/cli/run-cli.js';
import { planCapture } from '../../src/core/decision.js';
import { formatAgeIdentityFile, generateAgeIdentity } from '../../src/evidence/age/age-keys.js';
import type { Manifest } from '../../src/evidence/manifest.js';
import { loadOrCreateSigningKey } from '../../src/evidence/signing-key.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';
import { FileStore } from '../../src/storage/file-store.js';
import { writeCheckpointArchive } from '../sim/checkpoint-archive.js';
import { ageMissing, run } from '../helpers/age-cli.js';
import { FakeKube, FakeKubelet } from '../helpers/fake-kube.js';
import { LogSink } from '../helpers/log-sink.js';

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const team = generateAgeIdentity();
const escrow = generateAgeIdentity();
const stranger = generateAgeIdentity();

async function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (s) => out.push(s), err: (s) => err.push(s), env: {} });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** One capture of a simulated checkpoint, encrypted to the team and an escrow key, into a file store. */
async function encryptedBundle(t: { teardown(fn: () => unknown): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'amber-age-capture-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const queue = await FileQueue.open({ dir: join(dir, 'journal') });
  t.teardown(() => queue.close());
  const { key } = await loadOrCreateSigningKey(join(dir, 'signing'));
  await writeFile(join(dir, 'jwks.json'), JSON.stringify({ keys: [key.publicJwk] }));
  await mkdir(join(dir, 'checkpoints'));
  const write = (file: string, container: string) =>
    writeCheckpointArchive(
      file,
      {
        layout: 'containerd',
        namespace: 'shop',
        pod: 'web-1',
        podUid: 'uid-1',
        container,
        containerId: 'ab'.repeat(32),
        sandboxId: 'cd'.repeat(32),
        image: 'ghcr.io/acme/app:1.0',
        imageRef: `ghcr.io/acme/app@sha256:${'ef'.repeat(32)}`,
        imageId: '12'.repeat(32),
        podIP: '10.244.1.9',
        hostPid: 4242,
        createdAt: T0 - 60_000,
        startedAt: T0 - 59_000,
        checkpointedAt: T0,
        restartCount: 0,
        argv: ['/bin/sh'],
        env: ['DB_PASSWORD=hunter2-not-for-the-bucket'],
        logLines: [],
      },
      200 * 1024,
    ).then(() => undefined);
  const kube = new FakeKube();
  const store = new FileStore(join(dir, 'evidence'));
  const deps: CaptureDeps = {
    queue,
    api: kube,
    kubelet: new FakeKubelet(join(dir, 'checkpoints'), write),
    store,
    signingKey: key,
    log: createLogger('warn', new LogSink()),
    actor: { component: 'agent', node: 'node-a' },
    version: 'test',
    settings: { ...DEFAULT_CAPTURE_SETTINGS, checkpointDir: join(dir, 'checkpoints'), cluster: 'test', minFreeBytes: 0, retryBaseMs: 1 },
  };
  const { capture } = await queue.enqueue(
    planCapture({
      policy: 'interactive-shell',
      signal: {
        source: 'falco',
        rule: 'Terminal shell in container',
        priority: 'Notice',
        time: '2026-11-28T12:00:00Z',
        tags: [],
        fields: {},
        target: { namespace: 'shop', pod: 'web-1', container: 'app', containerID: 'aaaaaaaaaaaa' },
        raw: { secret: 'in-the-signal' },
      },
      containers: 'target',
      cooldownMs: 60_000,
      timeoutSeconds: 30,
      include: ['podSpec', 'logs'],
      evidence: { retentionDays: 30, lock: 'none', encryption: { recipients: [team.recipient, escrow.recipient] } },
    }),
  );
  const done = await runCapture(deps, capture.id);
  const bundle = join(dir, 'evidence', (await store.list('')).find((k) => k.endsWith('manifest.json'))?.replace(/\/manifest\.json$/, '') ?? '');
  const identity = async (who: { secretKey: string }, name: string) => {
    const file = join(dir, `${name}.txt`);
    await writeFile(file, formatAgeIdentityFile(who.secretKey), { mode: 0o600 });
    return file;
  };
  const manifest = JSON.parse(await readFile(join(bundle, 'manifest.json'), 'utf8')) as Manifest;
  return { dir, done, bundle, manifest, jwks: join(dir, 'jwks.json'), identity };
}

t.test('evidence encrypted to age recipients: names, manifest, custody; verifiable without a key', async (t) => {
  const b = await encryptedBundle(t);
  t.equal(b.done.status.phase, 'Sealed', b.done.status.message ?? '');
  t.same((await readdir(b.bundle)).sort(), [
    'addendum.json',
    'addendum.jws',
    'checkpoint-app.tar.age',
    'custody.jsonl',
    'logs-app.txt.age',
    'manifest.json',
    'manifest.jws',
    'pod.json.age',
    'report.json.age',
    'signals.json.age',
  ]);
  const archive = b.manifest.artifacts.find((a) => a.name === 'checkpoint-app.tar.age');
  t.match(archive?.plaintext, { name: 'checkpoint-app.tar', mediaType: 'application/x-tar', sha256: /^[0-9a-f]{64}$/ });
  t.not(archive?.sha256, archive?.plaintext?.sha256, 'the stored hash is the ciphertext’s, the plaintext hash the evidence’s');
  t.equal(b.done.status.bundle?.archives[0]?.sha256, archive?.plaintext?.sha256, 'the capture names the evidence by its plaintext hash');
  t.same(b.manifest.evidence.encryption?.recipients, [team.recipient, escrow.recipient]);
  const encrypted = b.done.status.custody?.filter((e) => e.action === 'artifact.encrypted') ?? [];
  t.same(encrypted.map((e) => e.details['name']).sort(), ['checkpoint-app.tar.age', 'logs-app.txt.age', 'pod.json.age', 'report.json.age', 'signals.json.age']);
  t.same(encrypted[0]?.details['recipients'], [team.recipient, escrow.recipient], 'custody records the recipients');
  t.match(b.done.status.report, { state: 'Written' }, 'the report was made from the node copy before it was deleted');

  // a bucket reader without the identity learns nothing but sizes
  for (const name of await readdir(b.bundle)) {
    if (!name.endsWith('.age')) continue;
    const bytes = await readFile(join(b.bundle, name));
    for (const secret of ['hunter2-not-for-the-bucket', 'in-the-signal', 'web-1', 'kworkerd'])
      t.equal(bytes.indexOf(secret), -1, `${name} does not show ${secret}`);
  }
  const plain = await cli(['verify', b.bundle, '--jwks', b.jwks]);
  t.equal(plain.code, 0, plain.code === 0 ? 'valid without any key' : plain.out);
  t.match(plain.out, /info 4 artifacts are encrypted \(age\)/, 'the sealed ones; the report is in the addendum');
});

t.test('verify --identity checks what is inside; a wrong identity or a flipped ciphertext byte names the artifact', async (t) => {
  const b = await encryptedBundle(t);
  const ok = await cli(['verify', b.bundle, '--jwks', b.jwks, '--identity', await b.identity(escrow, 'escrow'), '--json']);
  t.equal(ok.code, 0, ok.code === 0 ? 'valid with the escrow identity' : ok.out);
  const checks = (JSON.parse(ok.out) as { checks: { check: string; ok: boolean; artifact?: string }[] }).checks.filter((c) => c.check === 'plaintext');
  t.same(checks.map((c) => c.artifact).sort(), ['checkpoint-app.tar.age', 'logs-app.txt.age', 'pod.json.age', 'report.json.age', 'signals.json.age']);
  t.ok(
    checks.every((c) => c.ok),
    'the escrow key alone opens every artifact',
  );

  const wrong = await cli(['verify', b.bundle, '--jwks', b.jwks, '--identity', await b.identity(stranger, 'stranger')]);
  t.equal(wrong.code, 1);
  t.match(wrong.out, /FAIL plaintext checkpoint-app\.tar\.age: none of the given identities opens it/);

  const file = join(b.bundle, 'pod.json.age');
  const bytes = await readFile(file);
  bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 1;
  await writeFile(file, bytes);
  const flipped = await cli(['verify', b.bundle, '--jwks', b.jwks]);
  t.equal(flipped.code, 1);
  t.match(flipped.out, /FAIL artifact pod\.json\.age: sha256 differs/, 'detected without any key');
});

t.test('inspect --identity reads the encrypted archive; without one it says what is missing', async (t) => {
  const b = await encryptedBundle(t);
  const without = await cli(['inspect', b.bundle]);
  t.equal(without.code, 2);
  t.match(without.err, /checkpoint-app\.tar\.age is encrypted: pass --identity FILE/);
  const wrong = await cli(['inspect', b.bundle, '--identity', await b.identity(stranger, 'stranger')]);
  t.equal(wrong.code, 2);
  t.match(wrong.err, /checkpoint-app\.tar\.age cannot be decrypted: AGE_NO_IDENTITY_MATCHED/, 'a wrong key is named, not a crash');
  const read = await cli(['inspect', b.bundle, '--identity', await b.identity(team, 'team'), '--json']);
  t.equal(read.code, 0, read.err);
  const inspection = JSON.parse(read.out) as { processes: { pid: number; env: string[] }[] };
  t.same(
    inspection.processes.map((p) => p.pid),
    [1, 7, 9],
  );
  t.ok(inspection.processes[0]?.env.includes('DB_PASSWORD=hunter2-not-for-the-bucket'), 'the memory is readable with the key');
});

t.test('the standard age tool decrypts the archive to exactly the bytes the manifest names', { skip: ageMissing() ?? false }, async (t) => {
  const b = await encryptedBundle(t);
  const key = await b.identity(team, 'team');
  const archive = b.manifest.artifacts.find((a) => a.name === 'checkpoint-app.tar.age');
  const out = join(b.dir, 'checkpoint-app.tar');
  const r = await run('age', ['-d', '-i', key, '-o', out, join(b.bundle, 'checkpoint-app.tar.age')]);
  t.equal(r.code, 0, r.stderr);
  const back = await readFile(out);
  t.equal(back.length, archive?.plaintext?.size);
  t.equal(createHash('sha256').update(back).digest('hex'), archive?.plaintext?.sha256);
  const report = await run('age', ['-d', '-i', key, join(b.bundle, 'report.json.age')]);
  t.match(
    JSON.parse(report.stdout.toString('utf8')),
    { checkpoints: [{ archive: { name: 'checkpoint-app.tar', sha256: archive?.plaintext?.sha256 } }] },
    'the report is readable by the recipients and names the archive',
  );
});

t.test('restore --identity builds the image from the decrypted archive: its layer is the plaintext the manifest names', async (t) => {
  const b = await encryptedBundle(t);
  const layout = join(b.dir, 'layout');
  const without = await cli(['restore', b.bundle, '--oci-layout', layout, '--jwks', b.jwks, '--data-dir', b.dir]);
  t.equal(without.code, 1, 'refused');
  t.match(without.err, /REFUSED: .*the archive is stored encrypted \(age\): pass --identity/);
  const restored = await cli([
    'restore',
    b.bundle,
    '--oci-layout',
    layout,
    '--jwks',
    b.jwks,
    '--data-dir',
    b.dir,
    '--identity',
    await b.identity(team, 'team'),
  ]);
  t.equal(restored.code, 0, restored.err);
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', (index.manifests[0]?.digest ?? '').slice(7)), 'utf8')) as {
    layers: { digest: string }[];
  };
  const archive = b.manifest.artifacts.find((a) => a.name === 'checkpoint-app.tar.age');
  t.equal(manifest.layers[0]?.digest, `sha256:${archive?.plaintext?.sha256}`, 'the evidence, not its ciphertext');
  const verified = await cli(['verify', b.bundle, '--jwks', b.jwks]);
  t.equal(verified.code, 0, verified.out);
  t.match(verified.out, /ok {3}restore restore-1\.json/);
});
