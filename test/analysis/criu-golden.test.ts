/**
 * Our CRIU reader against a real dump written by CRIU itself, with CRIU's own `crit` JSON decode of
 * every image beside it (test/fixtures/criu-samples/aarch64-loop2, see its README). Every field we
 * decode must be the value crit printed.
 */
import t from 'tap';
import { crit, CRIU_SAMPLE_DIR, sampleImage, type CritEntry } from '../helpers/criu-samples.js';
import { readdirSync } from 'node:fs';
import { agree } from '../helpers/crit-compare.js';
import { decodeImage, readCriuDump, readStatsDump } from '../../src/analysis/criu/read-criu-dump.js';

const dir = CRIU_SAMPLE_DIR;

type J = CritEntry;
const img = sampleImage;

for (const [image, kind, minLeaves] of [
  ['inventory.img', 'inventory', 14],
  ['pstree.img', 'pstree', 5],
  ['core-2956.img', 'core', 60],
  ['mm-2956.img', 'mm', 250],
  ['pagemap-2956.img', 'pagemap', 55],
  ['files.img', 'files', 90],
  ['fdinfo-2.img', 'fdinfo', 12],
  ['fs-2956.img', 'fs', 3],
  ['ids-2956.img', 'ids', 11],
  ['stats-dump', 'stats', 14],
] as const) {
  t.test(`${image}: every field we decode is what crit decoded`, async (t) => {
    const d = decodeImage(image, img(image));
    t.equal(d.kind, kind);
    t.same(d.warnings, [], 'a real image decodes without warnings');
    // This dump's crit predates CRIU 4.2, which renamed pagemap field 2 from nr_pages to compat_nr_pages.
    const theirs = crit(`${image.replace(/\.img$/, '')}.txt`).map((e) =>
      kind === 'pagemap' && 'nr_pages' in e ? Object.fromEntries(Object.entries(e).map(([k, v]) => [k === 'nr_pages' ? 'compat_nr_pages' : k, v])) : e,
    );
    t.equal(d.records.length, theirs.length, 'one record per crit entry');
    const [bad, leaves] = agree(d.records, theirs, kind);
    t.same(bad, [], 'no field differs from crit');
    t.ok(leaves >= minLeaves, `${leaves} values compared`);
  });
}

t.test('fields the analysis relies on are decoded, not merely absent', async (t) => {
  const core = decodeImage('core-2956.img', img('core-2956.img')).records[0] as J;
  t.match(core, { mtype: 3, tc: { task_state: 1, comm: 'loop2' }, thread_core: { creds: { uid: 2000, euid: 2000, gid: 2000, egid: 2000 } } });
  t.ok(core.ti_aarch64?.gpregs?.pc, 'aarch64 thread info (core_entry field 8) is decoded');
  const mm = decodeImage('mm-2956.img', img('mm-2956.img')).records[0] as J;
  const [m] = crit('mm-2956.txt') as [J];
  t.equal(mm.vmas.length, m.vmas.length, 'every VMA');
  for (const k of ['mm_arg_start', 'mm_arg_end', 'mm_env_start', 'mm_env_end']) t.equal(BigInt(mm[k]), BigInt(m[k]), k);
  const pm = decodeImage('pagemap-2956.img', img('pagemap-2956.img')).records;
  t.ok(
    pm.slice(1).every((e) => typeof e.flags === 'number' && e.in_parent === undefined),
    'this CRIU writes the flags form',
  );
});

const images = new Map<string, Buffer>();
for (const name of readdirSync(dir)) if (name.endsWith('.img') && !name.startsWith('pages-')) images.set(name, img(name));

t.test('readCriuDump on the folder: one process loop2 with exe, cwd, creds and its terminal', async (t) => {
  const model = readCriuDump(images, { statsDump: img('stats-dump') });
  t.same(model.warnings, []);
  t.equal(model.imgVersion, 2);
  t.equal(model.processes.length, 1);
  const p = model.processes[0]!;
  t.match(p, {
    pid: 2956,
    ppid: 0,
    pgid: 2956,
    sid: 1945,
    threads: [2956],
    comm: 'loop2',
    state: 'alive',
    arch: 'aarch64',
    creds: { uid: 2000, gid: 2000, euid: 2000, egid: 2000 },
    exe: '/data/local/tmp/loop2',
    cwd: '/data/local/tmp',
    root: '/',
  });
  t.same(
    p.fds.map((f) => [f.fd, f.file.kind, f.file.path]),
    [
      [0, 'tty', '/dev/ttyAMA3'],
      [1, 'tty', '/dev/ttyAMA3'],
      [2, 'tty', '/dev/ttyAMA3'],
    ],
  );
  const d = (crit('stats-dump.txt')[0] as J).dump as J;
  t.same(model.stats, {
    freezingTimeUs: d.freezing_time,
    frozenTimeUs: d.frozen_time,
    memdumpTimeUs: d.memdump_time,
    memwriteTimeUs: d.memwrite_time,
    pagesScanned: d.pages_scanned,
    pagesSkippedParent: d.pages_skipped_parent,
    pagesWritten: d.pages_written,
    pagesLazy: d.pages_lazy,
  });
  t.same(readStatsDump(img('stats-dump')).stats, model.stats);
});

t.test('the pagemap offsets put argv at mm_arg_start in pages-1.img (PE_LAZY | PE_PRESENT pages are in the file)', async (t) => {
  const p = readCriuDump(images).processes[0]!;
  const pages = img('pages-1.img');
  const runs = p.pagemap!.runs;
  t.equal(p.pagemap!.pagesId, 1);
  t.ok(runs.some((r) => r.lazy) && runs.every((r) => r.inFile), 'lazy runs with PE_PRESENT count as stored');
  const last = runs[runs.length - 1]!;
  t.equal(last.offset + last.nrPages * 4096, pages.length, 'the runs cover pages-1.img exactly');
  const [m] = crit('mm-2956.txt') as [J];
  const read = (from: number, to: number) => {
    const r = runs.find((x) => from >= x.vaddr && to <= x.vaddr + x.nrPages * 4096);
    return r ? pages.toString('latin1', r.offset + from - r.vaddr, r.offset + to - r.vaddr) : undefined;
  };
  t.equal(read(Number(BigInt(m.mm_arg_start)), Number(BigInt(m.mm_arg_end))), './loop2\0');
  const env = read(Number(BigInt(m.mm_env_start)), Number(BigInt(m.mm_env_end)));
  t.match(env, /^[A-Z_]+=[^\0]*\0/, 'the environment block starts with NAME=value strings');
});
