import t from 'tap';
import fc from 'fast-check';
import { deepStrictEqual } from 'node:assert/strict';
import type { CriuProcess } from '../../src/analysis/criu/criu-model.js';
import { MAX_REGEX_MATCH, MemorySearch, parseMemoryPattern, printable, type MemoryPattern } from '../../src/analysis/memory-search.js';
import { MINER_POOL } from '../sim/criu-dump.js';
import { feed, modelOf, offsetsOf, PAGE, pagesBytes, simDump, vaddrAt } from './sim-memory.js';

const hex = (n: number) => `0x${n.toString(16)}`;
const ctx = (data: Buffer, start: number, end: number, n: number) => printable(data.subarray(Math.max(0, start - n), Math.min(data.length, end + n)));

function single(pid: number, size: number, runs = [{ vaddr: 0x100000, nrPages: Math.ceil(size / PAGE), offset: 0 }]): CriuProcess {
  return {
    pid,
    ppid: 0,
    pgid: 0,
    sid: 0,
    threads: [pid],
    fds: [],
    pagemap: { pagesId: 1, runs: runs.map((r) => ({ ...r, inParent: false, lazy: false, inFile: true })) },
  };
}

function search(procs: CriuProcess[], pattern: MemoryPattern, files: [string, Buffer][], chunk: number | number[], opts = {}) {
  const s = new MemorySearch(procs, pattern, opts);
  for (const [name, data] of files) feed(s, name, data, chunk);
  return s.result();
}

t.test('a /regex/flags is a RegExp (global, never sticky); anything else, including an unclosed slash, is a literal', async (t) => {
  const r = parseMemoryPattern('/kube-PROBE\\/\\d/iy');
  t.equal(r.kind, 'regex');
  if (r.kind === 'regex') t.same([r.re.source, r.re.flags], ['kube-PROBE\\/\\d', 'gi']);
  t.same(parseMemoryPattern('/tmp/.x'), { kind: 'literal', text: '/tmp/.x', bytes: Buffer.from('/tmp/.x') }, 'a path with no flags after its last slash');
  t.same(parseMemoryPattern('/tmp/x/'), { kind: 'regex', text: '/tmp/x/', re: /tmp\/x/g }, 'a path ending in a slash reads as a regex: the documented rule');
  t.same(parseMemoryPattern('héllo'), { kind: 'literal', text: 'héllo', bytes: Buffer.from('héllo', 'utf8') });
  t.throws(() => parseMemoryPattern('/(unclosed/'), { code: 'SEARCH_BAD_PATTERN', details: { pattern: '/(unclosed/' } });
  t.throws(() => parseMemoryPattern(''), { code: 'SEARCH_BAD_PATTERN' });
});

t.test("finds the generator's strings in every process at the addresses its pagemaps give", async (t) => {
  const dump = simDump(2 * 1024 * 1024);
  const files = await Promise.all(dump.pages.map(async (pf) => [pf.name, await pagesBytes(pf)] as [string, Buffer]));
  const model = modelOf(dump.processes);
  const expected = (needle: Buffer | RegExp, n = 32) =>
    files.flatMap(([name, data]) => {
      const d = dump.processes.find((p) => p.pagesFile === name)!;
      return offsetsOf(data, needle).map((m) => ({ pid: d.pid, address: hex(vaddrAt(d, m.start)), context: ctx(data, m.start, m.end, n) }));
    });

  const login = search(model, parseMemoryPattern('"method":"login"'), files, 1 << 20);
  t.same(login.matches, expected(Buffer.from('"method":"login"')));
  t.equal(login.matches.length, 1);
  t.equal(login.matches[0]?.pid, 7, "the miner's login request, in its heap");

  const hosts = search(model, parseMemoryPattern('HOSTNAME=web'), files, 65536, { contextBytes: 8 });
  t.same(hosts.matches, expected(Buffer.from('HOSTNAME=web'), 8));
  t.same(
    hosts.matches.map((m) => m.pid),
    [1, 7, 9],
    'in each environment',
  );

  const pool = /stratum\+tcp:\/\/[0-9.]+:\d+/;
  const re = search(model, parseMemoryPattern(`/${pool.source}/`), files, 1 << 20);
  t.same(re.matches, expected(pool));
  t.match(re.matches[0]?.context, `stratum+tcp://${MINER_POOL.ip}:${MINER_POOL.port}`);

  const probe = search(model, parseMemoryPattern('/KUBE-probe\\/[0-9.]+/i'), files, 1 << 20);
  t.same(probe.matches, expected(/KUBE-probe\/[0-9.]+/i));
  t.equal(probe.matches[0]?.pid, 1, "case-insensitive: pid 1's health-check request");
  t.same([login.warnings, hosts.warnings, re.warnings, probe.warnings], [[], [], [], []]);
});

