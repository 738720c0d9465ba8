import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../../src/cli/run-cli.js';
import type { Io } from '../../src/cli/cli-support.js';

function capture(env: Record<string, string> = {}): Io & { stdout: () => string; stderr: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return { out: (s) => out.push(s), err: (s) => err.push(s), env, stdout: () => out.join('\n'), stderr: () => err.join('\n') };
}

const FIX = 'test/fixtures';

t.test('policy validate passes the shipped set and fails a bad one with exit 1', async (t) => {
  const io = capture();
  t.equal(await runCli(['policy', 'validate', '--policies', 'policies'], io), 0);
  t.match(io.stdout(), /ok {2}interactive-shell/);
  const dir = await mkdtemp(join(tmpdir(), 'amber-pol-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    join(dir, 'p.yaml'),
    'apiVersion: forensics.amber.dev/v1alpha1\nkind: CapturePolicy\nmetadata: {name: x}\nspec: {description: d, match: {sources: [falco]}, capture: {cooldown: soon}}\n',
  );
  const bad = capture();
  t.equal(await runCli(['policy', 'validate', '--policies', dir], bad), 1);
  t.match(bad.stderr(), /POLICY_BAD_DURATION.*\/spec\/capture\/cooldown/);
});

t.test('policy test --json lists signals, matches and ignored events per file', async (t) => {
  const io = capture();
  const code = await runCli(
    ['policy', 'test', '--json', `${FIX}/falco/terminal-shell.json`, `${FIX}/falco/internal.json`, `${FIX}/alertmanager/firing.json`],
    io,
  );
  t.equal(code, 0);
  const { results } = JSON.parse(io.stdout());
  t.equal(results.length, 3);
  t.equal(results[0].file, `${FIX}/falco/terminal-shell.json`);
  t.equal(results[0].signals[0].rule, 'Terminal shell in container');
  t.match(results[0].matches[0], { policy: 'interactive-shell', target: { namespace: 'shop', container: 'checkout' }, cooldown: '1800s' });
  t.same(results[0].ignored, undefined);
  t.same(results[1].matches, []);
  t.match(results[1].ignored[0], /Falco internal/);
  t.equal(results[2].signals.length, 2);
  t.equal(results[2].matches.length, 2);
  t.match(results[2].ignored, ['alert is resolved']);
});

t.test('policy test reads Falco JSON-lines files and prints a readable summary', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-pol-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { readFile } = await import('node:fs/promises');
  const a = JSON.stringify(JSON.parse(await readFile(`${FIX}/falco/terminal-shell.json`, 'utf8')));
  const b = JSON.stringify(JSON.parse(await readFile(`${FIX}/falco/reverse-shell.json`, 'utf8')));
  await writeFile(join(dir, 'events.jsonl'), `${a}\n${b}\n`);
  const io = capture();
  t.equal(await runCli(['policy', 'test', join(dir, 'events.jsonl')], io), 0);
  t.match(io.stdout(), /signal {3}falco "Terminal shell in container" Notice {2}shop\/checkout-7d9f8b6c5-x2x9q\/checkout/);
  t.match(io.stdout(), /match {4}interactive-shell → capture shop\/checkout-7d9f8b6c5-x2x9q\/checkout/);
  t.match(io.stdout(), /match {4}reverse-shell/);
});

t.test('policy test exits 1 naming the file that is not a valid alert, and still reports the others', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-pol-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'junk.json'), '{"hello": "world"}');
  await writeFile(join(dir, 'broken.json'), '{"rule": ');
  await writeFile(
    join(dir, 'badname.json'),
    JSON.stringify({
      rule: 'r',
      priority: 'Notice',
      time: '2026-11-28T10:00:00Z',
      output_fields: { 'container.id': '3f9c2a7b1d04', 'k8s.ns.name': 'shop', 'k8s.pod.name': '../x' },
    }),
  );
  const io = capture();
  const code = await runCli(
    ['policy', 'test', '--json', join(dir, 'junk.json'), join(dir, 'broken.json'), join(dir, 'badname.json'), `${FIX}/falco/terminal-shell.json`],
    io,
  );
  t.equal(code, 1);
  const { results } = JSON.parse(io.stdout());
  t.match(results[0].error, /INTAKE_INVALID_PAYLOAD/);
  t.match(results[1].error, /not JSON/);
  t.match(results[2].error, /INTAKE_BAD_NAME.*k8s\.pod\.name/);
  t.equal(results[3].matches.length, 1);
});

t.test('usage errors exit 2 and --help works everywhere', async (t) => {
  for (const args of [['--help'], ['serve', '--help'], ['policy', '--help'], ['policy', 'test', '--help']]) {
    const io = capture();
    t.equal(await runCli(args, io), 0, args.join(' '));
    t.match(io.stdout(), /Usage/);
  }
  const io = capture();
  t.equal(await runCli(['policy', 'test'], io), 2);
  t.match(io.stderr(), /needs at least one FILE/);
  t.equal(await runCli(['serve', '--bogus'], capture()), 2);
  t.equal(await runCli(['nonsense'], capture()), 2);
  t.equal(await runCli(['policy', 'frobnicate'], capture()), 2);
  const v = capture();
  t.equal(await runCli(['--version'], v), 0);
  t.match(v.stdout(), /^\d+\.\d+\.\d+$/);
});
