import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { runCli } from '../../src/cli/run-cli.js';
import type { Capture } from '../../src/core/capture.js';
import { MASK } from '../../src/review/mask-secrets.js';
import { sealedCaptures, SECRET_ENV } from '../helpers/sealed-capture.js';
import { startUiApp, TOKEN } from '../helpers/start-ui-app.js';

const run = promisify(execFile);

interface Proc {
  pid: number;
  env?: string[];
  cmdline?: string[];
}

/** `amber verify … --json`, in process: the exit code and the parsed report. */
async function verifyCli(args: string[]): Promise<{ code: number; report: any; out: string }> {
  const out: string[] = [];
  const code = await runCli(['verify', ...args], { out: (s) => out.push(s), err: (s) => out.push(s), env: {} });
  const text = out.join('\n');
  let report: unknown;
  try {
    report = JSON.parse(text);
  } catch {
    // not --json
  }
  return { code, report, out: text };
}

t.test('the evidence routes on a real sealed capture', async (t) => {
  const sealed = await sealedCaptures();
  t.teardown(() => sealed.close());
  const app = await startUiApp({ queue: sealed.queue, evidence: { store: sealed.store, jwks: sealed.jwks } });
  t.teardown(() => app.close());
  const capture = await sealed.seal();
  const id = capture.id;
  const bearer = { token: TOKEN };
  const secretValue = SECRET_ENV.slice(SECRET_ENV.indexOf('=') + 1);

  await t.test('the report masks the secret-looking env value and lists where', async (t) => {
    const res = await app.call('GET', `/v1/captures/${id}/report`, bearer);
    t.equal(res.status, 200, res.text);
    t.notMatch(res.text, secretValue, 'the clear value is nowhere in the answer');
    t.equal(res.body.report.captureId, id);
    const procs = res.body.report.checkpoints[0].processes as Proc[];
    const holder = procs.find((p) => p.env?.includes(`AWS_SECRET_ACCESS_KEY=${MASK}`));
    t.ok(holder, 'a process shows the name with the value masked');
    const index = holder?.env?.indexOf(`AWS_SECRET_ACCESS_KEY=${MASK}`) as number;
    t.ok(holder?.env?.includes('MODE=prod'), 'an ordinary value stays');
    t.ok(
      (res.body.masked as unknown[]).some((m) => JSON.stringify(m) === JSON.stringify({ checkpoint: 0, pid: holder?.pid, field: 'env', index })),
      'masked lists the place',
    );
    for (const m of res.body.masked as { checkpoint: number; pid: number; field: 'env' | 'cmdline'; index: number }[]) {
      const shown = procs.find((p) => p.pid === m.pid)?.[m.field]?.[m.index];
      t.ok(shown?.includes(MASK), `${m.field} ${m.pid}/${m.index} is masked`);
    }
    const stored = await readFile(join(sealed.dirOf(capture), 'report.json'), 'utf8');
    t.match(stored, secretValue, 'the stored report is unchanged (masking is on the answer only)');
  });

  await t.test('reveal returns the clear value and logs, at warn, who asked and where', async (t) => {
    const { body } = await app.call('GET', `/v1/captures/${id}/report`, bearer);
    const ref = (body.masked as { field: string }[]).find((m) => m.field === 'env') as object;
    const { cookie, csrf } = await app.signIn();
    const refused = await app.call('POST', `/v1/captures/${id}/reveal`, { cookie, json: ref });
    t.equal(refused.status, 403, 'a browser reveal needs the CSRF token');
    t.equal(app.logs.find('a masked value of the evidence was revealed').length, 0);

    const res = await app.call('POST', `/v1/captures/${id}/reveal`, { cookie, csrf, json: ref });
    t.equal(res.status, 200, res.text);
    t.same(res.body, { value: SECRET_ENV });
    const lines = app.logs.find('a masked value of the evidence was revealed');
    t.equal(lines.length, 1);
    t.match(lines[0], { level: 40, user: 'token:1', capture: id });
    t.same(lines[0]?.['secret'], ref, 'the place is logged');
    t.notMatch(app.logs.text(), secretValue, 'the value itself is not logged');

    const byToken = await app.call('POST', `/v1/captures/${id}/reveal`, { ...bearer, json: ref });
    t.equal(byToken.status, 200);
    t.equal(app.logs.find('a masked value of the evidence was revealed')[1]?.['user'], 'token:1');

    const nowhere = await app.call('POST', `/v1/captures/${id}/reveal`, { ...bearer, json: { ...ref, index: 9999 } });
    t.equal(nowhere.status, 409);
    t.equal(nowhere.body.error.code, 'EVIDENCE_UNAVAILABLE');
    const bad = await app.call('POST', `/v1/captures/${id}/reveal`, { ...bearer, json: { ...ref, field: 'argv' } });
    t.equal(bad.status, 422, 'a place of another shape');
  });

  await t.test('the verification is what amber verify --json reports for the same bundle', async (t) => {
    const res = await app.call('GET', `/v1/captures/${id}/verification`, bearer);
    t.equal(res.status, 200, res.text);
    const cli = await verifyCli([sealed.dirOf(capture), '--jwks', sealed.jwksFile, '--json']);
    t.equal(cli.code, 0, cli.out);
    t.equal(res.body.valid, true);
    t.equal(cli.report.valid, true);
    t.same(res.body.checks, cli.report.checks, 'the same checks, in the same order');
    t.ok(
      (res.body.checks as { check: string; artifact?: string }[]).some((c) => c.check === 'artifact' && c.artifact === 'report.json'),
      'the addendum (report.json) is checked',
    );
    t.equal(res.body.encryptedUnchecked, 0);
    t.match(app.logs.find('bundle verified').at(-1), { capture: id, valid: true, failed: 0 });
  });

  await t.test('a tampered artifact makes the verification invalid, naming it', async (t) => {
    const other = await sealed.seal();
    const dir = sealed.dirOf(other);
    const name = 'pod.json';
    const before = await readFile(join(dir, name));
    await writeFile(join(dir, name), Buffer.concat([before, Buffer.from('an extra line\n')]));
    const res = await app.call('GET', `/v1/captures/${other.id}/verification`, bearer);
    t.equal(res.status, 200);
    t.equal(res.body.valid, false);
    const failed = (res.body.checks as { check: string; ok: boolean; artifact?: string }[]).filter((c) => !c.ok);
    t.ok(failed.length > 0);
    t.ok(
      failed.every((c) => c.artifact === name),
      `every failing check names ${name}: ${JSON.stringify(failed)}`,
    );
    const cli = await verifyCli([dir, '--jwks', sealed.jwksFile, '--json']);
    t.equal(cli.code, 1);
    t.same(res.body.checks, cli.report.checks, 'the CLI agrees');
    t.equal((await app.call('GET', `/v1/captures/${id}/verification`, bearer)).body.valid, true, 'the other bundle is still valid');
  });

  await t.test('memory search streams NDJSON match lines, then a done line', async (t) => {
    const res = await app.call('GET', `/v1/captures/${id}/memory?q=${encodeURIComponent('AWS_SECRET_ACCESS_KEY')}`, bearer);
    t.equal(res.status, 200, res.text);
    t.match(res.headers['content-type'], /^application\/x-ndjson/);
    t.equal(res.headers['cache-control'], 'no-store');
    t.match(res.text, /\n$/, 'every line ends with a newline');
    const lines = res.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { match?: any; done?: any });
    const matches = lines.filter((l) => l.match).map((l) => l.match);
    t.ok(matches.length > 0, 'the env string is in the stack pages');
    for (const m of matches) {
      t.match(m, { pid: Number, address: /^0x[0-9a-f]+$/, context: /AWS_SECRET_ACCESS_KEY/, container: 'app' });
    }
    t.same(Object.keys(lines.at(-1) ?? {}), ['done'], 'the last line is the summary');
    t.same(lines.at(-1)?.done, { matches: matches.length, warnings: [] });
    t.equal(lines.filter((l) => l.done).length, 1);

    const pid = matches[0].pid as number;
    const one = await app.call('GET', `/v1/captures/${id}/memory?q=AWS_SECRET_ACCESS_KEY&pid=${pid}`, bearer);
    const only = one.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { match?: { pid: number } });
    t.ok(
      only.filter((l) => l.match).every((l) => l.match?.pid === pid),
      'pid= keeps to one process',
    );
    const none = await app.call('GET', `/v1/captures/${id}/memory?q=no-such-bytes-anywhere-${Date.now()}`, bearer);
    t.equal(none.status, 200);
    t.same(JSON.parse(none.text), { done: { matches: 0, warnings: [] } }, 'no match: the done line alone');
    const regex = await app.call('GET', `/v1/captures/${id}/memory?q=${encodeURIComponent('/AWS_[A-Z_]+KEY=/')}`, bearer);
    t.equal(regex.text.trimEnd().split('\n').length, matches.length + 1, 'a /regex/ finds the same');
  });

  await t.test('a bad regex is 422 SEARCH_BAD_PATTERN before any body is streamed', async (t) => {
    const res = await app.call('GET', `/v1/captures/${id}/memory?q=${encodeURIComponent('/[unclosed/')}`, bearer);
    t.equal(res.status, 422);
    t.match(res.headers['content-type'], /^application\/json/);
    t.equal(res.body.error.code, 'SEARCH_BAD_PATTERN');
    t.equal((await app.call('GET', `/v1/captures/${id}/memory?q=`, bearer)).status, 422, 'an empty pattern');
    t.equal((await app.call('GET', `/v1/captures/${id}/memory?q=x&pid=0`, bearer)).status, 422, 'pid 0');
  });

  await t.test('bundle.tar extracts into amber-<id>/<id>/… with jwks.json and README.txt, and verifies offline', async (t) => {
    const res = await app.call('GET', `/v1/captures/${id}/bundle.tar`, bearer);
    t.equal(res.status, 200);
    t.equal(res.headers['content-type'], 'application/x-tar');
    t.equal(res.headers['content-disposition'], `attachment; filename="amber-${id}.tar"`);
    const dir = await mkdtemp(join(tmpdir(), 'amber-tar-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'bundle.tar'), res.raw);
    await run('tar', ['-xf', 'bundle.tar'], { cwd: dir });
    const root = join(dir, `amber-${id}`);
    t.same((await readdir(root)).sort(), [id, 'README.txt', 'jwks.json'].sort());
    const stored = (await readdir(sealed.dirOf(capture))).sort();
    t.same((await readdir(join(root, id))).sort(), stored, 'every stored file of the bundle');
    t.same(JSON.parse(await readFile(join(root, 'jwks.json'), 'utf8')), sealed.jwks);
    t.match(await readFile(join(root, 'README.txt'), 'utf8'), /amber verify/);
    for (const name of stored) {
      t.same(await readFile(join(root, id, name)), await readFile(join(sealed.dirOf(capture), name)), `${name} byte for byte`);
    }
    const cli = await verifyCli([join(root, id), '--jwks', join(root, 'jwks.json')]);
    t.equal(cli.code, 0, cli.out);
    t.match(cli.out, /VALID: all \d+ checks passed/);
  });

  await t.test('a capture that is not Sealed: 409 EVIDENCE_UNAVAILABLE; an unknown id: 404', async (t) => {
    const pending: Capture = await sealed.pending();
    const unknown = '0000000000000000000000000z';
    const ref = { checkpoint: 0, pid: 1, field: 'env', index: 0 };
    for (const [method, path, json] of [
      ['GET', 'report'],
      ['POST', 'reveal', ref],
      ['GET', 'verification'],
      ['GET', 'memory?q=AWS'],
      ['GET', 'bundle.tar'],
    ] as [string, string, unknown?][]) {
      const res = await app.call(method, `/v1/captures/${pending.id}/${path}`, { ...bearer, ...(json ? { json } : {}) });
      t.equal(res.status, 409, `${path} of a Pending capture`);
      t.equal(res.body?.error?.code, 'EVIDENCE_UNAVAILABLE', path);
      t.match(res.body?.error?.message, /Pending/, path);
      const missing = await app.call(method, `/v1/captures/${unknown}/${path}`, { ...bearer, ...(json ? { json } : {}) });
      t.equal(missing.status, 404, `${path} of an unknown capture`);
      t.equal(missing.body?.error?.code, 'CAPTURE_NOT_FOUND', path);
    }
  });
});
