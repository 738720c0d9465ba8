import { readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { CompactSign, generateKeyPair } from 'jose';
import t from 'tap';
import { canonicalJson } from '../../src/core/canonical-json.js';
import type { CustodyEntry } from '../../src/core/custody-entry.js';
import { entryHash, GENESIS } from '../../src/evidence/custody-chain.js';
import { loadOrCreateSigningKey } from '../../src/evidence/signing-key.js';
import { directorySource, storeSource, verifyBundle, type VerifyReport } from '../../src/evidence/verify-bundle.js';
import { MemoryStore } from '../../src/storage/memory-store.js';
import { makeBundle, type TestBundle } from '../helpers/make-bundle.js';

type T = { teardown(fn: () => unknown): void };

async function bundle(t: T, opts?: Parameters<typeof makeBundle>[0]): Promise<TestBundle> {
  const b = await makeBundle(opts);
  t.teardown(() => b.cleanup());
  return b;
}

const verify = (b: TestBundle) => verifyBundle(directorySource(b.dir), { jwks: b.jwks });

/** What failed, as `check[ artifact][ line]`, sorted: the tests compare these exactly. */
function failures(r: VerifyReport): string[] {
  return r.checks
    .filter((c) => !c.ok)
    .map((c) => [c.check, c.artifact, c.line === undefined ? undefined : `line ${c.line}`].filter((s) => s !== undefined).join(' '))
    .sort();
}
const detailOf = (r: VerifyReport, check: string, artifact?: string) =>
  r.checks.find((c) => !c.ok && c.check === check && (artifact === undefined || c.artifact === artifact))?.detail ?? '';

async function lines(b: TestBundle): Promise<string[]> {
  return (await readFile(b.path('custody.jsonl'), 'utf8')).trimEnd().split('\n');
}
const writeLines = (b: TestBundle, ls: readonly string[]) => writeFile(b.path('custody.jsonl'), `${ls.join('\n')}\n`);

t.test('a freshly made bundle verifies, every check named and passing', async (t) => {
  const b = await bundle(t, { containers: ['checkout', 'sidecar'] });
  const progress: string[] = [];
  const r = await verifyBundle(directorySource(b.dir), { jwks: b.jwks, onProgress: (p) => progress.push(`${p.name}:${p.done}/${p.total}`) });
  t.same(failures(r), []);
  t.equal(r.valid, true);
  t.equal(r.manifest?.captureId, b.manifest.captureId);
  const names = new Set(r.checks.map((c) => c.check));
  for (const c of [
    'manifest',
    'signature',
    'artifact names',
    'capture id',
    'archives',
    'times',
    'signing key',
    'custody listed',
    'artifact',
    'custody chain',
    'custody head',
    'custody entries',
  ]) {
    t.ok(names.has(c), `check ${c}`);
  }
  t.same(
    r.checks.filter((c) => c.check === 'artifact').map((c) => c.artifact),
    b.artifacts,
  );
  t.match(r.checks.find((c) => c.check === 'signature')?.detail, new RegExp(`kid ${b.key.kid}, EdDSA`));
  const tar = b.manifest.artifacts[0];
  t.ok(progress.includes(`${tar?.name}:${tar?.size}/${tar?.size}`), 'progress reaches the end of each artifact');
});

t.test('flipping one byte in any artifact names exactly that artifact', async (t) => {
  const names = (await bundle(t)).artifacts;
  t.same(names, ['checkpoint-checkout.tar', 'logs-checkout.txt', 'pod.json', 'signals.json', 'custody.jsonl']);
  for (const name of names) {
    const b = await bundle(t);
    const bytes = await readFile(b.path(name));
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] as number) ^ 0x01;
    await writeFile(b.path(name), bytes);
    const r = await verify(b);
    t.equal(r.valid, false, name);
    const f = failures(r);
    t.ok(f.includes(`artifact ${name}`), `${name}: ${f.join(', ')}`);
    const rest = f.filter((x) => x !== `artifact ${name}`);
    if (name === 'custody.jsonl')
      t.ok(rest.length > 0 && rest.every((x) => x.startsWith('custody chain line')), `the custody line is named: ${rest.join(', ')}`);
    else t.same(rest, [], `only ${name} fails`);
    t.match(detailOf(r, 'artifact', name), /^sha256 differs: manifest [0-9a-f]{64}, file [0-9a-f]{64}$/);
  }
});

