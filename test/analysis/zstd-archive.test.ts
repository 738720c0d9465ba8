/**
 * zstd archives (Podman's default `--export`), streamed. The fixtures in test/fixtures/zstd are
 * test/fixtures/real-checkpoints/shell.tar compressed by Debian's zstd 1.5.4 (see its README), so
 * no test needs the zstd CLI. Larger streams are built here from raw zstd blocks, which any
 * decoder must read and which need no compressor.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, fstatSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { inspectCheckpoint, type OpenArchive } from '../../src/analysis/inspect-checkpoint.js';
import { readFileChunks } from '../../src/analysis/archive/read-file-chunks.js';
import { createZstdDecompress, MAX_WINDOW } from '../../src/analysis/archive/zstd-decompress.js';
import { pack } from 'tar-stream';
import { writeCheckpointArchive } from '../sim/checkpoint-archive.js';
import { readTar } from '../sim-tests/helpers.js';

const FIXTURES = join(import.meta.dirname, '../fixtures');
const PLAIN = join(FIXTURES, 'real-checkpoints/shell.tar');
const ZST = join(FIXTURES, 'zstd/shell.tar.zst');
const TWO_FRAMES = join(FIXTURES, 'zstd/shell-two-frames.tar.zst');
const MiB = 1 << 20;
const dir = mkdtempSync(join(tmpdir(), 'amber-zstd-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const open =
  (path: string): OpenArchive =>
  () =>
    readFileChunks(path);

async function decode(chunks: Iterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks).pipe(createZstdDecompress())) out.push(c as Buffer);
  return Buffer.concat(out);
}

function* pieces(b: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

/** A zstd frame header without a content size: magic, descriptor (checksum off), window descriptor. */
function frameHeader(windowLog: number): Buffer {
  return Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (windowLog - 10) << 3]);
}

/** A raw block's 3-byte header (RFC 8878 3.1.1.2): last flag, type 0 (raw), size. */
function rawBlockHeader(size: number, last: boolean): Buffer {
  const v = (size << 3) | (last ? 1 : 0);
  return Buffer.from([v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff]);
}

/** The file wrapped in one zstd frame of raw 128 KiB blocks, read and written block by block. */
function rawZstd(from: string, to: string, windowLog = 17): void {
  const block = 128 * 1024;
  const src = openSync(from, 'r'),
    dst = openSync(to, 'w');
  try {
    const size = fstatSync(src).size;
    const buf = Buffer.alloc(block);
    writeSync(dst, frameHeader(windowLog));
    for (let at = 0; at < size; at += block) {
      const n = readSync(src, buf, 0, block, at);
      writeSync(dst, rawBlockHeader(n, at + n >= size));
      writeSync(dst, buf, 0, n);
    }
  } finally {
    closeSync(src);
    closeSync(dst);
  }
}

t.test('a zstd archive reads exactly like the plain tar it was made from, in one frame or several', async (t) => {
  const plain = await inspectCheckpoint(open(PLAIN), { search: 'hunter2-canary' });
  for (const f of [ZST, TWO_FRAMES]) {
    const z = await inspectCheckpoint(open(f), { search: 'hunter2-canary' });
    t.same(z.inspection.processes, plain.inspection.processes, `${f}: the processes`);
    t.same(z.inspection.container, plain.inspection.container, 'the container');
    t.same(z.inspection.rootfsDiff, plain.inspection.rootfsDiff, 'the filesystem changes');
    t.same(z.matches, plain.matches, 'the memory search');
    t.same(z.inspection.warnings, []);
  }
  t.same(plain.inspection.processes.find((p) => p.pid === 1)?.cmdline, ['/bin/sh', '-c', 'while true; do echo tick; sleep 600; done']);
});

t.test('the compression is told by the first bytes, never by the name', async (t) => {
  const zstdNamedTar = join(dir, 'checkpoint.tar');
  const tarNamedZst = join(dir, 'checkpoint.tar.zst');
  copyFileSync(ZST, zstdNamedTar);
  copyFileSync(PLAIN, tarNamedZst);
  const a = await inspectCheckpoint(open(zstdNamedTar));
  const b = await inspectCheckpoint(open(tarNamedZst));
  t.same(
    a.inspection.processes.map((p) => p.pid),
    [1, 6],
  );
  t.same(
    b.inspection.processes.map((p) => p.pid),
    [1, 6],
  );
});

t.test('any chunking decodes to the same bytes; skippable frames are passed over', async (t) => {
  const want = readFileSync(PLAIN);
  const z = readFileSync(TWO_FRAMES);
  for (const size of [1, 3, 17, 4096, z.length]) t.ok((await decode(pieces(z, size))).equals(want), `chunks of ${size} bytes`);
  const skippable = Buffer.concat([Buffer.from([0x5a, 0x2a, 0x4d, 0x18, 5, 0, 0, 0]), Buffer.from('hello')]);
  t.ok((await decode([skippable, z, skippable])).equals(want), 'a skippable frame before, between and after');
});

