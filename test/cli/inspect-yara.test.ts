import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../../src/cli/run-cli.js';
import { REAL_ARCHIVES, REAL_DIR, readJsonExact, realPath, type RealArchive } from '../helpers/real-checkpoints.js';
import { spawnAmber } from '../helpers/run-amber.js';

const dir = await mkdtemp(join(tmpdir(), 'amber-yara-cli-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const rules = join(dir, 'rules');
await mkdir(rules);
await writeFile(
  join(rules, 'miner.yar'),
  'rule stratum_url : miner {\n  meta:\n    severity = "high"\n  strings:\n    $u = "stratum+tcp://"\n  condition:\n    $u\n}\n',
);
const bad = join(dir, 'bad.yar');
await writeFile(bad, 'rule bad {\n  strings:\n    $a = "x"\n  condition:\n    $b\n}\n');
const badConfig = join(dir, 'bad-config.yaml');
await writeFile(badConfig, `analysis:\n  yara: [${JSON.stringify(bad)}]\n`);
const ctrd = realPath(REAL_ARCHIVES.find((a) => a.folder === 'ctrd-app') as RealArchive);

async function cli(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (s) => out.push(s), err: (s) => err.push(s), env: {} });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

t.test('inspect --yara DIR --json: the matches with pid, address and mapping, and as indicators', async (t) => {
  const r = await cli('inspect', '--yara', rules, '--json', ctrd);
  t.equal(r.code, 0, r.err);
  const o = JSON.parse(r.out) as { yara: { ruleFiles: string[]; matches: unknown[]; incomplete: unknown[] }; indicators: { id: string; severity: string }[] };
  t.same(o.yara.ruleFiles, [join(rules, 'miner.yar')]);
  t.match(o.yara.matches, [
    {
      rule: 'stratum_url',
      tags: ['miner'],
      where: { in: 'memory', pid: 1, address: /^0x7ff/, mapping: { name: '[stack]' } },
      context: /stratum\+tcp:\/\/pool/,
    },
  ]);
  t.match(
    o.indicators.filter((i) => i.id === 'yara-match'),
    [{ severity: 'high', pid: 1 }],
  );
});

t.test('inspect --search with --yara --json: the search matches and the YARA findings', async (t) => {
  const r = await cli('inspect', '--search', 'DB_PASSWORD=', '--yara', rules, '--json', ctrd);
  t.equal(r.code, 0, r.err);
  const o = JSON.parse(r.out) as { matches: { pid: number }[]; yara: { matches: { rule: string }[] } };
  const truth = readJsonExact(`${REAL_DIR}ctrd-app/ground-truth.json`) as { processes: { container_pid: number; env: string[] }[] };
  const withEnv = truth.processes.filter((p) => p.env.some((e) => e.startsWith('DB_PASSWORD='))).map((p) => p.container_pid);
  t.same(
    o.matches.map((m) => m.pid).sort((a, b) => a - b),
    withEnv.sort((a, b) => a - b),
    'the processes the ground truth gives DB_PASSWORD',
  );
  t.match(o.yara.matches, [{ rule: 'stratum_url' }]);
});

t.test('inspect --yara: the human report lists each match with where it is', async (t) => {
  const r = await cli('inspect', '--yara', join(rules, 'miner.yar'), ctrd);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /\[high\] yara-match: YARA rule stratum_url matches the memory of pid 1 at 0x7ff[0-9a-f]+ \(\[stack\]\)/);
  t.match(r.out, /yara \(1 match; rules .*miner\.yar\)\n {2}stratum_url \[miner\] {2}pid 1 0x7ff[0-9a-f]+ \[stack\] {2}.*stratum\+tcp:\/\/pool\.example:3333/);
});

t.test('inspect --yara with a rule that does not compile: a usage error naming the file and line, nothing read', async (t) => {
  const r = await cli('inspect', '--yara', bad, ctrd);
  t.equal(r.code, 2);
  t.match(r.err, `${bad}:5:5`);
  t.notMatch(r.out, 'processes');
});

t.test('policy validate compiles analysis.yara as a role does at start-up', async (t) => {
  const r = await cli('policy', 'validate', '--policies', 'policies', '--config', badConfig);
  t.equal(r.code, 1);
  t.match(r.err, /YARA_RULES_INVALID/);
  t.match(r.err, `${bad}:5:5`);
});

t.test('serve refuses to start on a rule that does not compile, naming the file and line', async (t) => {
  const p = spawnAmber([
    'serve',
    '--config',
    badConfig,
    '--listen',
    '127.0.0.1:0',
    '--data-dir',
    join(dir, 'data'),
    '--store',
    `file://${join(dir, 'evidence')}`,
  ]);
  const code = await p.exited();
  t.not(code, 0);
  const said = [...p.stdout, ...p.stderr].join('');
  t.match(said, 'YARA_RULES_INVALID');
  t.match(said, `${bad}:5:5`);
  t.notMatch(said, 'amber is serving');
});