t.test('a truncated artifact and a missing artifact are named with what is wrong', async (t) => {
  const b = await bundle(t);
  const tar = b.manifest.artifacts[0]!;
  await truncate(b.path(tar.name), tar.size - 100);
  await rm(b.path('pod.json'));
  const r = await verify(b);
  t.same(failures(r), [`artifact ${tar.name}`, 'artifact pod.json']);
  t.equal(detailOf(r, 'artifact', tar.name), `size is ${tar.size - 100} bytes, manifest says ${tar.size}`);
  t.equal(detailOf(r, 'artifact', 'pod.json'), 'missing');
});

t.test('custody tampering names the line', async (t) => {
  await t.test('dropping a middle line breaks the link after the gap and the count', async (t) => {
    const b = await bundle(t);
    const ls = await lines(b);
    await writeLines(
      b,
      ls.filter((_, i) => i !== 2),
    );
    const r = await verify(b);
    t.same(failures(r), ['artifact custody.jsonl', 'custody chain line 3', 'custody chain line 3', 'custody entries']);
    t.match(
      r.checks.filter((c) => c.line === 3).map((c) => c.detail),
      [/seq is 3, expected 2/, /prev does not match/],
    );
    t.match(detailOf(r, 'custody entries'), `has ${ls.length - 1} entries, manifest says ${ls.length}`);
  });
  await t.test('dropping the last line leaves a chain whose head is not the signed one', async (t) => {
    const b = await bundle(t);
    await writeLines(b, (await lines(b)).slice(0, -1));
    const r = await verify(b);
    t.same(failures(r), ['artifact custody.jsonl', 'custody entries', 'custody head']);
    t.match(detailOf(r, 'custody head'), new RegExp(`manifest says ${b.manifest.custody.head}`));
  });
  await t.test('swapping two lines', async (t) => {
    const b = await bundle(t);
    const ls = await lines(b);
    [ls[1], ls[2]] = [ls[2]!, ls[1]!];
    await writeLines(b, ls);
    const f = failures(await verify(b));
    t.same([...new Set(f)], ['artifact custody.jsonl', 'custody chain line 2', 'custody chain line 3', 'custody chain line 4']);
  });
  await t.test('editing an entry', async (t) => {
    const b = await bundle(t);
    const ls = await lines(b);
    ls[1] = ls[1]!.replace('interactive-shell', 'harmless-policy');
    await writeLines(b, ls);
    const r = await verify(b);
    t.same(failures(r), ['artifact custody.jsonl', 'custody chain line 2']);
    t.match(detailOf(r, 'custody chain'), /entry edited/);
  });
  await t.test('a re-hashed chain that fits a doctored manifest fails on the signature alone', async (t) => {
    const b = await bundle(t);
    const entries = (await lines(b)).map((l) => JSON.parse(l) as CustodyEntry);
    let prev = GENESIS;
    const forged = entries.map((e) => {
      const body = { ...e, actor: { ...e.actor, node: 'elsewhere' }, prev };
      delete (body as { hash?: string }).hash;
      const hash = entryHash(body);
      prev = hash;
      return { ...body, hash };
    });
    const text = forged.map((e) => `${canonicalJson(e)}\n`).join('');
    await writeFile(b.path('custody.jsonl'), text);
    const m = structuredClone(b.manifest);
    const entry = m.artifacts.find((a) => a.name === 'custody.jsonl')!;
    const { sha256Hex } = await import('../../src/core/canonical-json.js');
    Object.assign(entry, { size: Buffer.byteLength(text), sha256: sha256Hex(text) });
    m.custody.head = prev;
    const original = await readFile(b.path('manifest.jws'));
    await b.reseal(m);
    await writeFile(b.path('manifest.jws'), original);
    const r = await verify(b);
    t.same(failures(r), ['signature']);
    t.equal(detailOf(r, 'signature'), `signature does not match manifest.json (kid ${b.key.kid})`);
  });
});

