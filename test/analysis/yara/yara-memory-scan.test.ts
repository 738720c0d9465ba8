/**
 * The windowed memory scan on dumps built here, where we place the bytes: matches across pages that
 * are apart in pages-N.img, across window boundaries, a window size that bounds what is held, and a
 * region that runs past its time budget.
 */
import t from 'tap';
import type { CriuProcess, Vma } from '../../../src/analysis/criu/criu-model.js';
import type { YaraRules, YaraScanner } from '../../../src/analysis/yara/yara-rules.js';
import { YaraMemoryScan } from '../../../src/analysis/yara/yara-memory-scan.js';
import { yaraXEngine } from '../../../src/analysis/yara/yara-x-engine.js';
import { feed, PAGE } from '../sim-memory.js';

const NEEDLE = 'AMBER-STRADDLE-NEEDLE-0123456789';
const rules = (): YaraRules => yaraXEngine().compile([{ file: 'needle.yar', text: `rule needle { strings: $n = "${NEEDLE}" condition: $n }` }]);
const anonVma = (start: number, end: number): Vma => ({ start, end, pgoff: 0, prot: 3, flags: 0x22, status: 1 | (1 << 9), shmid: 0, fd: -1 });

/** One process whose pagemap lists `runs` (vaddr, pages) in this order, stored back to back in pages-1.img. */
function processWith(runs: [number, number][], vmas: Vma[]): CriuProcess {
  let offset = 0;
  const pageRuns = runs.map(([vaddr, nrPages]) => {
    const r = { vaddr, nrPages, offset, inParent: false, lazy: true, inFile: true };
    offset += nrPages * PAGE;
    return r;
  });
  return { pid: 42, ppid: 0, pgid: 0, sid: 0, threads: [42], fds: [], pagemap: { pagesId: 1, runs: pageRuns }, mm: mmWith(vmas) };
}

const mmWith = (vmas: Vma[]) => ({ argStart: 0, argEnd: 0, envStart: 0, envEnd: 0, startCode: 0, endCode: 0, startBrk: 0, brk: 0, vmas });

function scan(p: CriuProcess, file: Buffer, chunk: number, opts: ConstructorParameters<typeof YaraMemoryScan>[2] = {}, scanner?: YaraScanner) {
  const s = new YaraMemoryScan([p], scanner ?? rules().scanner({ timeoutMs: 10_000 }), opts);
  feed(s, 'pages-1.img', file, chunk);
  return s.result(() => undefined);
}

t.test('a match across two pages contiguous in memory but apart in pages-N.img is found at its address', async (t) => {
  const base = 0x7f0000000000;
  // The pagemap lists the second page first: pages-1.img holds [page B][page A], A = base, B = base + 4096.
  const p = processWith(
    [
      [base + PAGE, 1],
      [base, 1],
    ],
    [anonVma(base, base + 2 * PAGE)],
  );
  const file = Buffer.alloc(2 * PAGE, 0x2e);
  const half = NEEDLE.length / 2;
  Buffer.from(NEEDLE.slice(0, half)).copy(file, PAGE + PAGE - half); // end of page A, at file offset 4096…
  Buffer.from(NEEDLE.slice(half)).copy(file, 0); // …and the start of page B, at file offset 0
  t.equal(file.indexOf(NEEDLE), -1, 'the needle is not in the file as it lies');
  for (const chunk of [PAGE, 1000, 2 * PAGE]) {
    const r = scan(p, file, chunk);
    t.same(
      r.matches.map((m) => m.where),
      [
        {
          in: 'memory',
          pid: 42,
          address: `0x${(base + PAGE - half).toString(16)}`,
          mapping: { start: `0x${base.toString(16)}`, end: `0x${(base + 2 * PAGE).toString(16)}`, prot: 'rw-', kind: 'anonymous' },
        },
      ],
      `found once, chunks of ${chunk}`,
    );
    t.match(r.matches[0]?.context, NEEDLE);
  }
});

t.test('bytes next to each other in the file but not in memory do not make a match', async (t) => {
  const base = 0x10000000;
  // two pages in file order, but a hole of one page between them in memory
  const p = processWith(
    [
      [base, 1],
      [base + 2 * PAGE, 1],
    ],
    [anonVma(base, base + 3 * PAGE)],
  );
  const file = Buffer.alloc(2 * PAGE, 0x2e);
  Buffer.from(NEEDLE).copy(file, PAGE - NEEDLE.length / 2);
  t.not(file.indexOf(NEEDLE), -1, 'the needle is in the file as it lies');
  t.same(scan(p, file, 4096).matches, []);
  // control: the same bytes, contiguous in memory too
  const q = processWith([[base, 2]], [anonVma(base, base + 2 * PAGE)]);
  t.equal(scan(q, file, 4096).matches.length, 1);
});

