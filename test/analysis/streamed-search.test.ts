/**
 * The memory search as a stream: matches handed to onMatch during the read, in the order of the
 * matches returned, each once (also when the archive is read twice), and a search that stops at once
 * when its signal is aborted.
 */
import t from 'tap';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pack, type Header } from 'tar-stream';
import { inspectCheckpoint, type InspectOptions, type OpenArchive } from '../../src/analysis/inspect-checkpoint.js';
import type { MemoryMatch } from '../../src/analysis/inspection.js';
import { searchArchiveMemory } from '../../src/analysis/search-archive-memory.js';
import { writeCheckpointArchive, type ArchiveResult } from '../sim/checkpoint-archive.js';
import type { RuntimeLayout } from '../sim/runtime-metadata.js';
import { sampleContainer } from '../sim/sample-container.js';
import { readTar } from '../sim-tests/helpers.js';
import { REAL_ARCHIVES, realPath } from '../helpers/real-checkpoints.js';
import { rejected } from '../helpers/amber-errors.js';

const dir = mkdtempSync(join(tmpdir(), 'amber-streamed-search-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const ENV_VAR = '/[A-Z_]{6,}=[a-z0-9-]+/';

/** A source of the file's bytes in chunks of `size` that counts what it has handed out and how often it was opened. */
function chunked(bytes: Buffer, size: number | (() => number)): OpenArchive & { given: number; opens: number } {
  const f = Object.assign(
    async function* () {
      f.opens++;
      for (let at = 0; at < bytes.length;) {
        const n = Math.max(1, typeof size === 'number' ? size : size());
        const c = bytes.subarray(at, at + n);
        at += c.length;
        f.given = at;
        await new Promise((resolve) => setImmediate(resolve));
        yield c;
      }
    },
    { given: 0, opens: 0 },
  );
  return f;
}

/** Runs the inspection, recording each onMatch and how far the source had got at the first. */
async function streamed(open: OpenArchive & { given: number }, opts: InspectOptions) {
  const calls: MemoryMatch[] = [];
  let givenAtFirst: number | undefined;
  const r = await inspectCheckpoint(open, {
    ...opts,
    onMatch: (m) => {
      givenAtFirst ??= open.given;
      calls.push(m);
      opts.onMatch?.(m);
    },
  });
  return { calls, givenAtFirst, matches: r.matches ?? [], warnings: r.inspection.warnings };
}

for (const a of REAL_ARCHIVES) {
  t.test(`${a.file}: each match is handed out once, in the order returned, before the archive is read to its end`, async (t) => {
    const bytes = readFileSync(realPath(a));
    for (const search of [ENV_VAR, 'sleep']) {
      const plain = await inspectCheckpoint(() => Readable.from([bytes]), { search });
      for (const pid of [undefined, 1]) {
        const open = chunked(bytes, 4096);
        const s = await streamed(open, { search, pid });
        t.ok(s.matches.length > 0, `${search}: found`);
        t.same(s.calls, s.matches, `${search} pid ${pid}: the calls are the matches returned`);
        t.ok(
          s.calls.every((m, i) => m === s.matches[i]),
          'the same objects',
        );
        if (pid === undefined) t.same(s.matches, plain.matches, 'the same matches as without onMatch');
        else
          t.same(
            s.matches,
            plain.matches?.filter((m) => m.pid === pid),
          );
        t.equal(open.opens, 1, 'one read');
        t.ok(s.givenAtFirst !== undefined && s.givenAtFirst < bytes.length, `first match after ${s.givenAtFirst} of ${bytes.length} bytes`);
      }
    }
  });
}

let n = 0;
async function simArchive(layout: RuntimeLayout, env: string[]): Promise<string> {
  return (await simArchiveWith(layout, env)).path;
}

async function simArchiveWith(layout: RuntimeLayout, env: string[]): Promise<{ path: string; result: ArchiveResult }> {
  const path = join(dir, `sim-${n++}-${layout}.tar`);
  const c = sampleContainer(layout, { env });
  return { path, result: await writeCheckpointArchive(path, c, 512 * 1024) };
}

/** The archive's entries again, in another order and without those `keep` refuses. */
async function repack(from: string, to: string, rank: (name: string) => number, keep: (name: string) => boolean = () => true): Promise<void> {
  const entries = (await readTar(from, () => true)).filter((e) => keep(e.header.name));
  entries.sort((x, y) => rank(x.header.name) - rank(y.header.name));
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (b: unknown) => chunks.push(b as Buffer));
  const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const e of entries) p.entry({ ...(e.header as Header) }, e.data ?? Buffer.alloc(0));
  p.finalize();
  await done;
  writeFileSync(to, Buffer.concat(chunks));
}

