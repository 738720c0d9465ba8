/**
 * YARA rules over the archives real engines wrote (test/fixtures/real-checkpoints), with YARA-X.
 * What each rule must find is read from ground-truth.json (where each marker string lives, with
 * raw counts per archive member) and from crit's decode (which pid owns which pages file, where
 * argv is), never from our own reader.
 */
import t from 'tap';
import { readFileChunks } from '../../../src/analysis/archive/read-file-chunks.js';
import { inspectCheckpoint } from '../../../src/analysis/inspect-checkpoint.js';
import type { YaraMatch } from '../../../src/analysis/yara/yara-findings.js';
import { yaraIndicators } from '../../../src/analysis/yara/yara-indicators.js';
import { yaraXEngine } from '../../../src/analysis/yara/yara-x-engine.js';
import { REAL_ARCHIVES, REAL_DIR, realCrit, realPath, readJsonExact, type Json, type RealArchive } from '../../helpers/real-checkpoints.js';

const engine = yaraXEngine();
const truth = (a: RealArchive) => readJsonExact(`${REAL_DIR}${a.folder}/ground-truth.json`) as Json;
const occurrences = (a: RealArchive) => (truth(a)['marker_raw_occurrences_in_archive'] ?? {}) as Record<string, Record<string, number>>;
const hexOf = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => b.toString(16).padStart(2, '0')).join(' ');
const inspect = (a: RealArchive, text: string) =>
  inspectCheckpoint(() => readFileChunks(realPath(a)), { yara: engine.compile([{ file: `${a.folder}.yar`, text }]) }).then((r) => r.yara?.matches ?? []);

/** crit's pagemap head: the pid whose pages-N.img each N is. */
function pagesOwners(a: RealArchive): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of (truth(a)['processes'] as Json[]).map((x) => x['container_pid'] as number)) {
    const head = realCrit(a, `pagemap-${p}.img`).entries[0] as Json;
    out.set(`checkpoint/pages-${head['pages_id']}.img`, p);
  }
  return out;
}

const memoryPids = (ms: YaraMatch[], rule: string) =>
  [...new Set(ms.filter((m) => m.rule === rule && m.where.in === 'memory').map((m) => (m.where as { pid: number }).pid))].sort((x, y) => x - y);
const filePaths = (ms: YaraMatch[], rule: string) => ms.flatMap((m) => (m.rule === rule && m.where.in === 'file' ? [m.where.path] : [])).sort();

for (const a of REAL_ARCHIVES) {
  t.test(`${a.file}: a rule per ground-truth marker matches exactly the processes and added files that hold it`, async (t) => {
    const markers = Object.entries(occurrences(a));
    t.ok(markers.length > 0, 'the ground truth names markers');
    const rules = markers.map(([m], i) => `rule marker_${i} { strings: $m = { ${hexOf(m)} } condition: $m }`).join('\n');
    const found = await inspect(a, rules);
    const owners = pagesOwners(a);
    markers.forEach(([marker, where], i) => {
      const pids = Object.keys(where)
        .flatMap((member) => (owners.has(member) ? [owners.get(member) as number] : []))
        .sort((x, y) => x - y);
      const files = Object.keys(where)
        .flatMap((member) => (member.startsWith('rootfs-diff.tar!') ? [`/${member.slice('rootfs-diff.tar!'.length)}`] : []))
        .sort();
      t.same(memoryPids(found, `marker_${i}`), pids, `${JSON.stringify(marker)}: in the memory of pid(s) ${pids.join(', ') || 'none'}`);
      t.same(filePaths(found, `marker_${i}`), files, `${JSON.stringify(marker)}: in the added file(s) ${files.join(', ') || 'none'}`);
    });
  });
}

t.test('a marker of another container matches nothing', async (t) => {
  let checked = 0;
  for (const a of REAL_ARCHIVES) {
    const own = Object.keys(occurrences(a));
    const foreign = [...new Set(REAL_ARCHIVES.flatMap((b) => Object.keys(occurrences(b))))].filter((m) => !own.some((o) => o.includes(m) || m.includes(o)));
    if (foreign.length === 0) continue;
    const found = await inspect(a, foreign.map((m, i) => `rule foreign_${i} { strings: $m = { ${hexOf(m)} } condition: $m }`).join('\n'));
    t.same(found, [], `${a.file}: none of ${foreign.length} foreign markers`);
    checked++;
  }
  t.ok(checked >= 3, 'several archives have foreign markers to check');
});

const ctrd = REAL_ARCHIVES.find((a) => a.folder === 'ctrd-app') as RealArchive;

t.test('the miner: its stratum URL is found in pid 1’s argv, on its stack, and is a high indicator', async (t) => {
  const url = (truth(ctrd)['spec_args'] as string[]).find((s) => s.startsWith('stratum+')) as string;
  t.ok(url, 'the ground truth has the pool URL');
  const found = await inspect(ctrd, `rule miner : mining { meta: severity = "high" strings: $u = "${url}" condition: $u }`);
  t.equal(found.length, 1);
  const m = found[0] as YaraMatch;
  const mm = realCrit(ctrd, 'mm-1.img').entries[0] as Json;
  t.match(m, {
    rule: 'miner',
    tags: ['mining'],
    meta: { severity: 'high' },
    where: { in: 'memory', pid: 1, mapping: { kind: 'anonymous', name: '[stack]', prot: 'rw-' } },
  });
  const address = Number((m.where as { address: string }).address);
  t.ok(address >= Number(mm['mm_arg_start']) && address < Number(mm['mm_arg_end']), 'inside argv (crit mm_arg_start..mm_arg_end)');
  t.match(m.context, url);
  t.match(yaraIndicators({ ruleFiles: [], matches: found, incomplete: [] }), [{ id: 'yara-match', severity: 'high', pid: 1 }]);
});

for (const a of REAL_ARCHIVES.filter((x) => x.folder.includes('revshell'))) {
  t.test(`${a.file}: the reverse shell's nc -e command is found in the memory of the process that ran it`, async (t) => {
    const procs = truth(a)['processes'] as Json[];
    const pids = procs.filter((p) => (p['cmdline'] as string[]).some((arg) => /\bnc \S+ \d+ -e \S+/.test(arg))).map((p) => p['container_pid'] as number);
    t.ok(pids.length > 0, 'the ground truth has the nc -e command line');
    const found = await inspect(a, 'rule revshell { strings: $nc = /nc [0-9.]+ [0-9]+ -e \\/bin\\/(ba)?sh/ condition: $nc }');
    t.same(memoryPids(found, 'revshell'), pids);
  });
}

t.test('the dropper: an added file that starts with an ELF header, by a whole-file condition that memory windows do not fake', async (t) => {
  const rule = 'rule dropper : dropper { meta: severity = "high" condition: uint32(0) == 0x464c457f and filesize < 1KB }';
  for (const a of REAL_ARCHIVES) {
    const elves = ((truth(a)['files_added'] ?? []) as string[]).filter((f) => f.includes('\\x7fELF')).map((f) => f.split(' ')[0] as string);
    const found = await inspect(a, rule);
    t.same(filePaths(found, 'dropper'), elves.sort(), `${a.file}: ${elves.join(', ') || 'no ELF added'}`);
    t.same(memoryPids(found, 'dropper'), [], `${a.file}: no memory window is a file under 1 KB`);
  }
});
