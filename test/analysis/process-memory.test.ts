import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CriuProcess, PageRun } from '../../src/analysis/criu/criu-model.js';
import { ArgvEnvReader, layoutKey, locateAddress, mapRange, MAX_ARG_AREA, memoryLayouts, nulStrings } from '../../src/analysis/criu/process-memory.js';
import { readCriuDump } from '../../src/analysis/criu/read-criu-dump.js';
import { criuImage, encodeMm, encodePagemapEntry, encodePagemapHead, MAGIC, PE } from '../sim/criu-images.js';
import { feed, modelOf, PAGE, pagesBytes, simDump } from './sim-memory.js';

const SAMPLE = join(import.meta.dirname, '../fixtures/criu-samples/aarch64-loop2');

const run = (vaddr: number, nrPages: number, offset: number, extra: Partial<PageRun> = {}): PageRun => ({
  vaddr,
  nrPages,
  offset,
  inParent: false,
  lazy: false,
  inFile: true,
  ...extra,
});

function proc(pid: number, pagesId: number, runs: PageRun[], arg: [number, number], env: [number, number]): CriuProcess {
  return {
    pid,
    ppid: 0,
    pgid: 0,
    sid: 0,
    threads: [pid],
    fds: [],
    pagemap: { pagesId, runs },
    mm: { argStart: arg[0], argEnd: arg[1], envStart: env[0], envEnd: env[1], startCode: 0, endCode: 0, startBrk: 0, brk: 0, vmas: [] },
  };
}

t.test('reads argv and environment of every generated process from its pages file, streamed in 1 MiB chunks', async (t) => {
  const dump = simDump(3 * 1024 * 1024 + 4096);
  const reader = new ArgvEnvReader(modelOf(dump.processes));
  for (const pf of dump.pages) feed(reader, pf.name, await pagesBytes(pf), 1 << 20);
  const { byPid, warnings } = reader.result();
  t.same(warnings, []);
  for (const d of dump.processes) t.same(byPid.get(d.pid), { argv: d.argv, env: d.env }, `pid ${d.pid} (${d.comm})`);
  t.ok(dump.processes.find((d) => d.pid === 1)?.env.includes('APP_ENV=production'), "the container env is in pid 1's");
});

t.test('gives the same strings whatever the chunk sizes', async (t) => {
  const dump = simDump();
  const files = await Promise.all(dump.pages.map(async (pf) => [pf.name, await pagesBytes(pf)] as const));
  const read = (sizes: number | number[]) => {
    const r = new ArgvEnvReader(modelOf(dump.processes));
    for (const [name, data] of files) feed(r, name, data, sizes);
    return r.result();
  };
  const whole = read(1 << 30);
  for (const sizes of [1, 7, [4095, 1, 4097, 13], 4096]) t.same(read(sizes), whole, `chunks of ${JSON.stringify(sizes)}`);
});

t.test('reads a range that runs on from one run into the next, wherever the next is stored', async (t) => {
  // Two runs back to back in memory, stored in the opposite order in the file.
  const pages = Buffer.alloc(3 * PAGE, 0x41);
  const A = 0x10000,
    argStart = A + PAGE - 6;
  const bytes = Buffer.from('one\0two\0three\0');
  bytes.copy(pages, 2 * PAGE - 6, 0, 6); // first run (at file offset PAGE) ends with 'one\0tw'
  bytes.copy(pages, 0, 6); // second run (at file offset 0) starts with 'o\0three\0'
  const p = proc(3, 1, [run(A, 1, PAGE), run(A + PAGE, 1, 0)], [argStart, argStart + bytes.length], [argStart, argStart]);
  t.same(
    mapRange(
      p.pagemap!.runs.slice().sort((a, b) => a.vaddr - b.vaddr),
      argStart,
      argStart + bytes.length,
    ),
    [
      { vaddr: argStart, length: 6, fileOffset: 2 * PAGE - 6 },
      { vaddr: A + PAGE, length: 8, fileOffset: 0 },
    ],
  );
  const r = new ArgvEnvReader([p]);
  feed(r, 'pages-1.img', pages, 1000);
  t.same(r.result(), { byPid: new Map([[3, { argv: ['one', 'two', 'three'], env: [] }]]), warnings: [] });
});

