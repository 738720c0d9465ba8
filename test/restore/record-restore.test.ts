import { readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import t from 'tap';
import { sha256Hex } from '../../src/core/canonical-json.js';
import type { Manifest } from '../../src/evidence/manifest.js';
import { mergeJwks, loadOrCreateSigningKey, type SigningKey } from '../../src/evidence/signing-key.js';
import type { RestoreRecord } from '../../src/evidence/restore-record.js';
import { directorySource, verifyBundle, type VerifyReport } from '../../src/evidence/verify-bundle.js';
import { bundleRecordTarget, recordRestore, type RestoreFacts, type RestoreStep } from '../../src/restore/record-restore.js';
import { FileStore } from '../../src/storage/file-store.js';
import { makeBundle, type TestBundle } from '../helpers/make-bundle.js';

type T = { teardown(fn: () => unknown): void };
async function bundle(t: T): Promise<TestBundle> {
  const b = await makeBundle();
  t.teardown(() => b.cleanup());
  return b;
}

const target = (b: TestBundle) => bundleRecordTarget(directorySource(b.dir), new FileStore(dirname(b.dir)), (name) => `${basename(b.dir)}/${name}`);
const failures = (r: VerifyReport) =>
  r.checks
    .filter((c) => !c.ok)
    .map((c) => [c.check, c.artifact].filter(Boolean).join(' '))
    .sort();
const detailOf = (r: VerifyReport, check: string) => r.checks.find((c) => !c.ok && c.check === check)?.detail ?? '';

async function facts(b: TestBundle, edit: (f: RestoreFacts) => RestoreFacts = (f) => f): Promise<RestoreFacts> {
  const archive = await readFile(b.path('checkpoint-checkout.tar'));
  return edit({
    archive: { name: 'checkpoint-checkout.tar', container: 'checkout', sha256: sha256Hex(archive) },
    image: {
      digest: `sha256:${'1'.repeat(64)}`,
      layerDigest: `sha256:${sha256Hex(archive)}`,
      reference: `127.0.0.1:5000/forensics/checkout@sha256:${'1'.repeat(64)}`,
    },
    sandbox: { namespace: 'amber-sandbox', pod: 'amber-restore-x-1', networkPolicy: 'amber-restore-x-1', node: 'forensic-1' },
    restoredBy: { user: 'analyst', host: 'workstation' },
  });
}
const steps = (): RestoreStep[] => [
  { action: 'restore.verified', details: { checks: 30 }, at: '2026-12-07T08:00:00.000Z' },
  { action: 'restore.image-written', details: { digest: `sha256:${'1'.repeat(64)}` }, at: '2026-12-07T08:00:01.000Z' },
  { action: 'restore.sandbox-created', details: { namespace: 'amber-sandbox', pod: 'amber-restore-x-1' }, at: '2026-12-07T08:00:02.000Z' },
];
const ANALYST = { component: 'amber restore', pod: undefined } as const;

async function restore(b: TestBundle, key: SigningKey = b.key, edit?: (f: RestoreFacts) => RestoreFacts): Promise<RestoreRecord> {
  const manifestBytes = await readFile(b.path('manifest.json'));
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as Manifest;
  const { record } = await recordRestore(target(b), { manifest, manifestBytes }, await facts(b, edit), steps(), { component: ANALYST.component }, key);
  return record;
}

t.test('a restore record continues the sealed custody and verifies with the bundle', async (t) => {
  const b = await bundle(t);
  const record = await restore(b);
  t.equal(record.number, 1);
  t.equal(record.custody.continues, 'manifest');
  t.equal(record.custody.entries[0]?.prev, b.manifest.custody.head, 'the first entry links to the sealed head');
  t.equal(record.custody.entries[0]?.seq, b.manifest.custody.entries);
  const r = await verifyBundle(directorySource(b.dir), { jwks: b.jwks });
  t.same(failures(r), []);
  t.match(r.checks.find((c) => c.check === 'restore')?.detail, /checkout as image sha256:1{64} in amber-sandbox\/amber-restore-x-1, by analyst@workstation/);
  t.match(r.checks.find((c) => c.check === 'restore signature')?.detail, /\(the bundle key\)/);
  t.ok(!r.checks.some((c) => c.check === 'unlisted file'), 'restore-1.json and .jws are accounted for');
});

t.test('a second restore is restore-2 and continues the first; two restores at once get two numbers', async (t) => {
  const b = await bundle(t);
  await restore(b);
  const second = await restore(b);
  t.equal(second.number, 2);
  t.equal(second.custody.continues, 'restore-1');
  const [a, c] = await Promise.all([restore(b), restore(b)]);
  t.same([a.number, c.number].sort(), [3, 4], 'the write-once put made the later one take the next number');
  t.same(failures(await verifyBundle(directorySource(b.dir), { jwks: b.jwks })), []);
});

t.test("an analyst's own key verifies when the JWKS holds it, and is named as the restorer's; otherwise the record is refused", async (t) => {
  const b = await bundle(t);
  const { key } = await loadOrCreateSigningKey(join(b.root, 'analyst'));
  await restore(b, key);
  const without = await verifyBundle(directorySource(b.dir), { jwks: b.jwks });
  t.same(failures(without), ['restore signature restore-1.json']);
  t.match(detailOf(without, 'restore signature'), /signed by kid .* which the JWKS does not hold: pass the restorer's public key with --jwks/);
  const both = await verifyBundle(directorySource(b.dir), { jwks: mergeJwks(b.jwks.keys, [key.publicJwk]) });
  t.same(failures(both), []);
  t.match(both.checks.find((c) => c.check === 'restore signature')?.detail, /the restorer's own key/);
});

t.test('an edited restore record, a removed one and one whose image is not the archive are each caught', async (t) => {
  const b = await bundle(t);
  await restore(b);
  await restore(b);
  await restore(b, b.key, (f) => ({ ...f, image: { ...f.image, layerDigest: `sha256:${'2'.repeat(64)}` } }));
  const edited = (await readFile(b.path('restore-1.json'), 'utf8')).replace('"analyst"', '"someone-else"');
  await writeFile(b.path('restore-1.json'), edited);
  await rm(b.path('restore-2.json'));
  await rm(b.path('restore-2.jws'));
  const r = await verifyBundle(directorySource(b.dir), { jwks: b.jwks });
  t.same(failures(r), ['restore numbers', 'restore restore-3.json', 'restore signature restore-1.json', 'restore custody restore-3.json'].sort());
  t.match(detailOf(r, 'restore numbers'), /restore 2 missing of 1…3: a record was removed/);
  t.match(r.checks.find((c) => c.check === 'restore' && c.artifact === 'restore-3.json')?.detail, /its image's layer sha256:2{64} is not the archive/);
  t.match(
    r.checks.find((c) => c.check === 'restore custody' && c.artifact === 'restore-3.json')?.detail,
    /it continues restore-2, which is not an earlier verified record/,
  );
});

t.test('a restore record without its signature, or naming another manifest, is a finding', async (t) => {
  const b = await bundle(t);
  const record = await restore(b);
  await rm(b.path('restore-1.jws'));
  let r = await verifyBundle(directorySource(b.dir), { jwks: b.jwks });
  t.match(detailOf(r, 'restore'), /restore-1.json is not signed: restore-1.jws is missing/);
  const other = Buffer.from(`${JSON.stringify({ ...record, manifestSha256: 'f'.repeat(64) }, null, 2)}\n`);
  await writeFile(b.path('restore-1.json'), other);
  await writeFile(b.path('restore-1.jws'), await b.key.sign(other));
  r = await verifyBundle(directorySource(b.dir), { jwks: b.jwks });
  t.same(failures(r), ['restore restore-1.json']);
  t.match(detailOf(r, 'restore'), /it names another manifest.json/);
});
