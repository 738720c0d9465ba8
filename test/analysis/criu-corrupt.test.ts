/**
 * Damaged CRIU images, hand-made from the simulator's dump and encoders: each damage is a warning
 * naming the file (and the byte offset where it starts), the rest of the dump is still read, and
 * nothing throws or loops — also under random bytes and random truncations of real images.
 */
import t from 'tap';
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildCriuDump } from '../sim/criu-dump.js';
import { MAGIC, criuImage, encodePstree } from '../sim/criu-images.js';
import { decodeImage, readCriuDump } from '../../src/analysis/criu/read-criu-dump.js';
import { classifyImage } from '../../src/analysis/criu/criu-image.js';
import type { AnalysisWarning } from '../../src/analysis/criu/criu-model.js';

const dump = buildCriuDump({ seed: 'broken', pagesBytes: 1 << 20, podName: 'web-1', podIP: '10.244.0.9', env: [], now: Date.UTC(2025, 5, 1) });
const images = () => new Map(dump.images.map((i) => [i.name, i.data]));
const read = (m: Map<string, Buffer>) => readCriuDump(m, { dir: 'checkpoint' });
const about = (ws: AnalysisWarning[], name: string) => ws.filter((w) => w.file === `checkpoint/${name}`);

t.test("a truncated record: warning at the record's offset, the process is still read without that image", async (t) => {
  const m = images();
  const mm = m.get('mm-7.img')!;
  m.set('mm-7.img', mm.subarray(0, mm.length - 10));
  const model = read(m);
  t.match(about(model.warnings, 'mm-7.img'), [{ offset: 8, message: /truncated record: length \d+ runs past the end/ }]);
  const p = model.processes.find((x) => x.pid === 7)!;
  t.equal(p.mm, undefined);
  t.match(p, { comm: 'kworkerd', pagemap: { pagesId: 2 } });
  t.notOk('exe' in p, 'no mm, no exe');
  t.equal(p.fds.length, 7, 'the rest of process 7 is still there');
  t.equal(model.warnings.length, 1);
});

t.test('a wrong magic: warning at offset 0 (common magic) or 4 (type magic), no records from that image', async (t) => {
  const m = images();
  const pstree = Buffer.from(m.get('pstree.img')!);
  pstree.writeUInt32LE(0xdeadbeef, 0);
  m.set('pstree.img', pstree);
  const core = Buffer.from(m.get('core-1.img')!);
  core.writeUInt32LE(MAGIC.PAGEMAP, 4);
  const d = decodeImage('core-1.img', core, 'checkpoint/core-1.img');
  t.match(d, { records: [], warnings: [{ file: 'checkpoint/core-1.img', offset: 4, message: /wrong magic 0x56084025, expected 0x55053847/ }] });
  const model = read(m);
  t.same(model.processes, []);
  t.match(about(model.warnings, 'pstree.img'), [{ offset: 0, message: /wrong magic 0xdeadbeef/ }]);
  t.match(
    decodeImage('inventory.img', m.get('pstree.img')!.subarray(4)).warnings,
    [{ offset: 0, message: /expected 0x58313116/ }],
    'inventory has only its own magic',
  );
});

t.test('a huge length prefix (0xFFFFFFF0): warning with the offset, decoding of that image stops', async (t) => {
  const m = images();
  const files = Buffer.from(m.get('files.img')!);
  const second = 8 + 4 + files.readUInt32LE(8);
  files.writeUInt32LE(0xfffffff0, second);
  m.set('files.img', files);
  const model = read(m);
  t.match(about(model.warnings, 'files.img'), [{ offset: second, message: /absurd record length 4294967280/ }]);
  const sh = model.processes.find((p) => p.pid === 1)!;
  t.equal(sh.exe, '/usr/bin/dash', 'the record before the damage is still used');
  t.equal(sh.cwd, undefined, 'files after it are unknown');
  t.match(about(model.warnings, 'fdinfo-2.img'), [{ message: /fd 0 of process 1 refers to file 8, which files\.img does not hold/ }]);
});

t.test('garbage protobuf inside a well-framed record: a warning with the offset, the next records still decode', async (t) => {
  const good = encodePstree({ pid: 5, ppid: 0, pgid: 5, sid: 5, threads: [5] });
  const badVarint = Buffer.alloc(11, 0xff);
  const wire7 = Buffer.from([0x0f, 0x01]);
  const img = criuImage(MAGIC.PSTREE, [badVarint, wire7, good]);
  const d = decodeImage('pstree.img', img, 'checkpoint/pstree.img');
  t.match(d.warnings, [
    { file: 'checkpoint/pstree.img', offset: 12, message: /malformed varint/ },
    { file: 'checkpoint/pstree.img', offset: 27, message: /unsupported wire type 7/ },
  ]);
  t.equal(d.warnings.length, 2, 'a damaged message is reported once, not once per missing field');
  t.match(d.records[2], { pid: 5, threads: [5] });
  const model = read(new Map([['pstree.img', img]]));
  t.same(
    model.processes.map((p) => p.pid),
    [5],
  );
  t.match(about(model.warnings, 'pstree.img'), [
    { offset: 12 },
    { offset: 27 },
    { offset: 8, message: /entry 0 has no valid pid/ },
    { offset: 23, message: /entry 1 has no valid pid/ },
  ]);
  t.equal(about(model.warnings, 'pstree.img').length, 4);
});