t.test('finds a match across chunk boundaries exactly once, whatever the chunk and window sizes', async (t) => {
  const needle = Buffer.from('Xneedle!');
  let boundaryCases = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 3000 }),
      fc.integer(),
      fc.array(fc.nat({ max: 3000 }), { maxLength: 8, size: 'max' }),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 5, size: 'max' }),
      fc.integer({ min: 1, max: 400 }),
      fc.integer({ min: 0, max: 40 }),
      fc.boolean(),
      async (length, seed, at, chunks, windowBytes, contextBytes, regex) => {
        const data = Buffer.alloc(length);
        for (let i = 0, x = seed | 1; i < length; i++) {
          x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) | 1;
          data[i] = x >>> 24;
        }
        for (const a of at) if (length >= needle.length) needle.copy(data, a % (length - needle.length + 1));
        const p = single(2, data.length);
        const pattern = parseMemoryPattern(regex ? '/Xne+dle!/' : needle.toString());
        const got = search([p], pattern, [['pages-1.img', data]], chunks, { windowBytes, contextBytes });
        const want = offsetsOf(data, regex ? /Xne+dle!/ : needle).map((m) => ({
          pid: 2,
          address: hex(0x100000 + m.start),
          context: ctx(data, m.start, m.end, contextBytes),
        }));
        deepStrictEqual(got.matches, want);
        if (want.length > 0 && length > windowBytes + needle.length) boundaryCases++;
      },
    ),
    { numRuns: 400 },
  );
  t.ok(boundaryCases > 100, `${boundaryCases} cases with matches in files longer than the window`);
});

t.test('a regex match that runs over a window boundary is not found again from its middle', async (t) => {
  // Longer than a regex window's overlap (MAX_REGEX_MATCH), so that the windows really move.
  const data = Buffer.alloc(3 * MAX_REGEX_MATCH, 0x2e);
  for (const [at, n] of [
    [5, 30],
    [60, 3],
    [100, 90],
    [250, 1],
    [5000, 200],
    [9000, 2000],
  ] as const)
    data.fill(0x41, at, at + n);
  const want = offsetsOf(data, /A+/).map((m) => hex(0x100000 + m.start));
  t.equal(want.length, 6);
  // Chunks smaller and larger than the window, and than the overlap the window carries.
  for (const [windowBytes, chunks] of [
    [7, 50],
    [16, 50],
    [64, 9000],
    [16, [8300, 5000]],
  ] as const) {
    const got = search([single(2, data.length)], parseMemoryPattern('/A+/'), [['pages-1.img', data]], [...[chunks].flat()], { windowBytes, contextBytes: 4 });
    t.same(
      got.matches.map((m) => [m.address, m.context]),
      offsetsOf(data, /A+/).map((m) => [hex(0x100000 + m.start), ctx(data, m.start, m.end, 4)]),
      `window of ${windowBytes}, chunks of ${String(chunks)}`,
    );
    t.same(
      got.matches.map((m) => m.address),
      want,
    );
  }
});

