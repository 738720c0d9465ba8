import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { sha256Hex } from '../../src/core/canonical-json.js';
import { ADDENDUM_SCHEMA, type Addendum } from '../../src/evidence/addendum.js';
import type { CustodyEntry } from '../../src/core/custody-entry.js';
import { CustodyChain } from '../../src/evidence/custody-chain.js';
import { loadOrCreateSigningKey, type SigningKey } from '../../src/evidence/signing-key.js';
import { directorySource, verifyBundle, type VerifyReport } from '../../src/evidence/verify-bundle.js';
import { makeBundle, type TestBundle } from '../helpers/make-bundle.js';

type T = { teardown(fn: () => unknown): void };
async function bundle(t: T): Promise<TestBundle> {
  const b = await makeBundle();
  t.teardown(() => b.cleanup());
  return b;
}
const verify = (b: TestBundle) => verifyBundle(directorySource(b.dir), { jwks: b.jwks });
const failures = (r: VerifyReport) =>
  r.checks
    .filter((c) => !c.ok)
    .map((c) => [c.check, c.artifact].filter(Boolean).join(' '))
    .sort();
const detailOf = (r: VerifyReport, check: string) => r.checks.find((c) => !c.ok && c.check === check)?.detail ?? '';

/** Writes report.json + addendum.json + addendum.jws the way produce-report does; `edit` bends the addendum first. */
async function addReport(b: TestBundle, opts: { edit?: (a: Addendum) => void; key?: SigningKey; report?: string } = {}): Promise<Addendum> {
  const report = opts.report ?? `${JSON.stringify({ schema: 'forensics.amber.dev/report/v1', checkpoints: [] }, null, 2)}\n`;
  await writeFile(b.path('report.json'), report);
  const sealed = (await readFile(b.path('custody.jsonl'), 'utf8'))
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as CustodyEntry);
  const chain = new CustodyChain({ component: 'agent', node: 'node-a' }, () => new Date(Date.UTC(2026, 10, 28, 10, 5)), sealed);
  chain.append('report.produced', { indicators: ['reverse-shell'] });
  chain.append('artifact.hashed', { name: 'report.json', size: Buffer.byteLength(report), sha256: sha256Hex(report) });
  chain.append('artifact.stored', { name: 'report.json' });
  const addendum: Addendum = {
    schema: ADDENDUM_SCHEMA,
    captureId: b.manifest.captureId,
    manifestSha256: sha256Hex(await readFile(b.path('manifest.json'))),
    artifacts: [{ name: 'report.json', size: Buffer.byteLength(report), sha256: sha256Hex(report), mediaType: 'application/json' }],
    custody: { entries: chain.entries.slice(sealed.length) as Addendum['custody']['entries'], head: chain.head },
    signing: { alg: b.key.alg, kid: b.key.kid },
  };
  opts.edit?.(addendum);
  const bytes = Buffer.from(`${JSON.stringify(addendum, null, 2)}\n`);
  await writeFile(b.path('addendum.json'), bytes);
  await writeFile(b.path('addendum.jws'), await (opts.key ?? b.key).sign(bytes));
  return addendum;
}

t.test('a report sealed by a signed addendum verifies with the bundle', async (t) => {
  const b = await bundle(t);
  await addReport(b);
  const r = await verify(b);
  t.same(failures(r), []);
  for (const check of ['addendum', 'addendum signature', 'addendum custody'])
    t.ok(
      r.checks.some((c) => c.check === check && c.ok),
      check,
    );
  t.ok(
    r.checks.some((c) => c.check === 'artifact' && c.artifact === 'report.json' && c.ok),
    'the report is hashed like any artifact',
  );
});

t.test('a report.json nobody signed is an unlisted file; an unsigned addendum says so', async (t) => {
  const b = await bundle(t);
  await writeFile(b.path('report.json'), '{"indicators":[]}\n');
  t.same(failures(await verify(b)), ['unlisted file report.json']);
  await addReport(b);
  await rm(b.path('addendum.jws'));
  const r = await verify(b);
  t.same(failures(r), ['addendum', 'unlisted file report.json'], 'an unsigned addendum vouches for nothing');
  t.match(detailOf(r, 'addendum'), /not signed: addendum\.jws is missing/);
});

t.test('a flipped byte in the report names report.json', async (t) => {
  const b = await bundle(t);
  await addReport(b);
  const bytes = await readFile(b.path('report.json'));
  bytes[10] = (bytes[10] ?? 0) ^ 1;
  await writeFile(b.path('report.json'), bytes);
  t.same(failures(await verify(b)), ['artifact report.json']);
});

t.test('an addendum for another manifest, by another key, or with a broken custody link fails', async (t) => {
  const other = await bundle(t);
  const b = await bundle(t);
  await addReport(b, { edit: (a) => void (a.manifestSha256 = sha256Hex(JSON.stringify(other.manifest))) });
  t.match(detailOf(await verify(b), 'addendum'), /names another manifest\.json/);

  const { key: stranger } = await loadOrCreateSigningKey(join(b.root, 'stranger'));
  await addReport(b, { key: stranger });
  t.match(detailOf(await verify(b), 'addendum signature'), /signed by .*, the manifest by/);

  await addReport(b, { edit: (a) => void (a.custody.entries[0] = { ...(a.custody.entries[0] as CustodyEntry), prev: '0'.repeat(64) }) });
  t.match(detailOf(await verify(b), 'addendum custody'), /entry 1: prev does not continue the sealed chain/);

  await addReport(b, { edit: (a) => void (a.custody.entries[1] = { ...(a.custody.entries[1] as CustodyEntry), details: { name: 'forged' } }) });
  t.match(detailOf(await verify(b), 'addendum custody'), /entry 2: hash does not match/);
});

t.test('an addendum may not re-list a sealed artifact or a path', async (t) => {
  const b = await bundle(t);
  await addReport(b, {
    edit: (a) =>
      void a.artifacts.push(
        { ...(a.artifacts[0] as Addendum['artifacts'][number]), name: 'checkpoint-checkout.tar' },
        { ...(a.artifacts[0] as Addendum['artifacts'][number]), name: '../x' },
      ),
  });
  const r = await verify(b);
  t.match(detailOf(r, 'addendum'), /artifact names it may not use: checkpoint-checkout\.tar, \.\.\/x/);
});