const byMatch = (a: MemoryMatch, b: MemoryMatch) => a.pid - b.pid || a.address.localeCompare(b.address);

for (const layout of ['crio', 'containerd'] as const) {
  t.test(`${layout} (the simulated cluster's archive): matches come during the first read, before its end`, async (t) => {
    const bytes = readFileSync(await simArchive(layout, ['PATH=/usr/bin:/bin', 'HOSTNAME=web', 'APP_ENV=production']));
    const open = chunked(bytes, 64 * 1024);
    const s = await streamed(open, { search: 'HOSTNAME=web' });
    t.ok(s.matches.length >= 2, `${s.matches.length} matches`);
    t.same(s.calls, s.matches);
    t.equal(open.opens, 1);
    t.ok(s.givenAtFirst !== undefined && s.givenAtFirst < bytes.length, `first match after ${s.givenAtFirst} of ${bytes.length} bytes`);
  });
}

t.test('property: whatever the chunking, the match limit and the pattern, the calls are the matches returned, each once', async (t) => {
  const bytes = readFileSync(await simArchive('crio', ['HOSTNAME=web', 'APP_ENV=production']));
  const whole = new Map<string, MemoryMatch[]>();
  for (const search of ['HOSTNAME=web', '/APP_[A-Z]+=\\w+/', 'production']) {
    whole.set(search, (await inspectCheckpoint(() => Readable.from([bytes]), { search })).matches ?? []);
  }
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...whole.keys()),
      // any chunk size down to one byte, but one chunk of 64 KiB in each cycle: a run of tiny sizes alone
      // would hand the 1 MiB archive out in a million chunks (40 s a run), and time the file out
      fc.array(fc.integer({ min: 1, max: 200_000 }), { minLength: 1, maxLength: 8 }).map((s) => [...s, 65_536]),
      fc.integer({ min: 1, max: 12 }),
      async (search, sizes, maxMatches) => {
        let i = 0;
        const open = chunked(bytes, () => sizes[i++ % sizes.length] ?? 1);
        const s = await streamed(open, { search, maxMatches });
        const expected = (whole.get(search) ?? []).slice(0, maxMatches);
        return JSON.stringify(s.calls) === JSON.stringify(s.matches) && JSON.stringify(s.matches) === JSON.stringify(expected);
      },
    ),
    { numRuns: 25 },
  );
  t.pass('25 runs agree'); // fc.assert throws with the counterexample otherwise
});

t.test('read twice: each match is handed out once and the matches are those of the archive in its usual order', async (t) => {
  const { path, result } = await simArchiveWith('crio', ['PATH=/usr/bin:/bin', 'HOSTNAME=web', 'APP_ENV=production']);
  const plain = await inspectCheckpoint(() => Readable.from([readFileSync(path)]), { search: 'HOSTNAME=web' });
  const expected = [...(plain.matches ?? [])].sort(byMatch);
  t.ok(expected.length >= 2);
  // one process whose memory holds a match, and whose pagemap will come after its pages
  const late = result.processes.find((p) => expected.some((m) => m.pid === p.pid))!;
  const isPages = (name: string) => /pages-\d+\.img$/.test(name);
  const orders: [string, (name: string) => number, 'first' | 'second' | 'both'][] = [
    // nothing is mapped when the pages stream past: nothing is found until the second read
    ['pages first', (name) => (isPages(name) ? 0 : 1), 'second'],
    // the pagemaps before the pages but the mm images after: the argv reader needs the second read, the search found all in the first
    ['mm after the pages', (name) => (/\/mm-\d+\.img$/.test(name) ? 2 : isPages(name) ? 1 : 0), 'first'],
    // one process's pages before its pagemap, the others' after theirs: some are found in each read
    ['one pagemap late', (name) => (name.endsWith(`/pagemap-${late.pid}.img`) ? 3 : name.endsWith(`/${late.pagesFile}`) ? 2 : isPages(name) ? 1 : 0), 'both'],
  ];
  for (const [label, rank, when] of orders) {
    const odd = join(dir, `odd-${label.replace(/ /g, '-')}.tar`);
    await repack(path, odd, rank);
    const open = chunked(readFileSync(odd), 64 * 1024);
    const reads: number[] = [];
    const s = await streamed(open, { search: 'HOSTNAME=web', onMatch: () => reads.push(open.opens) });
    t.equal(open.opens, 2, `${label}: read twice`);
    t.same([...new Set(reads)], { first: [1], second: [2], both: [1, 2] }[when], `${label}: handed out in the ${when} read(s)`);
    t.same(s.calls, s.matches, `${label}: the calls are the matches returned`);
    t.same([...s.matches].sort(byMatch), expected, `${label}: the same matches as in the usual order, none twice`);
    t.same(s.warnings, plain.inspection.warnings, `${label}: the same warnings`);
  }
});