t.test('a match across a window boundary is found once, and no scan is handed more than a window', async (t) => {
  const base = 0x20000000;
  const pages = 768; // 3 MiB
  const p = processWith([[base, pages]], [anonVma(base, base + pages * PAGE)]);
  const windowBytes = 1 << 20;
  const overlapBytes = 4096;
  const file = Buffer.alloc(pages * PAGE, 0x2e);
  // straddles the first window's end, and lies in the second window's carried overlap
  const at = windowBytes - 10;
  Buffer.from(NEEDLE).copy(file, at);
  const real = rules().scanner({ timeoutMs: 10_000 });
  let largest = 0;
  let scanned = 0;
  const measuring: YaraScanner = {
    scan: (d) => {
      largest = Math.max(largest, d.length);
      scanned += d.length;
      return real.scan(d);
    },
    close: () => real.close(),
  };
  const r = scan(p, file, 256 * 1024, { windowBytes, overlapBytes }, measuring);
  t.same(
    r.matches.map((m) => (m.where as { address: string }).address),
    [`0x${(base + at).toString(16)}`],
  );
  t.ok(largest <= windowBytes, `the largest buffer scanned is ${largest} bytes, at most the window`);
  t.ok(scanned < file.length + 4 * overlapBytes, 'each byte is scanned once, plus the overlaps');
});

t.test('memory stays flat: a 256 MiB region is scanned with the heap growing by far less than the region', async (t) => {
  const base = 0x30000000;
  const pages = 65536; // 256 MiB
  const p = processWith([[base, pages]], [anonVma(base, base + pages * PAGE)]);
  const chunk = Buffer.alloc(1 << 20, 0x2e);
  const s = new YaraMemoryScan([p], rules().scanner({ timeoutMs: 10_000 }));
  global.gc?.();
  const before = process.memoryUsage();
  let peak = 0;
  for (let off = 0; off < pages * PAGE; off += chunk.length) {
    s.feed('pages-1.img', off, chunk);
    const m = process.memoryUsage();
    peak = Math.max(peak, m.heapUsed + m.arrayBuffers - before.heapUsed - before.arrayBuffers);
  }
  s.end('pages-1.img', pages * PAGE);
  t.same(s.result(() => undefined).matches, []);
  t.ok(peak < 64 * 1024 * 1024, `peak growth ${Math.round(peak / 1024 / 1024)} MiB for a 256 MiB region`);
});

t.test('a region that runs past its time budget is reported incomplete; the rest of it is skipped and the next region is scanned', async (t) => {
  const slow = 0x40000000,
    fast = 0x50000000;
  const p = processWith(
    [
      [slow, 64],
      [fast, 1],
    ],
    [anonVma(slow, slow + 64 * PAGE), anonVma(fast, fast + PAGE)],
  );
  const file = Buffer.alloc(65 * PAGE, 0x2e);
  Buffer.from(NEEDLE).copy(file, 60 * PAGE); // late in the slow region: never reached
  Buffer.from(NEEDLE).copy(file, 64 * PAGE + 100); // in the fast one
  let clock = 0;
  const real = rules().scanner({ timeoutMs: 10_000 });
  const calls: number[] = [];
  const timed: YaraScanner = {
    scan: (d) => {
      calls.push(d.length);
      clock += d.length === PAGE ? 1 : 600; // each window of the slow region takes 600 "ms"
      return real.scan(d);
    },
    close: () => real.close(),
  };
  const r = scan(p, file, PAGE, { windowBytes: 16 * PAGE, overlapBytes: PAGE, budgetMs: 1000, now: () => clock }, timed);
  t.same(
    r.matches.map((m) => (m.where as { address: string }).address),
    [`0x${(fast + 100).toString(16)}`],
    'the next region is scanned',
  );
  t.equal(r.incomplete.length, 1);
  t.match(r.incomplete[0], { where: `pid 42 0x${slow.toString(16)}-0x${(slow + 64 * PAGE).toString(16)}`, reason: /1200 ms .*budget 1000 ms/ });
  t.equal(calls.filter((n) => n !== PAGE).length, 2, 'the slow region stopped after the window that ran past the budget');
});