t.test('stops at a hole: the whole strings before it, a warning with the addresses, no bytes from elsewhere', async (t) => {
  const pages = Buffer.alloc(2 * PAGE, 0x58);
  const A = 0x20000,
    envStart = A + PAGE - 9;
  Buffer.from('A=1\0B=22\0').copy(pages, PAGE - 9); // the env area runs past the run's end into a never-dumped page
  const p = proc(4, 2, [run(A, 1, 0), run(A + 2 * PAGE, 1, PAGE)], [envStart, envStart], [envStart, envStart + 30]);
  const r = new ArgvEnvReader([p]);
  feed(r, 'pages-2.img', pages, 64);
  const { byPid, warnings } = r.result();
  t.same(byPid.get(4)?.env, ['A=1', 'B=22']);
  t.equal(warnings.length, 1);
  t.match(warnings[0], { file: 'checkpoint/pages-2.img', message: /pid 4: environment bytes 0x21000\.\.0x21015 are never dumped .*partial/ });
});

t.test('pages kept in a parent dump or left for lazy restore are not read; lazy pages that are present are', async (t) => {
  const pages = Buffer.alloc(PAGE);
  Buffer.from('lazy-but-here\0').copy(pages, 0);
  const A = 0x40000;
  const procs = [
    proc(5, 3, [run(A, 1, 0, { lazy: true, inFile: true, flags: PE.LAZY | PE.PRESENT })], [A, A + 14], [A, A]),
    proc(6, 3, [run(A, 1, PAGE, { inParent: true, inFile: false, flags: PE.PARENT })], [A, A + 14], [A, A]),
    proc(7, 3, [run(A, 1, PAGE, { lazy: true, inFile: false, flags: PE.LAZY })], [A, A + 14], [A, A]),
  ];
  const r = new ArgvEnvReader(procs);
  feed(r, 'pages-3.img', pages, PAGE);
  const { byPid, warnings } = r.result();
  t.same(
    [5, 6, 7].map((pid) => byPid.get(pid)?.argv),
    [['lazy-but-here'], [], []],
  );
  t.match(
    warnings.map((w) => w.message),
    [/pid 6: argv .* in a parent dump/, /pid 7: argv .* left for lazy restore/],
  );
  t.same(locateAddress(procs[1]!, A + 5), { missing: 'parent' });
  t.same(locateAddress(procs[0]!, A + 5), { file: 'pages-3.img', offset: 5 });
  t.same(locateAddress(procs[0]!, A + PAGE), { missing: 'hole' });
});

t.test('a pages file that ends early or never comes: partial strings, a warning with the offset or the name', async (t) => {
  const dump = simDump();
  const model = modelOf(dump.processes);
  const r = new ArgvEnvReader(model);
  const pid7 = dump.processes.find((d) => d.pid === 7)!;
  const data = await pagesBytes(dump.pages.find((p) => p.name === pid7.pagesFile)!);
  const argOffset = pid7.pagemap.at(-1)!.offset + (pid7.argStart - pid7.pagemap.at(-1)!.vaddr);
  const cut = argOffset + pid7.argv[0]!.length + 1 + 1; // argv[0], its NUL and one byte of argv[1]
  feed(r, pid7.pagesFile, data.subarray(0, cut), 4096);
  const { byPid, warnings } = r.result();
  t.same(byPid.get(7)?.argv, [pid7.argv[0]], 'only the complete first argument');
  t.same(byPid.get(7)?.env, []);
  t.ok(warnings.some((w) => w.file === `checkpoint/${pid7.pagesFile}` && w.offset === cut && /ends at \d+ bytes/.test(w.message)));
  t.ok(
    warnings.some((w) => /pid 1: argv is in pages-1\.img, which is not in the archive/.test(w.message)),
    'a file that never came',
  );
});

t.test('two processes whose pagemaps name the same pages file are both read from one pass', async (t) => {
  const pages = Buffer.alloc(2 * PAGE);
  Buffer.from('first\0').copy(pages, 100);
  Buffer.from('second\0').copy(pages, PAGE + 200);
  const r = new ArgvEnvReader([
    proc(10, 9, [run(0x1000, 1, 0)], [0x1000 + 100, 0x1000 + 106], [0, 0]),
    proc(11, 9, [run(0x8000, 1, PAGE)], [0x8000 + 200, 0x8000 + 207], [0, 0]),
  ]);
  t.same(r.files(), ['pages-9.img']);
  feed(r, 'pages-9.img', pages, 333);
  t.same(
    [...r.result().byPid].map(([pid, s]) => [pid, s.argv]),
    [
      [10, ['first']],
      [11, ['second']],
    ],
  );
});

t.test('bounds that are not a range, or larger than any argv can be, are reported and not read whole', async (t) => {
  const r = new ArgvEnvReader([proc(12, 1, [run(0x1000, 1, 0)], [0x2000, 0x1000], [0x1000, 0x1000 + MAX_ARG_AREA + 1])]);
  const { warnings } = r.result();
  t.match(
    warnings.map((w) => [w.file, w.message]),
    [
      ['checkpoint/mm-12.img', /argv bounds 0x2000\.\.0x1000 are not a range/],
      ['checkpoint/mm-12.img', /environment spans \d+ bytes; only the first 4194304/],
      ['checkpoint/pages-1.img', /never dumped/],
    ],
  );
});