t.test('manifest edits break the signature, even whitespace', async (t) => {
  for (const [what, edit] of [
    ['a value', (s: string) => s.replace('"node-a"', '"node-b"')],
    ['whitespace', (s: string) => s.replace('{\n', '{\n ')],
    ['a trailing newline', (s: string) => `${s}\n`],
  ] as const) {
    const b = await bundle(t);
    await writeFile(b.path('manifest.json'), edit(await readFile(b.path('manifest.json'), 'utf8')));
    const r = await verify(b);
    t.same(failures(r), ['signature'], what);
    t.match(detailOf(r, 'signature'), /does not match manifest\.json/);
  }
});

t.test('signature problems: unsealed, another key, a forged kid, a malformed JWS', async (t) => {
  const b = await bundle(t);
  await rm(b.path('manifest.jws'));
  let r = await verify(b);
  t.same(failures(r), ['signature']);
  t.match(detailOf(r, 'signature'), /bundle is not sealed/);
  t.ok(r.manifest, 'the manifest is still reported');

  const other = (await loadOrCreateSigningKey(join(b.root, 'other'))).key;
  await writeFile(b.path('manifest.jws'), await other.sign(await readFile(b.path('manifest.json'))));
  r = await verify(b);
  t.same(failures(r), ['signature', 'signing key']);
  t.match(detailOf(r, 'signature'), new RegExp(`unknown kid ${other.kid}: the JWKS holds ${b.key.kid}`));
  t.match(detailOf(r, 'signing key'), `manifest.jws is by ${other.kid}`);

  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const forged = await new CompactSign(await readFile(b.path('manifest.json'))).setProtectedHeader({ alg: 'EdDSA', kid: b.key.kid }).sign(privateKey);
  const [h, , s] = forged.split('.');
  await writeFile(b.path('manifest.jws'), `${h}..${s}`);
  r = await verify(b);
  t.same(failures(r), ['signature']);
  t.equal(detailOf(r, 'signature'), `signature does not match manifest.json (kid ${b.key.kid})`);

  await writeFile(b.path('manifest.jws'), 'garbage');
  r = await verify(b);
  t.match(failures(r), ['signature']);
  t.match(detailOf(r, 'signature'), /not a compact JWS/);
});

t.test('an extra file in the bundle is an unlisted file', async (t) => {
  const b = await bundle(t);
  await writeFile(b.path('notes.txt'), 'planted');
  const r = await verify(b);
  t.same(failures(r), ['unlisted file notes.txt']);
});

t.test('manifest.json that is missing, not JSON or off-schema stops the comparison', async (t) => {
  const b = await bundle(t);
  const bytes = await readFile(b.path('manifest.json'));
  const m = structuredClone(b.manifest) as unknown as { target: Record<string, unknown> };
  delete m.target['pod'];
  await b.reseal(Buffer.from(JSON.stringify(m)));
  let r = await verify(b);
  t.equal(r.valid, false);
  t.same(failures(r), ['manifest']);
  t.match(detailOf(r, 'manifest'), /at \/target\/pod: missing required key 'pod'/);
  t.equal(r.manifest, undefined);

  await b.reseal(Buffer.from('{"schema": '));
  r = await verify(b);
  t.match(detailOf(r, 'manifest'), /not JSON/);
  await rm(b.path('manifest.json'));
  r = await verify(b);
  t.same(failures(r), ['manifest', 'signature']);
  t.match(detailOf(r, 'manifest'), /manifest\.json is missing/);
  t.ok(
    r.checks.some((c) => c.check === 'custody chain' && c.ok),
    'the chain is still checked on its own',
  );
  await b.reseal(bytes);
  t.equal((await verify(b)).valid, true, 'the original bytes, sealed again, verify');
});

