import { once } from 'node:events';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import type { Io } from '../../src/cli/cli-support.js';
import { runCli } from '../../src/cli/run-cli.js';
import { makeBundle, type TestBundle } from '../helpers/make-bundle.js';

function capture(env: Record<string, string> = {}): Io & { stdout: () => string; stderr: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return { out: (s) => out.push(s), err: (s) => err.push(s), env, stdout: () => out.join('\n'), stderr: () => err.join('\n') };
}

async function bundle(t: { teardown(fn: () => unknown): void }, opts?: Parameters<typeof makeBundle>[0]): Promise<TestBundle> {
  const b = await makeBundle(opts);
  t.teardown(() => b.cleanup());
  return b;
}

async function serve(t: { teardown(fn: () => unknown): void }, handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server: Server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise((done) => server.close(done)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('a valid bundle: exit 0, one line per check, the JWKS used named', async (t) => {
  const b = await bundle(t);
  const io = capture();
  t.equal(await runCli(['verify', b.dir, '--jwks', b.jwksFile], io), 0, io.stderr());
  const out = io.stdout();
  t.match(out, `bundle ${b.dir}\njwks   ${b.jwksFile}`);
  t.match(out, new RegExp(`^ok   signature \\(kid ${b.key.kid}, EdDSA\\)$`, 'm'));
  for (const name of b.artifacts) t.match(out, new RegExp(`^ok   artifact ${name.replace('.', '\\.')} \\(\\d+ bytes, sha256 [0-9a-f]{16}…\\)$`, 'm'));
  t.match(out, /^ok   custody head /m);
  t.match(out, /^VALID: all \d+ checks passed$/m);
  t.notMatch(out, /FAIL/);
  t.equal(io.stderr(), '', 'no progress lines for small artifacts');
});

t.test('the default JWKS is <data-dir>/signing/jwks.json, from --data-dir or AMBER_DATA_DIR', async (t) => {
  const b = await bundle(t);
  const flag = capture();
  t.equal(await runCli(['verify', b.dir, '--data-dir', b.dataDir], flag), 0, flag.stderr());
  t.match(flag.stdout(), `jwks   ${b.jwksFile}`);
  const env = capture({ AMBER_DATA_DIR: b.dataDir });
  t.equal(await runCli(['verify', pathToFileURL(b.dir).href], env), 0, env.stderr());
  t.match(env.stdout(), `jwks   ${b.jwksFile}`);
  const none = capture({ AMBER_DATA_DIR: join(b.root, 'nowhere') });
  t.equal(await runCli(['verify', b.dir], none), 2);
  t.match(none.stderr(), /JWKS_UNREADABLE.*nowhere\/signing\/jwks\.json.*no such file.*pass --jwks/);
});

t.test('an invalid bundle: exit 1, FAIL lines name exactly what is wrong', async (t) => {
  const b = await bundle(t);
  const tar = b.path('checkpoint-checkout.tar');
  const bytes = await readFile(tar);
  bytes[700] = (bytes[700] as number) ^ 0xff;
  await writeFile(tar, bytes);
  const lines = (await readFile(b.path('custody.jsonl'), 'utf8')).trimEnd().split('\n');
  await writeFile(b.path('custody.jsonl'), `${lines.filter((_, i) => i !== 3).join('\n')}\n`);
  await writeFile(b.path('planted.sh'), '#!/bin/sh\n');
  const io = capture();
  t.equal(await runCli(['verify', b.dir, '--jwks', b.jwksFile], io), 1);
  const fails = io
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('FAIL'));
  t.match(fails, [
    /^FAIL artifact checkpoint-checkout\.tar: sha256 differs: manifest [0-9a-f]{64}, file [0-9a-f]{64}$/,
    /^FAIL artifact custody\.jsonl: size is \d+ bytes, manifest says \d+$/,
    /^FAIL unlisted file planted\.sh: in the bundle but listed neither in the manifest nor in a signed addendum$/,
    /^FAIL custody chain line 4: seq is 4, expected 3 \(the \d+ lines after it carry the same shift\)$/,
    /^FAIL custody chain line 4: prev does not match the previous entry/,
    /^FAIL custody entries: custody\.jsonl has \d+ entries, manifest says \d+$/,
  ]);
  t.equal(fails.length, 6);
  t.match(io.stdout(), /^INVALID: 6 of \d+ checks failed$/m);
});

t.test('an unsealed bundle and a bundle signed by another key exit 1', async (t) => {
  const b = await bundle(t);
  const jws = await readFile(b.path('manifest.jws'));
  await rm(b.path('manifest.jws'));
  const io = capture();
  t.equal(await runCli(['verify', b.dir, '--jwks', b.jwksFile], io), 1);
  t.match(io.stdout(), /^FAIL signature: manifest\.jws is missing: the bundle is not sealed$/m);
  await writeFile(b.path('manifest.jws'), jws);
  const other = await bundle(t);
  const wrong = capture();
  t.equal(await runCli(['verify', b.dir, '--jwks', other.jwksFile], wrong), 1);
  t.match(wrong.stdout(), new RegExp(`^FAIL signature: unknown kid ${b.key.kid}: the JWKS holds ${other.key.kid}$`, 'm'));
});

t.test('--json prints the report with the target and the JWKS used', async (t) => {
  const b = await bundle(t);
  await writeFile(b.path('extra.txt'), 'x');
  const io = capture();
  t.equal(await runCli(['verify', '--json', b.dir, '--jwks', b.jwksFile], io), 1);
  const report = JSON.parse(io.stdout());
  t.same(Object.keys(report), ['valid', 'target', 'jwks', 'checks', 'manifest']);
  t.equal(report.valid, false);
  t.equal(report.target, b.dir);
  t.equal(report.jwks, b.jwksFile);
  t.same(report.manifest, b.manifest);
  t.same(
    report.checks.filter((c: { ok: boolean }) => !c.ok),
    [{ check: 'unlisted file', ok: false, artifact: 'extra.txt', detail: 'in the bundle but listed neither in the manifest nor in a signed addendum' }],
  );
  t.match(
    report.checks.find((c: { check: string }) => c.check === 'signature'),
    { ok: true, detail: `kid ${b.key.kid}, EdDSA` },
  );
  for (const c of report.checks)
    t.same(
      Object.keys(c).filter((k) => !['check', 'ok', 'detail', 'artifact', 'line'].includes(k)),
      [],
    );
});

t.test('the JWKS can come from an http URL', async (t) => {
  const b = await bundle(t);
  const jwks = await readFile(b.jwksFile);
  const base = await serve(t, (req, res) => {
    if (req.url === '/.well-known/jwks.json') res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    else if (req.url === '/html') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>');
    else res.writeHead(404).end();
  });
  const io = capture();
  t.equal(await runCli(['verify', b.dir, '--jwks', `${base}/.well-known/jwks.json`], io), 0, io.stderr());
  t.match(io.stdout(), `jwks   ${base}/.well-known/jwks.json`);
  const missing = capture();
  t.equal(await runCli(['verify', b.dir, '--jwks', `${base}/nope`], missing), 2);
  t.match(missing.stderr(), /JWKS_UNREADABLE.*HTTP 404/);
  const html = capture();
  t.equal(await runCli(['verify', b.dir, '--jwks', `${base}/html`], html), 2);
  t.match(html.stderr(), /JWKS_UNREADABLE.*not JSON/);
});

t.test('could not run: exit 2 with the reason', async (t) => {
  const b = await bundle(t);
  const cases: [args: string[], stderr: RegExp][] = [
    [['verify'], /verify needs a TARGET/],
    [['verify', b.dir, b.dir], /verify takes one TARGET/],
    [['verify', b.dir, '--bogus'], /Unknown option '--bogus'/],
    [['verify', 's3://Bad_Bucket/x'], /CONFIG_INVALID.*does not name a valid bucket/],
    [['verify', join(b.root, 'missing'), '--jwks', b.jwksFile], /BUNDLE_NOT_FOUND.*does not exist/],
    [['verify', b.path('pod.json'), '--jwks', b.jwksFile], /BUNDLE_NOT_FOUND.*not a directory/],
    [['verify', b.dir, '--jwks', b.path('pod.json')], /JWKS_UNREADABLE.*not a JSON Web Key Set/],
    [['verify', b.dir, '--jwks', b.path('signals.json')], /JWKS_UNREADABLE.*not a JSON Web Key Set/],
    [['verify', b.dir, '--jwks', join(b.root, 'none.json')], /JWKS_UNREADABLE.*no such file/],
    [['verify', b.dir, '--jwks', 'http://127.0.0.1:1/jwks.json'], /JWKS_UNREADABLE.*cannot fetch/],
  ];
  for (const [args, stderr] of cases) {
    const io = capture();
    t.equal(await runCli(args, io), 2, args.join(' '));
    t.match(io.stderr(), stderr, args.join(' '));
    t.equal(io.stdout(), '', `nothing on stdout: ${args.join(' ')}`);
  }
  const help = capture();
  t.equal(await runCli(['verify', '--help'], help), 0);
  t.match(help.stdout(), /Usage:\n {2}amber verify TARGET \[--jwks FILE\|URL\]/);
  const top = capture();
  t.equal(await runCli(['--help'], top), 0);
  t.match(top.stdout(), /verify TARGET/);
});

t.test('a progress line on stderr for an artifact over 64 MiB', async (t) => {
  const b = await bundle(t, { archivePadding: 65 * 1024 * 1024 });
  const io = capture();
  t.equal(await runCli(['verify', b.dir, '--jwks', b.jwksFile], io), 0, io.stderr());
  const progress = io.stderr().split('\n');
  t.match(progress[0], /^hashing checkpoint-checkout\.tar: 0% of 65\.0 MiB$/);
  t.match(progress[progress.length - 1], /^hashing checkpoint-checkout\.tar: 100% of 65\.0 MiB$/);
  t.equal(progress.length, 11, 'one line per tenth');
  t.notMatch(io.stderr(), /logs-|pod\.json/, 'small artifacts stay quiet');
});
