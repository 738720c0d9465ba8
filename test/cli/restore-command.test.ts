import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { restoreCommand } from '../../src/cli/restore-command.js';
import { verifyCommand } from '../../src/cli/verify-command.js';
import type { Manifest } from '../../src/evidence/manifest.js';
import type { RestoreRecord } from '../../src/evidence/restore-record.js';
import { loadOrCreateSigningKey } from '../../src/evidence/signing-key.js';
import { hashFile } from '../../src/core/hash-stream.js';
import { makeBundle, type TestBundle } from '../helpers/make-bundle.js';
import { REAL_DIR } from '../helpers/real-checkpoints.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s), env: {} }, out, err };
}
async function bundle(t: { teardown(fn: () => unknown): void }): Promise<TestBundle> {
  const b = await makeBundle();
  t.teardown(() => b.cleanup());
  return b;
}
const skopeo = (...args: string[]) => JSON.parse(execFileSync('skopeo', args, { encoding: 'utf8' })) as Record<string, any>;

t.test('a sealed capture restores to an OCI layout skopeo reads, its layer the sealed archive, with a restore record verify accepts', async (t) => {
  const b = await bundle(t);
  const c = capture();
  const layout = join(b.root, 'layout');
  t.equal(await restoreCommand([b.dir, '--oci-layout', layout, '--data-dir', b.dataDir, '--restored-by', 'analyst'], c.io), 0, c.err.join('\n'));
  const tag = `restore-${b.manifest.captureId}`;
  const raw = skopeo('inspect', '--raw', `oci:${layout}:${tag}`);
  const sealed = b.manifest.artifacts.find((a) => a.name === 'checkpoint-checkout.tar');
  t.equal(raw['layers'][0].digest, `sha256:${sealed?.sha256}`, "the layer digest is the manifest's archive hash");
  t.equal(raw['annotations']['io.kubernetes.cri-o.annotations.checkpoint.name'], 'checkout');
  t.match(c.out.join('\n'), /restore record file:\/\/.*restore-1\.json \(restore 1, signed by kid /);

  const record = JSON.parse(await readFile(b.path('restore-1.json'), 'utf8')) as RestoreRecord;
  t.equal(record.restoredBy.user, 'analyst');
  t.equal(record.image.digest, skopeo('inspect', `oci:${layout}:${tag}`)['Digest'], 'the record names the image skopeo sees');
  t.same(
    record.custody.entries.map((e) => e.action),
    ['restore.verified', 'restore.image-written'],
  );
  const v = capture();
  t.equal(await verifyCommand([b.dir, '--data-dir', b.dataDir], v.io), 0, v.out.join('\n'));
  t.match(v.out.join('\n'), /ok {3}restore restore-1\.json \(checkout as image sha256:[0-9a-f]{64}, by analyst@/);

  // again: a second record, the same image (built from the same sealed facts)
  const again = capture();
  t.equal(await restoreCommand([b.dir, '--oci-layout', join(b.root, 'layout2'), '--data-dir', b.dataDir], again.io), 0, again.err.join('\n'));
  const second = JSON.parse(await readFile(b.path('restore-2.json'), 'utf8')) as RestoreRecord;
  t.equal(second.custody.continues, 'restore-1');
  t.equal(second.image.digest, record.image.digest, 'the same capture makes the same image');
});

t.test('a bundle that does not verify is refused (exit 1) before anything is built, naming what failed', async (t) => {
  const b = await bundle(t);
  const archive = b.path('checkpoint-checkout.tar');
  const bytes = await readFile(archive);
  bytes[600] = (bytes[600] ?? 0) ^ 1;
  await writeFile(archive, bytes);
  const c = capture();
  const layout = join(b.root, 'layout');
  t.equal(await restoreCommand([b.dir, '--oci-layout', layout, '--data-dir', b.dataDir], c.io), 1);
  t.match(c.err.join('\n'), /FAIL artifact checkpoint-checkout\.tar: /);
  t.match(c.err.join('\n'), /REFUSED: .* does not verify \(1 of \d+ checks failed\); nothing was built/);
  await t.rejects(readFile(join(layout, 'index.json')), 'no layout was written');
  await t.rejects(readFile(b.path('restore-1.json')), 'no record');
});

t.test('usage: where to restore is required, and the sandbox flags need --namespace', async (t) => {
  const b = await bundle(t);
  for (const [args, message] of [
    [[b.dir], /say where to restore/],
    [[b.dir, '--oci-layout', 'x', '--node', 'n'], /--node is for the sandbox: it needs --namespace/],
    [[b.dir, '--namespace', 'ns'], /--namespace needs --image/],
    [[b.dir, '--oci-layout', 'x', '--dry-run'], /--dry-run prints the sandbox objects: it needs --namespace/],
  ] as const) {
    await t.rejects(restoreCommand(args, capture().io), { message });
  }
});

t.test('a capture of several containers needs --container; an unknown one is named', async (t) => {
  const b = await makeBundle({ containers: ['web', 'sidecar'] });
  t.teardown(() => b.cleanup());
  const layout = join(b.root, 'layout');
  await t.rejects(restoreCommand([b.dir, '--oci-layout', layout, '--data-dir', b.dataDir], capture().io), { code: 'CONTAINER_AMBIGUOUS' });
  await t.rejects(restoreCommand([b.dir, '--oci-layout', layout, '--data-dir', b.dataDir, '--container', 'db'], capture().io), { code: 'CONTAINER_NOT_FOUND' });
  const c = capture();
  t.equal(await restoreCommand([b.dir, '--oci-layout', layout, '--data-dir', b.dataDir, '--container', 'sidecar'], c.io), 0, c.err.join('\n'));
  const manifest = JSON.parse(await readFile(b.path('manifest.json'), 'utf8')) as Manifest;
  t.equal(manifest.captureId, b.manifest.captureId);
});

t.test("an analyst's own signing key: verify needs its JWKS beside the cluster's (--jwks twice)", async (t) => {
  const b = await bundle(t);
  const analyst = join(b.root, 'analyst');
  const { key } = await loadOrCreateSigningKey(analyst);
  const c = capture();
  t.equal(
    await restoreCommand([b.dir, '--oci-layout', join(b.root, 'layout'), '--jwks', b.jwksFile, '--signing-key', join(analyst, 'signing-key.pem')], c.io),
    0,
    c.err.join('\n'),
  );
  t.match(c.out.join('\n'), new RegExp(`signed by kid ${key.kid}`));
  const one = capture();
  t.equal(await verifyCommand([b.dir, '--jwks', b.jwksFile], one.io), 1, 'the cluster key alone does not know the restorer');
  t.match(one.out.join('\n'), /FAIL restore signature restore-1\.json: signed by kid .* which the JWKS does not hold/);
  const both = capture();
  t.equal(await verifyCommand([b.dir, '--jwks', b.jwksFile, '--jwks', join(analyst, 'jwks.json')], both.io), 0, both.out.join('\n'));
  t.match(both.out.join('\n'), /ok {3}restore signature restore-1\.json \(kid .*, EdDSA \(the restorer's own key\)\)/);
});

t.test('--unsealed restores a bare archive: the container from the archive itself, a warning that nobody vouches for it, no record', async (t) => {
  const b = await bundle(t);
  const archive = join(REAL_DIR, 'checkpoint-amber-pod_default-shell-2026-12-06T19:11:17Z.tar');
  const layout = join(b.root, 'layout');
  const c = capture();
  t.equal(await restoreCommand([archive, '--unsealed', '--oci-layout', layout, '--tag', 'bare'], c.io), 0, c.err.join('\n'));
  t.match(c.err.join('\n'), /is not sealed: its sha256 [0-9a-f]{64} is vouched for by nobody, and no restore record is written/);
  const raw = skopeo('inspect', '--raw', `oci:${layout}:bare`);
  t.equal(raw['layers'][0].digest, `sha256:${(await hashFile(archive)).sha256}`);
  t.equal(raw['annotations']['io.kubernetes.cri-o.annotations.checkpoint.name'], 'shell', "the container named by the archive's own metadata");
  t.equal(raw['annotations']['org.criu.checkpoint.engine.name'], 'cri-o');
});