t.test('NUL-separated strings: padding of a rewritten argv is dropped, a cut-off last string only when incomplete', async (t) => {
  t.same(nulStrings(Buffer.from('nginx: worker process\0\0\0\0'), true), ['nginx: worker process']);
  t.same(nulStrings(Buffer.from('a\0\0b\0'), true), ['a', '', 'b'], 'an empty argument in the middle stays');
  t.same(nulStrings(Buffer.from('a\0unterminated'), true), ['a', 'unterminated']);
  t.same(nulStrings(Buffer.from('a\0unterminated'), false), ['a']);
});

t.test('layouts decoded from mm and pagemap images alone agree with the full reader, old and new pagemap forms', async (t) => {
  const dump = simDump();
  const images = new Map(dump.images.map((i) => [i.name, i.data]));
  // pid 9's pagemap in the old form (in_parent) and with a lazy-only run: the offsets must skip both.
  const d9 = dump.processes.find((d) => d.pid === 9)!;
  images.set(
    'pagemap-9.img',
    criuImage(MAGIC.PAGEMAP, [
      encodePagemapHead(3),
      encodePagemapEntry({ vaddr: d9.pagemap[0]!.vaddr, nrPages: 2, inParent: true }),
      encodePagemapEntry({ vaddr: d9.pagemap[0]!.vaddr + 2 * PAGE, nrPages: 1, flags: PE.LAZY }),
      encodePagemapEntry({ vaddr: d9.pagemap[0]!.vaddr + 3 * PAGE, nrPages: 5 }),
      encodePagemapEntry({ vaddr: d9.pagemap[0]!.vaddr + 9 * PAGE, nrPages: 1, flags: PE.LAZY | PE.PRESENT }),
    ]),
  );
  const early = memoryLayouts(images);
  const full = readCriuDump(images).processes;
  t.same(
    early.map((p) => p.pid),
    [1, 7, 9],
  );
  for (const f of ['pages-1.img', 'pages-2.img', 'pages-3.img']) t.equal(layoutKey(early, f), layoutKey(full, f), f);
  t.same(
    early.find((p) => p.pid === 9)?.pagemap?.runs.map((r) => [r.offset, r.inFile]),
    [
      [0, false],
      [0, false],
      [0, true],
      [5 * PAGE, true],
    ],
  );
  t.notOk(memoryLayouts(new Map([['mm-1.img', images.get('mm-1.img')!]])).length, 'no pagemap, no layout');
  images.set(
    'mm-7.img',
    criuImage(MAGIC.MM, [
      encodeMm({
        mmStartCode: 0,
        mmEndCode: 0,
        mmStartData: 0,
        mmEndData: 0,
        mmStartStack: 0,
        mmStartBrk: 0,
        mmBrk: 0,
        mmArgStart: 1,
        mmArgEnd: 2,
        mmEnvStart: 3,
        mmEnvEnd: 4,
        exeFileId: 3,
        mmSavedAuxv: [],
        vmas: [],
      }),
    ]),
  );
  t.not(layoutKey(memoryLayouts(images), 'pages-2.img'), layoutKey(full, 'pages-2.img'), 'other mm bounds, another key');
});

t.test("the real CRIU sample: layouts agree with the full reader and with crit's decode", async (t) => {
  const images = new Map(
    readdirSync(SAMPLE)
      .filter((f) => f.endsWith('.img') && !f.startsWith('pages-'))
      .map((f) => [f, readFileSync(join(SAMPLE, f))]),
  );
  const early = memoryLayouts(images);
  t.equal(layoutKey(early, 'pages-1.img'), layoutKey(readCriuDump(images).processes, 'pages-1.img'));
  const crit = JSON.parse(readFileSync(join(SAMPLE, 'pagemap-2956.txt'), 'utf8')) as { entries: { vaddr?: string; nr_pages?: number; flags?: string }[] };
  t.same(
    early[0]?.pagemap?.runs.map((r) => [r.vaddr, r.nrPages]),
    crit.entries.slice(1).map((e) => [Number(e.vaddr), e.nr_pages]),
  );
  const reader = new ArgvEnvReader(early);
  feed(reader, 'pages-1.img', readFileSync(join(SAMPLE, 'pages-1.img')), 65536);
  t.same(reader.result().byPid.get(2956)?.argv, ['./loop2']);
});