t.test('a pagemap whose process the tree lacks: its memory is searched all the same, and said', async (t) => {
  const path = await simArchive('crio', ['HOSTNAME=web']);
  const plain = await inspectCheckpoint(() => Readable.from([readFileSync(path)]), { search: 'HOSTNAME=web' });
  const noTree = join(dir, 'no-pstree.tar');
  await repack(
    path,
    noTree,
    () => 0,
    (name) => !name.endsWith('pstree.img'),
  );
  const open = chunked(readFileSync(noTree), 64 * 1024);
  const s = await streamed(open, { search: 'HOSTNAME=web' });
  t.same(s.matches, plain.matches, 'the matches the pagemaps locate');
  t.same(s.calls, s.matches);
  t.ok(
    s.warnings.some((w) => w.file === 'checkpoint/pstree.img' && /missing/.test(w.message)),
    'the tree is missing',
  );
  const pids = [...new Set(s.matches.map((m) => m.pid))];
  t.ok(
    s.warnings.some((w) => w.file === 'checkpoint/pstree.img' && pids.every((p) => w.message.includes(String(p))) && /searched all the same/.test(w.message)),
    'the pids the tree lacks are named',
  );
});

/** A Readable over the bytes, 16 KiB a read, that counts its reads and can stall after `stallAt` bytes. */
function countedSource(bytes: Buffer, stallAt = Infinity) {
  const src = { reads: 0, stream: undefined as Readable | undefined };
  let at = 0;
  const open = () => {
    src.stream = new Readable({
      highWaterMark: 16 * 1024,
      read() {
        if (at >= stallAt) return; // a network read that never answers
        src.reads++;
        const c = bytes.subarray(at, at + 16 * 1024);
        at += c.length;
        setImmediate(() => this.push(c.length > 0 ? c : null));
      },
    });
    return src.stream;
  };
  return { src, open, given: () => at };
}

t.test('aborted at the first match: rejects SEARCH_CANCELLED, no more matches are handed out and the source is destroyed and read no more', async (t) => {
  const bytes = readFileSync(realPath(REAL_ARCHIVES[0]!));
  const { src, open, given } = countedSource(bytes);
  const ac = new AbortController();
  const calls: MemoryMatch[] = [];
  const err = await rejected(
    inspectCheckpoint(open, {
      search: ENV_VAR,
      signal: ac.signal,
      onMatch: (m) => {
        calls.push(m);
        ac.abort();
      },
    }),
  );
  t.equal(err.code, 'SEARCH_CANCELLED');
  t.equal(calls.length, 1, 'one match, then none');
  t.equal(src.stream?.destroyed, true, 'the source is destroyed');
  const reads = src.reads;
  t.ok(given() < bytes.length, `stopped after ${given()} of ${bytes.length} bytes`);
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(src.reads, reads, 'no read after the rejection');
});

t.test('aborted while the source has stalled: rejects SEARCH_CANCELLED at once and destroys the source', async (t) => {
  const bytes = readFileSync(realPath(REAL_ARCHIVES[0]!));
  const { src, open } = countedSource(bytes, 64 * 1024);
  const ac = new AbortController();
  const p = inspectCheckpoint(open, { search: ENV_VAR, signal: ac.signal });
  while (src.reads < 4) await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setTimeout(resolve, 10));
  ac.abort(new Error('the analyst left'));
  const err = await rejected(p);
  t.equal(err.code, 'SEARCH_CANCELLED');
  t.match((err.cause as Error).message, 'the analyst left', "the signal's reason is the cause");
  t.equal(src.stream?.destroyed, true);
});

