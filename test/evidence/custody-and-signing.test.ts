import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import t from 'tap';
import { CustodyChain, GENESIS, verifyCustodyJsonl } from '../../src/evidence/custody-chain.js';
import { loadOrCreateSigningKey, loadSigningKey, verifyDetached } from '../../src/evidence/signing-key.js';

function chain(): CustodyChain {
  let n = 0;
  const c = new CustodyChain({ component: 'agent', node: 'node-a' }, () => new Date(Date.UTC(2026, 10, 28, 10, 0, n++)));
  c.append('signal.received', { digest: 'ab' });
  c.append('policy.matched', { policy: 'interactive-shell' });
  c.append('capture.queued', { id: 'x' });
  c.append('checkpoint.requested', { node: 'node-a' });
  return c;
}

t.test('a custody chain links each entry to the previous one and verifies', async (t) => {
  const c = chain();
  t.equal(c.entries[0]?.prev, GENESIS);
  t.equal(c.entries[1]?.prev, c.entries[0]?.hash);
  const result = verifyCustodyJsonl(c.toJsonl());
  t.same(result.problems, []);
  t.equal(result.head, c.head);
  t.equal(result.entries, 4);
});

t.test('a chain tells how often an action was recorded, its latest entry, and whether it ends with it', async (t) => {
  const c = chain();
  c.append('signal.received', { digest: 'cd' });
  t.equal(c.count('signal.received'), 2);
  t.equal(c.count('bundle.sealed'), 0);
  t.equal(c.last('signal.received')?.seq, 4);
  t.equal(c.last('bundle.sealed'), undefined);
  t.ok(c.endsWith('signal.received'));
  t.notOk(c.endsWith('checkpoint.requested'));
});

t.test('editing, dropping or reordering a custody line is detected and located', async (t) => {
  const lines = chain().toJsonl().trim().split('\n');
  const edited = [...lines];
  edited[1] = (edited[1] as string).replace('interactive-shell', 'something-else');
  t.match(verifyCustodyJsonl(edited.join('\n')).problems, [{ line: 2, problem: /edited/ }]);

  const dropped = [lines[0], lines[2], lines[3]].join('\n');
  const d = verifyCustodyJsonl(dropped).problems;
  t.ok(
    d.some((p) => p.line === 2 && /prev/.test(p.problem)),
    'the line after the gap is named',
  );

  const reordered = [lines[0], lines[2], lines[1], lines[3]].join('\n');
  t.ok(verifyCustodyJsonl(reordered).problems.length >= 2);
  t.not(verifyCustodyJsonl(lines.slice(0, 3).join('\n')).head, chain().head, 'a truncated chain has another head');
});

t.test('a generated key signs detached JWS that verify against the written JWKS', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-sign-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { key, generated } = await loadOrCreateSigningKey(dir);
  t.equal(generated, true);
  t.equal(key.alg, 'EdDSA');
  t.equal((await stat(join(dir, 'signing-key.pem'))).mode & 0o777, 0o600);
  const again = await loadOrCreateSigningKey(dir);
  t.equal(again.generated, false);
  t.equal(again.key.kid, key.kid, 'the same key is reused');
  const jwks = JSON.parse(await readFile(join(dir, 'jwks.json'), 'utf8'));
  t.equal(jwks.keys[0].kid, key.kid);
  t.notOk('d' in jwks.keys[0], 'no private part in the JWKS');

  const payload = Buffer.from('{"manifest":1}');
  const jws = await key.sign(payload);
  t.match(jws, /^[\w-]+\.\.[\w-]+$/, 'detached form');
  t.same(await verifyDetached(jws, payload, jwks), { kid: key.kid, alg: 'EdDSA' });
  await t.rejects(verifyDetached(jws, Buffer.from('{"manifest":2}'), jwks), 'a changed payload fails');
  const other = await loadOrCreateSigningKey(join(dir, 'other'));
  await t.rejects(verifyDetached(await other.key.sign(payload), payload, jwks), 'another key fails');
});

t.test('loads ES256 and Ed25519 keys from JWK and PKCS#8 PEM files, refusing others', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-sign-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ec = await generateKeyPair('ES256', { extractable: true });
  await writeFile(join(dir, 'ec.jwk'), JSON.stringify(await exportJWK(ec.privateKey)));
  await writeFile(join(dir, 'ec.pem'), await exportPKCS8(ec.privateKey));
  const fromJwk = await loadSigningKey(join(dir, 'ec.jwk'));
  const fromPem = await loadSigningKey(join(dir, 'ec.pem'));
  t.equal(fromJwk.alg, 'ES256');
  t.equal(fromPem.kid, fromJwk.kid);
  const payload = Buffer.from('x');
  t.equal((await verifyDetached(await fromPem.sign(payload), payload, { keys: [fromJwk.publicJwk] })).alg, 'ES256');

  await writeFile(join(dir, 'public.jwk'), JSON.stringify(await exportJWK(ec.publicKey)));
  await t.rejects(loadSigningKey(join(dir, 'public.jwk')), { code: 'CONFIG_INVALID', message: /no private part/ });
  await writeFile(join(dir, 'junk.pem'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
  await t.rejects(loadSigningKey(join(dir, 'junk.pem')), { code: 'CONFIG_INVALID' });
  await t.rejects(loadSigningKey(join(dir, 'missing.pem')), { code: 'CONFIG_INVALID', message: /cannot read/ });
});
