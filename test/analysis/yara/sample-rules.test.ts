/** The sample rules in yara/ compile, and find what they are about in the real archives (ground-truth.json says where it is). */
import t from 'tap';
import { readFileChunks } from '../../../src/analysis/archive/read-file-chunks.js';
import { inspectCheckpoint } from '../../../src/analysis/inspect-checkpoint.js';
import { loadYaraRules } from '../../../src/analysis/yara/load-yara-rules.js';
import { yaraXEngine } from '../../../src/analysis/yara/yara-x-engine.js';
import { REAL_ARCHIVES, REAL_DIR, readJsonExact, realPath, type Json } from '../../helpers/real-checkpoints.js';

const rules = await loadYaraRules(['yara'], yaraXEngine());

t.test('the sample rules find the miner and the reverse shells in the processes whose command lines hold them, and nothing else', async (t) => {
  t.ok(rules && rules.files.length >= 2);
  for (const a of REAL_ARCHIVES) {
    const truth = readJsonExact(`${REAL_DIR}${a.folder}/ground-truth.json`) as Json;
    const procs = truth['processes'] as Json[];
    const pidsWhere = (re: RegExp) => procs.filter((p) => (p['cmdline'] as string[]).some((arg) => re.test(arg))).map((p) => p['container_pid'] as number);
    const { yara } = await inspectCheckpoint(() => readFileChunks(realPath(a)), { ...(rules && { yara: rules }) });
    const pids = (rule: string) => [
      ...new Set((yara?.matches ?? []).filter((m) => m.rule === rule && m.where.in === 'memory').map((m) => (m.where as { pid: number }).pid)),
    ];
    const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
    t.same(sorted(pids('amber_stratum_pool_url')), sorted(pidsWhere(/stratum\+tcp:\/\//)), `${a.file}: the stratum URL`);
    t.same(sorted(pids('amber_reverse_shell_one_liner')), sorted(pidsWhere(/\bnc \S+ \d+ -e \/bin\/sh/)), `${a.file}: the nc -e one-liner`);
    t.same(
      (yara?.matches ?? []).filter((m) => m.where.in === 'file'),
      [],
      `${a.file}: no added file matches`,
    );
  }
});