t.test('aborted while an async generator source has stalled: rejects SEARCH_CANCELLED at once, without waiting for its next chunk', async (t) => {
  const bytes = readFileSync(realPath(REAL_ARCHIVES[0]!));
  let pulled = 0;
  // an async generator runs its return() only once its pending chunk comes: here, never
  async function* stalled() {
    for (; pulled < 3; pulled++) yield bytes.subarray(pulled * 16_384, (pulled + 1) * 16_384);
    pulled++;
    await new Promise<never>(() => {});
  }
  const ac = new AbortController();
  const p = inspectCheckpoint(() => stalled(), { search: ENV_VAR, signal: ac.signal });
  while (pulled < 4) await new Promise((resolve) => setImmediate(resolve));
  ac.abort();
  const outcome = await Promise.race([rejected(p), new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 2000))]);
  t.not(outcome, 'hung', 'rejected without the chunk that never comes');
  if (outcome !== 'hung') t.equal(outcome.code, 'SEARCH_CANCELLED');
});

t.test('aborted during the second read: rejects SEARCH_CANCELLED, with nothing handed out twice', async (t) => {
  const path = await simArchive('crio', ['HOSTNAME=web', 'APP_ENV=production']);
  const odd = join(dir, 'odd-abort.tar');
  await repack(path, odd, (name) => (/pages-\d+\.img$/.test(name) ? 0 : 1));
  const open = chunked(readFileSync(odd), 16 * 1024);
  const ac = new AbortController();
  const calls: MemoryMatch[] = [];
  const err = await rejected(
    inspectCheckpoint(open, {
      search: 'HOSTNAME=web',
      signal: ac.signal,
      onMatch: (m) => {
        calls.push(m);
        ac.abort();
      },
    }),
  );
  t.equal(err.code, 'SEARCH_CANCELLED');
  t.equal(open.opens, 2);
  t.equal(calls.length, 1);
  t.ok(open.given < statSync(odd).size, 'the second read stopped before its end');
});

t.test('aborted before the start: rejects SEARCH_CANCELLED without opening the archive', async (t) => {
  let opened = 0;
  const err = await rejected(
    inspectCheckpoint(
      () => {
        opened++;
        return Readable.from([Buffer.alloc(0)]);
      },
      { search: 'x', signal: AbortSignal.abort() },
    ),
  );
  t.equal(err.code, 'SEARCH_CANCELLED');
  t.equal(opened, 0);
});

t.test('an onMatch that throws stops the reading and the inspection rejects with its error', async (t) => {
  const bytes = readFileSync(realPath(REAL_ARCHIVES[0]!));
  const { src, open } = countedSource(bytes);
  let calls = 0;
  await t.rejects(
    inspectCheckpoint(open, {
      search: ENV_VAR,
      onMatch: () => {
        calls++;
        throw new Error('the socket is gone');
      },
    }),
    { message: 'the socket is gone' },
  );
  t.equal(calls, 1);
  t.equal(src.stream?.destroyed, true);
});

t.test('searchArchiveMemory: the matches and the warnings, streamed as inspectCheckpoint streams them', async (t) => {
  const a = REAL_ARCHIVES.find((x) => x.folder === 'ctrd-app')!;
  const bytes = readFileSync(realPath(a));
  const calls: MemoryMatch[] = [];
  const r = await searchArchiveMemory(() => Readable.from([bytes]), 'CTRD_CANARY', { pid: 1, maxMatches: 2, contextBytes: 4, onMatch: (m) => calls.push(m) });
  const full = await inspectCheckpoint(() => Readable.from([bytes]), { search: 'CTRD_CANARY', pid: 1, maxMatches: 2, contextBytes: 4 });
  t.same(r.matches, full.matches);
  t.equal(r.matches.length, 2);
  t.ok(r.matches.every((m) => m.pid === 1 && m.context.length === 'CTRD_CANARY'.length + 8));
  t.same(calls, r.matches);
  t.same(r.warnings, full.inspection.warnings);
  t.match(r.warnings, [{ message: /more than 2 matches/ }]);
});
