/**
 * Indicator lists from the command line: `amber inspect --list KIND:FILE` on a real archive, the
 * --config file's analysis.lists, and `amber policy validate` and `amber serve` refusing a config
 * whose list is broken.
 */
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/run-cli.js';
import { startServe } from '../../src/cli/roles/serve-command.js';
import { isAmberError } from '../../src/core/amber-error.js';
import { groundTruth, REAL_ARCHIVES, realPath, type Json, type RealArchive } from '../helpers/real-checkpoints.js';

const dir = await mkdtemp(join(tmpdir(), 'amber-inspect-lists-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

async function cli(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (s) => out.push(s), err: (s) => err.push(s), env: {} });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const ctrd = REAL_ARCHIVES.find((a) => a.folder === 'ctrd-app') as RealArchive;
/** the host in the stratum URL of pid 1's argv, as ground truth has it */
const pool = /stratum\+tcp:\/\/([^:/]+)/.exec(((groundTruth(ctrd)['processes'] as Json[])[0]?.['cmdline'] as string[]).join(' '))?.[1] as string;

t.test('inspect --list domain:FILE --json adds a listed-domain indicator naming the file and the entry', async (t) => {
  const file = join(dir, 'pools.txt');
  await writeFile(file, `# pools\n${pool}\n`);
  const r = await cli('inspect', realPath(ctrd), '--list', `domain:${file}`, '--json');
  t.equal(r.code, 0, r.err);
  const o = JSON.parse(r.out) as { indicators: { id: string; pid?: number; evidence?: Json }[] };
  t.match(
    o.indicators.filter((i) => i.id === 'listed-domain'),
    [{ pid: 1, evidence: { list: 'pools.txt', entry: pool, domain: pool } }],
  );
  t.ok(
    o.indicators.some((i) => i.id === 'mining-cmdline'),
    "amber's own indicators stay",
  );

  const text = await cli('inspect', realPath(ctrd), '--list', `domain:${file}`);
  t.match(text.out, new RegExp(`${pool.replace('.', '\\.')} in its memory .*listed in pools\\.txt`));
});

t.test('a bad --list is a usage error naming the file and line; the config file lists are matched too', async (t) => {
  const bad = join(dir, 'bad.txt');
  await writeFile(bad, '203.0.113.7\n203.0.113.7/8\n');
  const r = await cli('inspect', realPath(ctrd), '--list', `address:${bad}`);
  t.equal(r.code, 2);
  t.match(r.err, new RegExp(`INDICATOR_LIST_INVALID.*file=${bad.replace(/[.]/g, '\\.')} line=2`));
  t.equal((await cli('inspect', realPath(ctrd), '--list', `ip:${bad}`)).code, 2, 'an unknown kind');

  const hashes = join(dir, 'hashes.txt');
  await writeFile(hashes, `${'0'.repeat(64)}\n`);
  const config = join(dir, 'amber.yaml');
  await writeFile(config, `analysis:\n  lists:\n    - { name: pools, kind: domain, path: ${join(dir, 'pools.txt')}, severity: medium }\n`);
  const both = await cli('inspect', realPath(ctrd), '--list', `sha256:${hashes}`, '--config', config, '--json');
  t.equal(both.code, 0, both.err);
  t.match(
    (JSON.parse(both.out) as { indicators: Json[] }).indicators.filter((i) => i['id'] === 'listed-domain'),
    [{ severity: 'medium', evidence: { list: 'pools' } }],
  );
});

t.test('policy validate checks the lists of --config as a role does at start-up', async (t) => {
  const bad = join(dir, 'bad-domains.txt');
  await writeFile(bad, 'pool.example\n*.evil.example\n');
  const config = join(dir, 'bad.yaml');
  await writeFile(config, `analysis:\n  lists:\n    - { name: pools, kind: domain, path: ${bad} }\n`);
  const r = await cli('policy', 'validate', '--policies', 'policies', '--config', config);
  t.equal(r.code, 1);
  t.match(r.err, /INDICATOR_LIST_INVALID.*line=2/);
  const unknown = join(dir, 'unknown.yaml');
  await writeFile(unknown, `analysis:\n  lists:\n    - { name: pools, kind: ip, path: ${bad} }\n`);
  t.equal((await cli('policy', 'validate', '--policies', 'policies', '--config', unknown)).code, 1, 'an unknown kind is refused by the schema');
  t.equal((await cli('policy', 'validate', '--policies', 'policies')).code, 0);
});

t.test('amber serve refuses to start on a broken list, naming the file and line', async (t) => {
  const bad = join(dir, 'serve-bad.txt');
  await writeFile(bad, `${'ab'.repeat(32)}\nnot-a-hash\n`);
  const config = join(dir, 'serve.yaml');
  await writeFile(config, `analysis:\n  lists:\n    - { name: hashes, kind: sha256, path: ${bad} }\n`);
  const data = join(dir, 'serve');
  const e = await startServe(
    ['--config', config, '--listen', '127.0.0.1:0', '--log-level', 'fatal', '--data-dir', data, '--store', `file://${join(data, 'evidence')}`],
    { out: () => undefined, err: () => undefined, env: {} },
  ).then(
    (s) => {
      void s?.stop();
      return undefined;
    },
    (err: unknown) => err,
  );
  t.ok(isAmberError(e, 'INDICATOR_LIST_INVALID'), 'INDICATOR_LIST_INVALID');
  t.match(isAmberError(e) ? e.details : {}, { list: 'hashes', file: bad, line: 2 });
});