t.test('an empty image and missing images: warnings naming them, everything else still read', async (t) => {
  const m = images();
  m.set('core-9.img', Buffer.alloc(0));
  m.delete('pagemap-9.img');
  m.delete('mm-7.img');
  m.delete('inventory.img');
  const model = read(m);
  t.match(about(model.warnings, 'core-9.img'), [{ offset: 0, message: /empty image/ }]);
  t.match(about(model.warnings, 'pagemap-9.img'), [{ message: /missing from the checkpoint: the page map of process 9/ }]);
  t.match(about(model.warnings, 'mm-7.img'), [{ message: /missing from the checkpoint: the memory layout of process 7/ }]);
  t.match(about(model.warnings, 'inventory.img'), [{ message: /missing/ }]);
  t.equal(model.warnings.length, 4);
  const bash = model.processes.find((p) => p.pid === 9)!;
  t.match(bash, { cwd: '/tmp', exe: '/usr/bin/bash' });
  t.notOk(bash.comm ?? bash.pagemap, 'no comm without a core, no pagemap without its image');
  t.equal(bash.fds.length, 3, 'without inventory, fdinfo-<files_id>.img is found by trying');
  t.ok(model.processes.find((p) => p.pid === 7)!.pagemap, "the miner's pagemap is there without its mm");
});

t.test('a pstree with a cycle or a duplicate pid: warnings, each pid read once', async (t) => {
  const tree = (entries: [number, number][]) =>
    criuImage(
      MAGIC.PSTREE,
      entries.map(([pid, ppid]) => encodePstree({ pid, ppid, pgid: 1, sid: 1, threads: [pid] })),
    );
  const m = images();
  m.set(
    'pstree.img',
    tree([
      [1, 0],
      [7, 9],
      [9, 7],
    ]),
  );
  t.match(about(read(m).warnings, 'pstree.img'), [{ message: /cycle: 7 → 9 → 7/ }]);
  const self = images();
  self.set('pstree.img', tree([[1, 1]]));
  t.match(about(read(self).warnings, 'pstree.img'), [{ message: /cycle: 1 → 1/ }]);
  const dup = images();
  const twice = tree([
    [1, 0],
    [7, 1],
    [7, 1],
    [9, 1],
  ]);
  dup.set('pstree.img', twice);
  const model = read(dup);
  t.same(
    model.processes.map((p) => p.pid),
    [1, 7, 9],
  );
  const third = 8 + 2 * (4 + twice.readUInt32LE(8));
  t.match(about(model.warnings, 'pstree.img'), [{ offset: third, message: /pid 7 appears twice/ }]);
});

/** Every image of the sim's dump and of the real sample, by name. */
function corpus(): [string, Buffer][] {
  const out: [string, Buffer][] = dump.images.map((i) => [i.name, i.data]);
  out.push(['stats-dump', dump.statsDump]);
  const real = fileURLToPath(new URL('../fixtures/criu-samples/aarch64-loop2/', import.meta.url));
  for (const n of readdirSync(real)) if ((n.endsWith('.img') && !n.startsWith('pages-')) || n === 'stats-dump') out.push([`real/${n}`, readFileSync(real + n)]);
  return out;
}

t.test('fuzz: random bytes, random truncations and byte flips of real images never throw', async (t) => {
  const all = corpus();
  const names = [...new Set(all.map(([n]) => n.replace(/^real\//, '')))];
  const started = Date.now();
  let runs = 0;
  fc.assert(
    fc.property(fc.constantFrom(...names), fc.uint8Array({ maxLength: 600 }), (name, bytes) => {
      // Random bytes behind a valid header as well as bare: the header alone would stop most of them.
      const header = all.find(([n]) => n.replace(/^real\//, '') === name)![1].subarray(0, name === 'inventory.img' ? 4 : 8);
      for (const data of [Buffer.from(bytes), Buffer.concat([header, bytes])]) {
        const d = decodeImage(name, data);
        if (!Array.isArray(d.records) || d.records.length !== d.offsets.length) throw new Error('inconsistent result');
        runs++;
      }
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.constantFrom(...all), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), ([name, data], cut, at, byte) => {
      const base = name.replace(/^real\//, '');
      const truncated = data.subarray(0, cut % (data.length + 1));
      const flipped = Buffer.from(data);
      if (flipped.length) flipped[at % flipped.length] = byte;
      for (const img of [truncated, flipped]) {
        const m = images();
        m.set(base, img);
        const model = readCriuDump(m);
        if (!Array.isArray(model.processes)) throw new Error('no processes array');
        runs++;
      }
      // A cut anywhere but between records must be reported, with the file's name.
      const full = decodeImage(base, data, name);
      const boundaries = new Set([...full.offsets, data.length]);
      // (Images the reader keeps raw — tcp-stream, tarballs — have no records to cut between.)
      if (full.warnings.length === 0 && classifyImage(base).kind !== 'raw' && !boundaries.has(truncated.length)) {
        const d = decodeImage(base, truncated, name);
        if (!d.warnings.some((w) => w.file === name)) throw new Error(`${name} cut to ${truncated.length} bytes gave no warning`);
      }
    }),
    { numRuns: 800 },
  );
  const ms = Date.now() - started;
  t.ok(ms < 8000, `${runs} damaged inputs read in ${ms} ms`);
});
