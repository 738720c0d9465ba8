/**
 * YARA through inspectCheckpoint: the simulated cluster's archives (the demo's miner), a rule set
 * that times out on a region (reported, not fatal), and the indicators the report makes of matches.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { readFileChunks } from '../../../src/analysis/archive/read-file-chunks.js';
import { inspectCheckpoint } from '../../../src/analysis/inspect-checkpoint.js';
import type { YaraFindings, YaraMatch } from '../../../src/analysis/yara/yara-findings.js';
import { severityOf, yaraIndicators } from '../../../src/analysis/yara/yara-indicators.js';
import type { YaraRules } from '../../../src/analysis/yara/yara-rules.js';
import { yaraXEngine } from '../../../src/analysis/yara/yara-x-engine.js';
import { writeCheckpointArchive } from '../../sim/checkpoint-archive.js';
import { MINER_POOL } from '../../sim/criu-dump.js';
import { DROPPED_EXECUTABLE } from '../../sim/runtime-metadata.js';
import { REAL_ARCHIVES, realPath } from '../../helpers/real-checkpoints.js';

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const MINER_RULES = `
rule stratum_pool : miner { meta: severity = "high" strings: $u = "stratum+tcp://${MINER_POOL.ip}:${MINER_POOL.port}" condition: $u }
rule elf_dropped : dropper { meta: severity = "medium" condition: uint32(0) == 0x464c457f and filesize < 1MB }
rule never : test { strings: $x = "amber-this-string-is-in-no-dump-5d1e" condition: $x }
`;

for (const layout of ['crio', 'containerd'] as const) {
  t.test(`the simulated cluster's ${layout} archive: the miner's pool URL in its argv, the dropped ELF, and nothing for a string it lacks`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'amber-yara-sim-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'checkpoint.tar');
    const written = await writeCheckpointArchive(
      file,
      {
        layout,
        namespace: 'shop',
        pod: 'web-1',
        podUid: 'uid-1',
        container: 'app',
        containerId: 'ab'.repeat(32),
        sandboxId: 'cd'.repeat(32),
        image: 'ghcr.io/acme/app:1.0',
        imageRef: `ghcr.io/acme/app@sha256:${'ef'.repeat(32)}`,
        imageId: '12'.repeat(32),
        podIP: '10.244.1.9',
        hostPid: 4242,
        createdAt: T0 - 60_000,
        startedAt: T0 - 59_000,
        checkpointedAt: T0,
        restartCount: 0,
        argv: ['/bin/sh'],
        env: ['A=b'],
        logLines: [],
      },
      256 * 1024,
    );
    const url = `stratum+tcp://${MINER_POOL.ip}:${MINER_POOL.port}`;
    const miners = written.processes.filter((p) => p.argv.includes(url)).map((p) => p.pid);
    t.ok(miners.length > 0, 'the simulator put a miner in the dump');
    const rules = yaraXEngine().compile([{ file: 'miner.yar', text: MINER_RULES }]);
    const { yara } = await inspectCheckpoint(() => readFileChunks(file), { yara: rules });
    const matches = yara?.matches ?? [];
    const inArgv = matches.filter((m) => m.rule === 'stratum_pool' && m.where.in === 'memory' && miners.includes(m.where.pid));
    t.ok(inArgv.length > 0, `the pool URL in the memory of pid ${miners.join(', ')}`);
    t.same(
      matches.filter((m) => m.rule === 'elf_dropped').map((m) => m.where),
      [{ in: 'file', path: `/${DROPPED_EXECUTABLE}`, offset: 0 }],
      'the dropped executable, and no memory window',
    );
    t.same(
      matches.filter((m) => m.rule === 'never'),
      [],
    );
    t.same(yara?.incomplete, []);
  });
}

/** Real rules, with a scanner that gives up on any buffer holding `marker` as an engine's own time-out would. */
function timingOut(rules: YaraRules, marker: string): YaraRules {
  return {
    files: rules.files,
    scanner: (o) => {
      const s = rules.scanner(o);
      return { scan: (d) => (Buffer.from(d).includes(marker) ? { hits: [], timedOut: true } : s.scan(d)), close: () => s.close() };
    },
  };
}

t.test('rules that time out on a region: the region is reported incomplete, the rest is scanned, the inspection stands', async (t) => {
  const ctrd = REAL_ARCHIVES.find((a) => a.folder === 'ctrd-app');
  if (!ctrd) throw new Error('no ctrd-app archive');
  const rules = yaraXEngine().compile([
    { file: 'x.yar', text: 'rule env { strings: $e = "DB_PASSWORD=" condition: $e }\nrule elf { condition: uint32(0) == 0x464c457f and filesize < 1KB }' },
  ]);
  // pid 1's stack holds argv (with the URL) and its environment; pid 16's stack only the environment
  const r = await inspectCheckpoint(() => readFileChunks(realPath(ctrd)), { yara: timingOut(rules, 'stratum+tcp://') });
  t.ok(r.inspection.processes.length > 0, 'the inspection is whole');
  // pid 1's small regions are scanned packed together (yara-memory-scan.ts): the scan that timed out covered them all
  const incomplete = r.yara?.incomplete ?? [];
  t.ok(
    incomplete.some((i) => /^pid 1 0x7ff/.test(i.where)),
    "pid 1's stack is incomplete",
  );
  t.ok(
    incomplete.every((i) => i.where.startsWith('pid 1 ') && /not scanned/.test(i.reason)),
    'only pid 1’s regions',
  );
  const envPids = (r.yara?.matches ?? []).filter((m) => m.rule === 'env').map((m) => (m.where as { pid: number }).pid);
  t.same(envPids, [16], 'pid 16 is still scanned; pid 1’s regions are the ones that timed out');
  t.match(
    (r.yara?.matches ?? []).filter((m) => m.rule === 'elf'),
    [{ where: { in: 'file', path: '/tmp/.x/kdevtmpfsi' } }],
  );
  const ids = yaraIndicators(r.yara as YaraFindings).map((i) => `${i.id} ${i.severity}`);
  t.same(ids.filter((i) => i.startsWith('yara-match')).length, 2);
  t.same([...new Set(ids.filter((i) => !i.startsWith('yara-match')))], ['yara-incomplete info']);
});

t.test('a match is an indicator whose severity is its rule’s severity meta (high, medium, info), medium otherwise', async (t) => {
  const m = (meta: YaraMatch['meta']): YaraMatch => ({
    rule: 'r',
    namespace: 'default',
    tags: ['t'],
    meta,
    pattern: '$a',
    where: { in: 'memory', pid: 7, address: '0x1000', mapping: { start: '0x1000', end: '0x2000', prot: 'r-x', kind: 'file', path: '/usr/bin/x' } },
    context: 'ctx',
  });
  t.same(
    ([{ severity: 'high' }, { severity: 'INFO' }, { severity: 'medium' }, { severity: 'critical' }, { severity: 3 }, {}] as YaraMatch['meta'][]).map((x) =>
      severityOf(m(x)),
    ),
    ['high', 'info', 'medium', 'medium', 'medium', 'medium'],
  );
  t.match(yaraIndicators({ ruleFiles: [], matches: [m({ severity: 'high' })], incomplete: [] }), [
    {
      id: 'yara-match',
      severity: 'high',
      pid: 7,
      path: '/usr/bin/x',
      summary: 'YARA rule r matches the memory of pid 7 at 0x1000 (/usr/bin/x)',
      evidence: { rule: 'r', tags: ['t'], meta: { severity: 'high' }, where: { in: 'memory', address: '0x1000' }, context: 'ctx' },
    },
  ]);
});