t.test('manifest consistency: names, capture id, archives, times, custody listed', async (t) => {
  const b = await bundle(t);
  const check = async (edit: (m: typeof b.manifest) => void, expected: string[], detail: RegExp, named = expected[0]!) => {
    const m = structuredClone(b.manifest);
    edit(m);
    await b.reseal(m);
    const r = await verify(b);
    t.same(failures(r), expected);
    t.match(detailOf(r, named), detail);
  };
  await check((m) => m.artifacts.push({ ...m.artifacts[1]! }), ['artifact names'], /listed more than once: logs-checkout\.txt/);
  await check(
    (m) => m.artifacts.push({ name: '../../etc/passwd', size: 1, sha256: '0'.repeat(64), mediaType: 'x' }),
    ['artifact ../../etc/passwd', 'artifact names'],
    /unsafe.*"\.\.\/\.\.\/etc\/passwd"/,
    'artifact names',
  );
  await check(
    (m) => (m.captureId = 'someothercapture'),
    ['capture id'],
    new RegExp(`manifest says someothercapture, the bundle is at ${b.manifest.captureId}`),
  );
  await check((m) => m.target.containers.push({ name: 'db', containerID: 'x', image: 'y', imageID: 'z' }), ['archives'], /not listed: checkpoint-db\.tar/);
  await check(
    (m) => (m.times.checkpointRequested = '2026-11-28T09:00:00Z'),
    ['times'],
    /times\.checkpointRequested \(2026-11-28T09:00:00Z\) is before times\.queued/,
  );
  {
    // the sender's clock (Falco on another node) running ahead of ours is not a failure
    const m = structuredClone(b.manifest);
    m.times.signal = '2099-01-01T00:00:00Z';
    await b.reseal(m);
    t.same(failures(await verify(b)), []);
  }
  await check((m) => (m.times.sealed = 'yesterday'), ['times'], /times\.sealed is not an RFC 3339 time/);
  await check((m) => (m.signing.kid = 'somebody-else'), ['signing key'], /manifest says somebody-else EdDSA/);
  await check(
    (m) => (m.artifacts = m.artifacts.filter((a) => a.name !== 'custody.jsonl')),
    ['custody listed', 'unlisted file custody.jsonl'],
    /not among the artifacts/,
  );
  await b.reseal(b.manifest);
  t.equal((await verify(b)).valid, true);

  const moved = join(dirname(b.dir), 'renamed-copy');
  await rename(b.dir, moved);
  const r = await verifyBundle(directorySource(moved), { jwks: b.jwks });
  t.same(failures(r), ['capture id']);
});

t.test('a custody line that is JSON but not an object is named, not a crash', async (t) => {
  const b = await bundle(t);
  const ls = await lines(b);
  ls[2] = 'null';
  await writeLines(b, ls);
  const r = await verify(b);
  t.ok(failures(r).includes('custody chain line 3'), failures(r).join(', '));
});

t.test('the same checks run over an object-store prefix', async (t) => {
  const b = await bundle(t);
  const store = new MemoryStore();
  const prefix = `evidence/test-cluster/2026/11/28/${b.manifest.captureId}`;
  for (const name of [...b.artifacts, 'manifest.json', 'manifest.jws']) {
    await store.put(`${prefix}/${name}`, Readable.from([await readFile(b.path(name))]));
  }
  let r = await verifyBundle(storeSource(store, prefix), { jwks: b.jwks });
  t.same(failures(r), []);
  await store.put(`${prefix}/extra/nested.bin`, Readable.from(['x']));
  r = await verifyBundle(storeSource(store, prefix), { jwks: b.jwks });
  t.same(failures(r), ['unlisted file extra/nested.bin']);
});
