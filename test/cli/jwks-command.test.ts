import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { runCli } from '../../src/cli/run-cli.js';
import { loadOrCreateSigningKey, loadPublicJwks, verifyDetached } from '../../src/evidence/signing-key.js';
import { isAmberError } from '../../src/core/amber-error.js';

async function cli(args: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (s) => out.push(s), err: (s) => err.push(s), env });
  return { code, out: out.join(''), err: err.join('') };
}

t.test('amber jwks prints the public half of the signing key, and that set verifies its signatures', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-jwks-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { key } = await loadOrCreateSigningKey(join(dir, 'signing'));
  const res = await cli(['jwks', '--data-dir', dir]);
  t.equal(res.code, 0, res.err);
  const jwks = JSON.parse(res.out) as { keys: Record<string, unknown>[] };
  t.equal(jwks.keys.length, 1);
  t.equal(jwks.keys[0]?.['kid'], key.kid);
  t.notOk('d' in (jwks.keys[0] ?? {}), 'no private part');
  const payload = Buffer.from('{"manifest":true}');
  t.match(await verifyDetached(await key.sign(payload), payload, jwks as never), { kid: key.kid });
});

t.test('amber jwks --out merges earlier public keys and writes the file; without a key it says where it looked', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-jwks-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await loadOrCreateSigningKey(join(dir, 'signing'));
  const old = await generateKeyPair('ES256', { extractable: true });
  const oldJwk = await exportJWK(old.publicKey);
  await writeFile(join(dir, 'old.json'), JSON.stringify({ keys: [oldJwk] }));
  const res = await cli(['jwks', '--data-dir', dir, '--jwks-file', join(dir, 'old.json'), '--out', join(dir, 'out.json')]);
  t.equal(res.code, 0, res.err);
  const written = JSON.parse(await readFile(join(dir, 'out.json'), 'utf8')) as { keys: { kid: string; alg: string }[] };
  t.equal(written.keys.length, 2);
  t.equal(written.keys[1]?.alg, 'ES256', 'the earlier key keeps its algorithm and gains a kid');
  t.match(written.keys[1]?.kid, /^[A-Za-z0-9_-]{43}$/);

  const none = await cli(['jwks', '--data-dir', join(dir, 'nowhere')]);
  t.equal(none.code, 2);
  t.match(none.err, /CONFIG_INVALID.*signing-key\.pem/);
});

t.test('a JWKS file with a private key is refused: it would be served to anyone', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-jwks-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  await writeFile(join(dir, 'leak.json'), JSON.stringify({ keys: [await exportJWK(privateKey)] }));
  const refused = async (file: string) =>
    loadPublicJwks(join(dir, file)).then(
      () => undefined,
      (e: unknown) => (isAmberError(e) ? { code: e.code, problem: String(e.details['problem']) } : e),
    );
  t.match(await refused('leak.json'), { code: 'CONFIG_INVALID', problem: /private key/ });
  await writeFile(join(dir, 'rsa.json'), JSON.stringify({ keys: [{ kty: 'RSA', n: 'AQAB', e: 'AQAB' }] }));
  t.match(await refused('rsa.json'), { code: 'CONFIG_INVALID', problem: /keys\[0\]/ });
  const served = await cli(['serve', '--listen', '127.0.0.1:0', '--data-dir', dir, '--jwks-file', join(dir, 'leak.json')]);
  t.equal(served.code, 2, 'serve refuses to start');
  t.match(served.err, /jwksFile/);
});