t.test('a zstd-compressed rootfs-diff.tar is read too (no engine writes one: CRI-O and Podman write it plain, containerd gzip)', async (t) => {
  const entries = await readTar(PLAIN, () => true);
  const data = (e: (typeof entries)[number]) => e.data ?? Buffer.alloc(0);
  const diff = entries.find((e) => e.header.name === 'rootfs-diff.tar')!;
  const zstdDiff = Buffer.concat([frameHeader(17), rawBlockHeader(data(diff).length, true), data(diff)]);
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const e of entries) p.entry({ ...e.header, ...(e === diff && { size: zstdDiff.length }) }, e === diff ? zstdDiff : data(e));
  p.finalize();
  await ended;
  const repacked = join(dir, 'zstd-rootfs.tar');
  writeFileSync(repacked, Buffer.concat(chunks));
  const [plain, nested] = [await inspectCheckpoint(open(PLAIN)), await inspectCheckpoint(open(repacked))];
  t.same(nested.inspection.rootfsDiff, plain.inspection.rootfsDiff);
  t.ok(nested.inspection.rootfsDiff.added.some((f) => f.path === '/tmp/.x/dropper' && f.executable));
  t.same(nested.inspection.warnings, []);
});

t.test('bad zstd is a warning or NOT_A_CHECKPOINT with a reason, never a crash', async (t) => {
  const z = readFileSync(ZST);
  const cut = join(dir, 'cut.tar.zst');
  writeFileSync(cut, z.subarray(0, Math.floor(z.length * 0.7)));
  const truncated = await inspectCheckpoint(open(cut));
  t.match(truncated.inspection.warnings, [{ file: 'archive', message: /damaged after \d+ entries \(the zstd stream ends inside a frame/ }]);
  t.ok(truncated.inspection.container.id, 'what came before the cut is read');

  const cases: [string, Buffer, RegExp][] = [
    ['random bytes after the magic', Buffer.concat([z.subarray(0, 4), randomBytes(4000)]), /zstd/],
    ['a reserved bit', Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x08, 0x38]), Buffer.alloc(100)]), /reserved bit set/],
    [
      'a window over the limit',
      Buffer.concat([frameHeader(28), rawBlockHeader(10, true), Buffer.alloc(10)]),
      new RegExp(`window, more than the ${MAX_WINDOW}`),
    ],
    [
      'a dictionary',
      Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x01, 0x38, 0x07]), rawBlockHeader(10, true), Buffer.alloc(10)]),
      /needs dictionary 7/,
    ],
    ['a reserved block type', Buffer.concat([frameHeader(17), Buffer.from([0x07, 0, 0])]), /reserved type/],
    ['a block over 128 KiB', Buffer.concat([frameHeader(20), rawBlockHeader(200_000, true)]), /block of 200000 bytes/],
    ['only the magic', z.subarray(0, 4), /ends inside a frame/],
  ];
  for (const [what, bytes, reason] of cases) {
    const f = join(dir, 'bad.zst');
    writeFileSync(f, bytes);
    await t.rejects(inspectCheckpoint(open(f)), { code: 'NOT_A_CHECKPOINT', details: { reason } }, what);
  }

  const tail = join(dir, 'tail.tar.zst');
  writeFileSync(tail, Buffer.concat([z, Buffer.from('not zstd at all')]));
  const trailing = await inspectCheckpoint(open(tail));
  t.same(
    trailing.inspection.processes.map((p) => p.pid),
    [1, 6],
    'the archive before the trailing bytes is whole',
  );
  t.match(trailing.inspection.warnings, [{ file: 'archive', message: /not a zstd frame \(magic 0x[0-9a-f]+\) after 1 frames/ }]);
});

t.test('a 256 MiB zstd archive is inspected with flat memory, even with every chunk ending on a block', async (t) => {
  const plain = join(dir, 'big.tar');
  await writeCheckpointArchive(
    plain,
    {
      layout: 'crio',
      namespace: 'shop',
      pod: 'web',
      podUid: 'u',
      container: 'app',
      containerId: 'ab'.repeat(32),
      sandboxId: 'cd'.repeat(32),
      image: 'ghcr.io/acme/app:1',
      imageRef: `ghcr.io/acme/app@sha256:${'ef'.repeat(32)}`,
      imageId: '12'.repeat(32),
      podIP: '10.244.1.9',
      hostPid: 4242,
      createdAt: Date.UTC(2026, 0, 1),
      startedAt: Date.UTC(2026, 0, 1),
      checkpointedAt: Date.UTC(2026, 0, 2),
      restartCount: 0,
      argv: ['/bin/sh', '/app/entrypoint.sh'],
      env: ['APP_ENV=production'],
      logLines: [],
    },
    256 * MiB,
  );
  const z = join(dir, 'big.tar.zst');
  rawZstd(plain, z);
  rmSync(plain);
  // the frame header, then (128 KiB + 3) × 8 per read: each chunk ends exactly where a block ends (fzstd's retention case)
  const aligned: OpenArchive = async function* () {
    const fd = openSync(z, 'r');
    try {
      yield readNext(fd, 6);
      for (let c = readNext(fd, (128 * 1024 + 3) * 8); c.length > 0; c = readNext(fd, (128 * 1024 + 3) * 8)) yield c;
    } finally {
      closeSync(fd);
    }
  };
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 5);
  const { inspection } = await inspectCheckpoint(aligned);
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  const growth = (peak - baseline) / MiB;
  t.comment(`256 MiB through zstd: RSS +${growth.toFixed(1)} MiB`);
  t.ok(growth < 120, `peak RSS growth ${growth.toFixed(1)} MiB < 120 MiB`);
  t.same(inspection.processes.find((p) => p.pid === 1)?.cmdline, ['/bin/sh', '/app/entrypoint.sh'], 'argv read past 256 MiB of zstd');
  t.same(inspection.warnings, []);
});

function readNext(fd: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  return b.subarray(0, readSync(fd, b, 0, size, null));
}