t.test('matches placed across the 1 MiB chunk and window boundaries of a 3 MiB file are each found once', async (t) => {
  const size = 3 << 20;
  const data = Buffer.alloc(size, 0x2e);
  const needle = Buffer.from('CROSSING-THE-BOUNDARY');
  const places = [(1 << 20) - 10, (2 << 20) - 1, (1 << 20) + 32 - 5, (2 << 20) + 64 + needle.length, size - needle.length];
  for (const p of places) needle.copy(data, p);
  const p = single(1, size);
  for (const chunk of [1 << 20, 65536, 1_000_003]) {
    const { matches } = search([p], parseMemoryPattern(needle.toString()), [['pages-1.img', data]], chunk);
    t.same(
      matches.map((m) => m.address),
      [...places].sort((a, b) => a - b).map((o) => hex(0x100000 + o)),
      `chunks of ${chunk}`,
    );
  }
});

t.test('a match over two runs that are not next to each other in memory is reported at its start', async (t) => {
  const data = Buffer.alloc(2 * PAGE, 0);
  Buffer.from('SPLIT').copy(data, PAGE - 2);
  const p = single(3, 2 * PAGE, [
    { vaddr: 0x5000, nrPages: 1, offset: 0 },
    { vaddr: 0x9000, nrPages: 1, offset: PAGE },
  ]);
  const { matches } = search([p], parseMemoryPattern('SPLIT'), [['pages-1.img', data]], 100, { contextBytes: 3 });
  t.same(matches, [{ pid: 3, address: hex(0x5000 + PAGE - 2), context: '...SPLIT...' }]);
});

t.test('stops after maxMatches with a warning, and searches only the chosen process with --pid', async (t) => {
  const dump = simDump();
  const files = await Promise.all(dump.pages.map(async (pf) => [pf.name, await pagesBytes(pf)] as [string, Buffer]));
  const model = modelOf(dump.processes);
  const capped = search(model, parseMemoryPattern('HOSTNAME='), files, 4096, { maxMatches: 2 });
  t.same(
    capped.matches.map((m) => m.pid),
    [1, 7],
  );
  t.match(capped.warnings, [{ file: 'checkpoint/pages-3.img', message: 'more than 2 matches for HOSTNAME=; only the first 2 are reported' }]);
  const s = new MemorySearch(model, parseMemoryPattern('HOSTNAME='), { pid: 9 });
  t.same(
    dump.pages.map((pf) => s.wants(pf.name)),
    [false, false, true],
    "only pid 9's pages file is wanted",
  );
  for (const [name, data] of files) feed(s, name, data, 4096);
  t.same(
    s.result().matches.map((m) => m.pid),
    [9],
  );
});

t.test('bytes no pagemap describes are not attributed to any process; a shared pages file gives a match per process', async (t) => {
  const data = Buffer.alloc(3 * PAGE);
  Buffer.from('ORPHAN').copy(data, 2 * PAGE + 10);
  Buffer.from('SHARED').copy(data, 20);
  const a = single(4, PAGE, [{ vaddr: 0x7000, nrPages: 1, offset: 0 }]);
  const b = single(5, 2 * PAGE, [{ vaddr: 0xa000, nrPages: 2, offset: 0 }]);
  const orphan = search([a], parseMemoryPattern('ORPHAN'), [['pages-1.img', data]], 1000);
  t.same(orphan.matches, []);
  t.match(orphan.warnings, [{ file: 'checkpoint/pages-1.img', message: /1 match\(es\) in bytes that no pagemap describes/ }]);
  const shared = search([a, b], parseMemoryPattern('SHARED'), [['pages-1.img', data]], 1000, { contextBytes: 0 });
  t.same(shared.matches, [
    { pid: 4, address: hex(0x7000 + 20), context: 'SHARED' },
    { pid: 5, address: hex(0xa000 + 20), context: 'SHARED' },
  ]);
});

t.test('context shows printable ASCII and every other byte as a dot', async (t) => {
  t.equal(printable(Buffer.from([0x41, 0x00, 0x7f, 0x20, 0x7e, 0xff, 0x0a])), 'A.. ~..');
});