t.test('the engine’s own time-out marks the region incomplete', async (t) => {
  const base = 0x60000000;
  const p = processWith([[base, 2]], [anonVma(base, base + 2 * PAGE)]);
  const giveUp: YaraScanner = { scan: () => ({ hits: [], timedOut: true }), close: () => undefined };
  const r = scan(p, Buffer.alloc(2 * PAGE), PAGE, {}, giveUp);
  t.equal(r.incomplete.length, 1);
});

t.test('a pattern that matches at every byte of a zeroed region is reported once, and quickly', async (t) => {
  const base = 0x70000000;
  const pages = 1024; // 4 MiB of zeros
  const p = processWith([[base, pages]], [anonVma(base, base + pages * PAGE)]);
  const zeros = yaraXEngine().compile([{ file: 'zeros.yar', text: 'rule zeros { strings: $z = { 00 00 } condition: $z }' }]);
  const started = Date.now();
  const r = scan(p, Buffer.alloc(pages * PAGE), 1 << 20, {}, zeros.scanner({ timeoutMs: 10_000 }));
  t.same(
    r.matches.map((m) => [m.rule, (m.where as { address: string }).address]),
    [['zeros', `0x${base.toString(16)}`]],
  );
  // uncapped, the engine hands back a million matches per window: about 45 s each on this machine
  t.ok(Date.now() - started < 20_000, `${Date.now() - started} ms`);
});

t.test('many small regions of a process are scanned in one call, each match named at its own address', async (t) => {
  const base = 0x20000000;
  // 100 one-page regions, each followed by an untouched page: 100 regions, back to back in the file
  const runs: [number, number][] = Array.from({ length: 100 }, (_, i) => [base + 2 * i * PAGE, 1]);
  const p = processWith(runs, [anonVma(base, base + 200 * PAGE)]);
  const file = Buffer.alloc(100 * PAGE, 0x2e);
  for (const i of [37, 80]) Buffer.from(NEEDLE).copy(file, i * PAGE + 100);
  const inner = rules().scanner({ timeoutMs: 10_000 });
  let calls = 0;
  const counting: YaraScanner = {
    scan(buf) {
      calls++;
      return inner.scan(buf);
    },
    close: () => inner.close(),
  };
  const r = scan(p, file, 3 * PAGE, {}, counting);
  t.equal(calls, 1, 'one scan for the 100 regions (the engine costs milliseconds per call)');
  t.same(
    r.matches.map((m) => (m.where as { address: string }).address),
    [37, 80].map((i) => `0x${(base + 2 * i * PAGE + 100).toString(16)}`),
  );
  t.ok(r.matches.every((m) => m.context.includes(NEEDLE)));
});

t.test('a pages file that ends inside a small region: the rules see zeros where its bytes did not come, not the process scanned before', async (t) => {
  // pid 42's region is read into the pack and scanned; pid 43's is read into the same place, and its file ends 1000 bytes in
  const base = 0x30000000;
  const first = processWith([[base, 4]], [anonVma(base, base + 4 * PAGE)]);
  const second: CriuProcess = { ...processWith([[base, 4]], [anonVma(base, base + 4 * PAGE)]), pid: 43, pagemap: { pagesId: 2, runs: first.pagemap!.runs } };
  const full = Buffer.alloc(4 * PAGE, 0x2e);
  full.write('EVIL', 5000, 'latin1');
  const stale = yaraXEngine().compile([{ file: 'stale.yar', text: 'rule stale { condition: uint32be(5000) == 0x4556494c }' }]);
  const s = new YaraMemoryScan([first, second], stale.scanner({ timeoutMs: 10_000 }));
  feed(s, 'pages-1.img', full, PAGE);
  feed(s, 'pages-2.img', Buffer.alloc(1000, 0x2e), PAGE);
  const r = s.result(() => undefined);
  t.same(
    r.matches.map((m) => [m.rule, m.where]),
    [
      [
        'stale',
        {
          in: 'memory',
          pid: 42,
          address: `0x${base.toString(16)}`,
          mapping: { start: `0x${base.toString(16)}`, end: `0x${(base + 4 * PAGE).toString(16)}`, prot: 'rw-', kind: 'anonymous' },
        },
      ],
    ],
    "pid 42's bytes are its own, and pid 43 is not handed them",
  );
  t.match(r.warnings, [{ file: 'checkpoint/pages-2.img', message: /ends at 1000 bytes/ }]);
});
