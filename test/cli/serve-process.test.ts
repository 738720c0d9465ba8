import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { fixture } from '../helpers/fixtures.js';
import { spawnAmber } from '../helpers/run-amber.js';

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'amber-serve-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function alertFor(pod: string): unknown {
  const ev = fixture('falco/terminal-shell.json');
  ev.output_fields['k8s.pod.name'] = pod;
  delete ev.output_fields['k8s.pod.uid'];
  return ev;
}

t.test('every capture answered 202 survives a SIGKILL in the middle of a request storm', async (t) => {
  const dir = await tempDir(t);
  const args = ['serve', '--listen', '127.0.0.1:0', '--data-dir', dir, '--policies', 'policies', '--log-level', 'info'];
  const first = spawnAmber(args);
  const { url } = await first.waitForLog('amber is serving');
  const token = (await readFile(join(dir, 'auth-token'), 'utf8')).trim();
  t.equal((await stat(join(dir, 'auth-token'))).mode & 0o777, 0o600, 'generated token file is 0600');
  t.notMatch(first.stdout.join('\n'), new RegExp(token), 'the token is never logged');

  const acknowledged: string[] = [];
  let sent = 0;
  let stop = false;
  const worker = async (w: number) => {
    while (!stop) {
      const pod = `web-${w}-${sent++}`;
      try {
        const res = await fetch(`${url as string}/v1/alerts/falco`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify(alertFor(pod)),
        });
        const body = (await res.json()) as { captures: { id: string }[] };
        if (res.status === 202) acknowledged.push(...body.captures.map((c) => c.id));
      } catch {
        // connection cut by the kill: this request was never answered, so nothing was promised
      }
    }
  };
  const workers = Array.from({ length: 16 }, (_, i) => worker(i));
  while (acknowledged.length < 200) await new Promise((r) => setTimeout(r, 10));
  first.child.kill('SIGKILL');
  await first.exited();
  stop = true;
  await Promise.all(workers);
  t.ok(acknowledged.length >= 200, `${acknowledged.length} captures acknowledged before the kill`);

  const second = spawnAmber(args);
  t.teardown(() => second.child.kill('SIGKILL'));
  const restarted = await second.waitForLog('amber is serving');
  const res = await fetch(`${restarted['url'] as string}/v1/captures?limit=1000`, { headers: { authorization: `Bearer ${token}` } });
  const ids = new Set(((await res.json()) as { captures: { id: string }[] }).captures.map((c) => c.id));
  const missing = acknowledged.filter((id) => !ids.has(id));
  t.same(missing, [], 'no acknowledged capture is missing after the restart');
  second.child.kill('SIGTERM');
  t.equal(await second.exited(), 0);
});

t.test('SIGTERM finishes in-flight requests, closes the journal and exits 0', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'tokens'), '# ops team\nalpha-token\n\nbeta-token\n');
  const p = spawnAmber(['serve', '--listen', '127.0.0.1:0', '--data-dir', dir], { AMBER_AUTH_TOKENS_FILE: join(dir, 'tokens'), AMBER_POLICIES: 'policies' });
  const { url } = await p.waitForLog('amber is serving');
  const inflight = Array.from({ length: 50 }, (_, i) =>
    fetch(`${url as string}/v1/alerts/falco`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${i % 2 ? 'alpha-token' : 'beta-token'}` },
      body: JSON.stringify(alertFor(`pod-${i}`)),
    }).then(
      (r) => r.status,
      () => 0,
    ),
  );
  await new Promise((r) => setTimeout(r, 5));
  p.child.kill('SIGTERM');
  const statuses = await Promise.all(inflight);
  t.equal(await p.exited(), 0, p.stdout.slice(-8).join('\n'));
  await p.waitForLog('stopped cleanly');
  const answered = statuses.filter((s) => s === 202).length;
  const journal = (await readFile(join(dir, 'journal', 'captures.jsonl'), 'utf8')).trim().split('\n').filter(Boolean);
  t.ok(journal.length >= answered, `${journal.length} journal lines ≥ ${answered} answered 202`);
  t.ok(
    statuses.every((s) => s === 202 || s === 503 || s === 0),
    `statuses: ${[...new Set(statuses)].join(',')}`,
  );
  await t.rejects(stat(join(dir, 'journal', 'LOCK')), 'the lock is released');
});

t.test('refuses to start on an invalid policy set, naming file and path', async (t) => {
  const dir = await tempDir(t);
  await writeFile(
    join(dir, 'bad.yaml'),
    'apiVersion: forensics.amber.dev/v1alpha1\nkind: CapturePolicy\nmetadata: { name: bad }\nspec:\n  description: d\n  match: { sources: [falco], rules: ["/([/"] }\n',
  );
  const p = spawnAmber(['serve', '--listen', '127.0.0.1:0', '--data-dir', dir, '--policies', dir]);
  t.equal(await p.exited(), 2);
  t.match(p.stderr.join(''), /POLICY_BAD_REGEX/);
  t.match(p.stderr.join(''), /bad\.yaml/);
  t.match(p.stderr.join(''), /\/spec\/match\/rules\/0/);
});

t.test('refuses to start on a bad setting, naming it and its source', async (t) => {
  const dir = await tempDir(t);
  const p = spawnAmber(['serve', '--data-dir', dir, '--policies', 'policies'], { AMBER_LISTEN: 'not-an-address' });
  t.equal(await p.exited(), 2);
  t.match(p.stderr.join(''), /CONFIG_INVALID/);
  t.match(p.stderr.join(''), /setting=listen/);
  t.match(p.stderr.join(''), /AMBER_LISTEN/);
});

t.test('--insecure-no-auth starts with a warning and no token file', async (t) => {
  const dir = await tempDir(t);
  const p = spawnAmber(['serve', '--listen', '127.0.0.1:0', '--data-dir', dir, '--policies', 'policies', '--insecure-no-auth']);
  const warning = await p.waitForLog('authentication is OFF (--insecure-no-auth): anyone who reaches the port can queue captures');
  t.equal(warning['level'], 40);
  const { url } = await p.waitForLog('amber is serving');
  const res = await fetch(`${url as string}/v1/captures`);
  t.equal(res.status, 200);
  await t.rejects(stat(join(dir, 'auth-token')));
  p.child.kill('SIGTERM');
  t.equal(await p.exited(), 0);
});
