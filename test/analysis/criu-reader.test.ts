/**
 * The CRIU reader on x86_64 dumps from the simulator's generator (three processes, TCP and unix
 * sockets, pipes), on variants of them written with the sim's encoders (old pagemap form, old
 * fdinfo layout, ids in the core, IPv6 and abstract unix sockets), and the proto2 reader itself.
 */
import t from 'tap';
import { buildCriuDump, MINER_POOL, REVERSE_SHELL } from '../sim/criu-dump.js';
import {
  FD_TYPE,
  MAGIC,
  NO_FOWN,
  PE,
  criuImage,
  encodeCore,
  encodeFileEntry,
  encodeIds,
  encodePagemapEntry,
  encodePagemapHead,
  encodeCreds,
  encodePstree,
  encodeRegFile,
  encodeInetSk,
  encodeFdinfo,
  inventoryImage,
  type PagemapEntry,
} from '../sim/criu-images.js';
import { proto } from '../sim/protobuf.js';
import { decodeImage, readCriuDump } from '../../src/analysis/criu/read-criu-dump.js';
import { decodeMessage, readFields, type ProtoIssue } from '../../src/analysis/criu/proto-reader.js';
import type { CriuProcess } from '../../src/analysis/criu/criu-model.js';

const POD_IP = '10.244.1.23';
const dump = buildCriuDump({ seed: 'c0ffee', pagesBytes: 3 << 20, podName: 'web-5d9f', podIP: POD_IP, env: ['APP_MODE=prod'], now: Date.UTC(2025, 0, 2) });
const simImages = () => new Map(dump.images.map((i) => [i.name, i.data]));
const byPid = (procs: CriuProcess[], pid: number) => procs.find((p) => p.pid === pid)!;
const fdsOf = (p: CriuProcess) => new Map(p.fds.map((f) => [f.fd, f.file]));

t.test("the generator's dump: three processes with their tree, names, threads, exe, cwd and creds", async (t) => {
  const model = readCriuDump(simImages(), { statsDump: dump.statsDump });
  t.same(model.warnings, [], "a complete dump (plus runc's descriptors.json) reads without warnings");
  t.same(
    model.processes.map((p) => [p.pid, p.ppid, p.comm, p.threads, p.exe, p.cwd, p.root]),
    [
      [1, 0, 'sh', [1], '/usr/bin/dash', '/app', '/'],
      [7, 1, 'kworkerd', [7, 8], '/tmp/.x/kworkerd', '/tmp/.x', '/'],
      [9, 1, 'bash', [9], '/usr/bin/bash', '/tmp', '/'],
    ],
  );
  for (const p of model.processes) {
    t.match(p, { state: 'alive', arch: 'x86_64', creds: { uid: 1000, euid: 1000, gid: 1000, egid: 1000 } }, `pid ${p.pid}`);
    const sim = dump.processes.find((d) => d.pid === p.pid)!;
    t.match(p.mm, { argStart: sim.argStart, argEnd: sim.argEnd, envStart: sim.envStart, envEnd: sim.envEnd }, `pid ${p.pid} argv/env bounds`);
    // the executable's 5 segments and bss, heap, vvar, vdso, stack, vsyscall; + libc's 5 and bss, ld.so's 5 when dynamically linked
    t.equal(p.mm?.vmas.length, p.pid === 7 ? 11 : 22);
  }
  t.equal(model.imgVersion, 2);
  t.same(model.stats, {
    freezingTimeUs: dump.stats.freezingTime,
    frozenTimeUs: dump.stats.frozenTime,
    memdumpTimeUs: dump.stats.memdumpTime,
    memwriteTimeUs: dump.stats.memwriteTime,
    pagesScanned: dump.stats.pagesScanned,
    pagesSkippedParent: 0,
    pagesWritten: dump.stats.pagesWritten,
    pagesLazy: 0,
  });
});

t.test("open files: the miner's TCP connection, its socketpair, the pipes, and the reverse shell's socket on 0/1/2", async (t) => {
  const procs = readCriuDump(simImages()).processes;
  const miner = fdsOf(byPid(procs, 7));
  t.match(miner.get(3), {
    kind: 'socket',
    socket: {
      kind: 'inet',
      family: 'ipv4',
      protocol: 'tcp',
      type: 'stream',
      state: 'ESTABLISHED',
      localAddress: POD_IP,
      localPort: 48212,
      remoteAddress: MINER_POOL.ip,
      remotePort: MINER_POOL.port,
      inode: 1183390,
    },
  });
  t.match(miner.get(4), { kind: 'socket', socket: { kind: 'unix', type: 'stream', state: 'ESTABLISHED', inode: 1183402, peer: 1183403 } });
  t.match(miner.get(5)?.socket, { peer: 1183402 }, 'the other end of the pair points back');
  t.equal(miner.get(4)?.socket?.path, undefined, 'a socketpair has no name');
  t.match(miner.get(0), { kind: 'file', path: '/dev/null' });
  t.match(miner.get(1), { kind: 'pipe', pipeId: 1181240 });
  t.match(miner.get(6), { kind: 'file', path: '/tmp/.x/config.json', mode: 0o100644 });
  const shell = fdsOf(byPid(procs, 9));
  t.same([...shell.keys()], [0, 1, 2]);
  for (const fd of [0, 1, 2])
    t.match(shell.get(fd)?.socket, { remoteAddress: REVERSE_SHELL.ip, remotePort: REVERSE_SHELL.port, state: 'ESTABLISHED' }, `fd ${fd}`);
});

t.test('pagemap runs carry the pages-N.img offsets the generator laid the pages out at', async (t) => {
  const procs = readCriuDump(simImages()).processes;
  for (const sim of dump.processes) {
    const pm = byPid(procs, sim.pid).pagemap!;
    t.equal(`pages-${pm.pagesId}.img`, sim.pagesFile, `pid ${sim.pid} pages file`);
    t.same(
      pm.runs.map((r) => ({ vaddr: r.vaddr, nrPages: r.nrPages, offset: r.offset })),
      sim.pagemap,
      `pid ${sim.pid} runs`,
    );
    t.ok(pm.runs.every((r) => r.inFile && !r.inParent));
    t.ok(pm.runs.some((r) => r.lazy) && pm.runs.some((r) => !r.lazy), 'CRIU 4.2: anonymous pages PE_LAZY | PE_PRESENT, file-backed and vdso pages PE_PRESENT');
  }
  t.ok(dump.processes[0]!.pagemap.length >= 3, 'pid 1 has holes between runs, so offsets are not just vaddr arithmetic');
});

/** pagemap-1.img rewritten with the given entries for pid 1's runs. */
function withPagemap(entries: (r: { vaddr: number; nrPages: number }, i: number) => PagemapEntry) {
  const images = simImages();
  const sim = dump.processes[0]!;
  images.set('pagemap-1.img', criuImage(MAGIC.PAGEMAP, [encodePagemapHead(1), ...sim.pagemap.map((r, i) => encodePagemapEntry(entries(r, i)))]));
  return byPid(readCriuDump(images).processes, 1).pagemap!.runs;
}

t.test('an old-form pagemap (in_parent bools, no flags) gives the same runs', async (t) => {
  const sim = dump.processes[0]!;
  const omitted = withPagemap((r) => ({ vaddr: r.vaddr, nrPages: r.nrPages }));
  const explicit = withPagemap((r) => ({ vaddr: r.vaddr, nrPages: r.nrPages, inParent: false }));
  for (const runs of [omitted, explicit]) {
    t.same(
      runs.map((r) => ({ vaddr: r.vaddr, nrPages: r.nrPages, offset: r.offset })),
      sim.pagemap,
    );
    t.ok(runs.every((r) => r.inFile && r.flags === PE.PRESENT));
  }
});

t.test('pages in the parent checkpoint or left lazy do not advance the pages-N.img offset', async (t) => {
  const sim = dump.processes[0]!;
  const sizes = sim.pagemap.map((r) => r.nrPages * 4096);
  const expectOffsets = (skip: number) => sim.pagemap.map((_, i) => sizes.slice(0, i).reduce((a, b, j) => (j === skip ? a : a + b), 0));
  const old = withPagemap((r, i) => ({ vaddr: r.vaddr, nrPages: r.nrPages, inParent: i === 0 }));
  t.same(
    old.map((r) => r.offset),
    expectOffsets(0),
    'old form: in_parent',
  );
  t.match(old[0], { inParent: true, inFile: false, flags: PE.PARENT });
  const parent = withPagemap((r, i) => ({ vaddr: r.vaddr, nrPages: r.nrPages, flags: i === 1 ? PE.PARENT : PE.PRESENT }));
  t.same(
    parent.map((r) => r.offset),
    expectOffsets(1),
    'flags form: PE_PARENT',
  );
  const lazy = withPagemap((r, i) => ({ vaddr: r.vaddr, nrPages: r.nrPages, flags: i === 0 ? PE.LAZY : PE.LAZY | PE.PRESENT }));
  t.same(
    lazy.map((r) => r.offset),
    expectOffsets(0),
    'PE_LAZY alone is not stored; PE_LAZY | PE_PRESENT is',
  );
  t.match(lazy, [
    { lazy: true, inFile: false },
    { lazy: true, inFile: true },
  ]);
});

t.test('older layouts: fdinfo per pid, ids inside the core, creds image, per-type file images', async (t) => {
  const images = simImages();
  images.set('inventory.img', inventoryImage({ imgVersion: 2, fdinfoPerId: false }));
  // fdinfo per pid (fdinfo-<pid>.img) instead of per files_id, and ids only in core-9.img.
  images.set('fdinfo-9.img', images.get('fdinfo-4.img')!);
  images.delete('fdinfo-4.img');
  images.delete('ids-9.img');
  images.set(
    'core-9.img',
    criuImage(
      MAGIC.CORE,
      [encodeCore({ mtype: 1, tc: { taskState: 1, exitCode: 0, personality: 0, flags: 0, blkSigset: 0, comm: 'bash' } })].map((b) =>
        Buffer.concat([
          b,
          proto()
            .message(4, encodeIds({ vmId: 4, filesId: 4, fsId: 4, sighandId: 4 }))
            .finish(),
        ]),
      ),
    ),
  );
  // files.img split as CRIU 2.x wrote it.
  images.delete('files.img');
  images.set(
    'reg-files.img',
    criuImage(0x50363636, [
      encodeRegFile({ id: 4, flags: 0, pos: 0, fown: NO_FOWN, name: '/usr/bin/bash', mode: 0o100755 }),
      encodeRegFile({ id: 5, flags: 0, pos: 0, fown: NO_FOWN, name: '/', mode: 0o40755 }),
      encodeRegFile({ id: 15, flags: 0, pos: 0, fown: NO_FOWN, name: '/tmp', mode: 0o41777 }),
    ]),
  );
  images.set(
    'inetsk.img',
    criuImage(0x56443851, [
      encodeInetSk({
        id: 14,
        ino: 77,
        family: 2,
        type: 1,
        proto: 6,
        state: 10,
        srcPort: 4444,
        dstPort: 0,
        flags: 2,
        backlog: 5,
        srcAddr: '0.0.0.0',
        dstAddr: '0.0.0.0',
        fown: NO_FOWN,
        opts: { sndbuf: 1, rcvbuf: 1 },
      }),
    ]),
  );
  images.set(
    'creds-9.img',
    criuImage(0x54023547, [
      encodeCreds({
        uid: 33,
        gid: 34,
        euid: 35,
        egid: 36,
        suid: 0,
        sgid: 0,
        fsuid: 0,
        fsgid: 0,
        capInh: [],
        capPrm: [],
        capEff: [],
        capBnd: [],
        secbits: 0,
        groups: [],
      }),
    ]),
  );
  const model = readCriuDump(images);
  const bash = byPid(model.processes, 9);
  t.match(bash, { comm: 'bash', exe: '/usr/bin/bash', cwd: '/tmp', root: '/' });
  t.match(fdsOf(bash).get(0), { kind: 'socket', socket: { state: 'LISTEN', localAddress: '0.0.0.0', localPort: 4444 } });
  t.same(
    model.warnings.filter((w) => w.file.endsWith('-9.img')),
    [],
    'nothing is missing for pid 9',
  );
  t.same(bash.creds, { uid: 33, gid: 34, euid: 35, egid: 36 }, 'creds from creds-9.img when the core has no thread core');
});

t.test('IPv6 and IPv4-mapped addresses, abstract and path unix names, other fd types', async (t) => {
  const words = (hex: string) => Array.from({ length: 4 }, (_, i) => Buffer.from(hex, 'hex').readUInt32LE(i * 4));
  const inet6 = (id: number, src: string, dst: string) =>
    proto()
      .uint(1, 4)
      .uint(2, id)
      .message(
        4,
        proto()
          .uint(1, id)
          .uint(2, 900 + id)
          .uint(3, 10)
          .uint(4, 1)
          .uint(5, 6)
          .uint(6, 1)
          .uint(7, 443)
          .uint(8, 51000)
          .uint(9, 2)
          .uint(10, 0)
          .repeatedUint(11, words(src))
          .repeatedUint(12, words(dst))
          .message(13, proto().uint(1, 0).uint(2, 0).uint(3, 0).uint(4, 0).uint(5, 0).finish())
          .message(14, proto().uint(1, 1).uint(2, 1).uint(3, 0).uint(4, 0).uint(5, 0).uint(6, 0).finish())
          .finish(),
      )
      .finish();
  const unix = (id: number, name: Buffer) =>
    encodeFileEntry({
      type: FD_TYPE.UNIXSK,
      id,
      usk: { id, ino: 500 + id, type: 2, state: 7, flags: 2, uflags: 0, backlog: 0, peer: 0, fown: NO_FOWN, opts: { sndbuf: 1, rcvbuf: 1 }, name },
    });
  const images = new Map<string, Buffer>([
    ['inventory.img', inventoryImage({ imgVersion: 2, fdinfoPerId: true })],
    ['pstree.img', criuImage(MAGIC.PSTREE, [encodePstree({ pid: 3, ppid: 0, pgid: 3, sid: 3, threads: [3] })])],
    ['ids-3.img', criuImage(MAGIC.IDS, [encodeIds({ vmId: 1, filesId: 1, fsId: 1, sighandId: 1 })])],
    [
      'files.img',
      criuImage(MAGIC.FILES, [
        inet6(1, '20010db8000000000000000000000001', '00000000000000000000ffffc6336407'),
        unix(2, Buffer.from('\0hidden\0x')),
        unix(3, Buffer.from('/run/app.sock')),
        proto().uint(1, 9).uint(2, 4).finish(), // SIGNALFD: kept as its type name
      ]),
    ],
    [
      'fdinfo-1.img',
      criuImage(
        MAGIC.FDINFO,
        [1, 2, 3, 4].map((id) => encodeFdinfo({ id, flags: 0, type: 1, fd: 9 + id })),
      ),
    ],
  ]);
  const model = readCriuDump(images);
  const fds = fdsOf(model.processes[0]!);
  t.match(fds.get(10)?.socket, {
    family: 'ipv6',
    localAddress: '2001:db8::1',
    localPort: 443,
    remoteAddress: '::ffff:198.51.100.7',
    remotePort: 51000,
    inode: 901,
  });
  t.match(fds.get(11), { path: '@hidden@x', socket: { kind: 'unix', type: 'dgram', state: 'CLOSE' } });
  t.match(fds.get(12), { path: '/run/app.sock' });
  t.match(fds.get(13), { kind: 'other', type: 'SIGNALFD' });
  t.same(
    model.warnings.map((w) => w.file).sort(),
    ['checkpoint/core-3.img', 'checkpoint/fs-3.img', 'checkpoint/mm-3.img', 'checkpoint/pagemap-3.img'],
    'only the images this hand-made dump lacks are reported',
  );
});

t.test('decodeImage names the kind and keeps .proto field names; unknown images decode by field number', async (t) => {
  const pstree = decodeImage('pstree.img', simImages().get('pstree.img')!);
  t.equal(pstree.kind, 'pstree');
  t.same(pstree.records[1], { pid: 7, ppid: 1, pgid: 1, sid: 1, threads: [7, 8] });
  t.same(pstree.offsets.length, 3);
  const pm = decodeImage('pagemap-7.img', simImages().get('pagemap-7.img')!);
  t.match(pm.records, [{ pages_id: 2 }, { compat_nr_pages: Number, flags: PE.PRESENT }]);
  const other = decodeImage('timens-0.img', criuImage(0x43114433, [proto().uint(1, 276).string(2, 'x').finish()]));
  t.same(other, { kind: 'unknown', records: [{ 1: 276, 2: Buffer.from('x') }], offsets: [8], warnings: [] });
  t.same(decodeImage('pages-1.img', Buffer.alloc(4096)), { kind: 'pages', records: [], offsets: [], warnings: [] });
});

t.test('proto2 reader: packed and unpacked repeated, zigzag, sign-extended int32, fixed widths, big uint64, unknown fields', async (t) => {
  const schema = {
    name: 'm',
    fields: {
      1: ['a', 'uint32', 'repeated'],
      2: ['s', 'sint64'],
      3: ['i', 'int32'],
      4: ['f', 'fixed32'],
      5: ['g', 'fixed64'],
      6: ['u', 'uint64'],
      7: ['b', 'bool'],
    },
  } as const;
  const issues: ProtoIssue[] = [];
  const packed = Buffer.concat([
    proto()
      .bytes(1, Buffer.from([1, 0x96, 0x01]))
      .finish(),
    proto().uint(1, 3).finish(),
  ]);
  const rest = proto()
    .sint(2, -3)
    .uint(3, -1000)
    .fixed64(5, 2n ** 63n)
    .uint(6, 2n ** 64n - 1n)
    .bool(7, true)
    .uint(99, 5)
    .string(100, 'skip me')
    .finish();
  const fixed32 = Buffer.from([(4 << 3) | 5, 0x78, 0x56, 0x34, 0x12]);
  t.same(decodeMessage(schema, Buffer.concat([packed, rest, fixed32]), 0, issues), {
    a: [1, 150, 3],
    s: -3,
    i: -1000,
    g: 2n ** 63n,
    u: 2n ** 64n - 1n,
    b: true,
    f: 0x12345678,
  });
  t.same(issues, []);
  decodeMessage({ name: 'm', fields: { 1: ['x', 'uint32', 'required'], 2: ['y', 'string'] } }, proto().uint(2, 7).finish(), 100, issues);
  t.match(issues, [
    { offset: 101, message: /m\.y \(field 2\) has varint, expected length-delimited/ },
    { offset: 100, message: /lacks required field x/ },
  ]);
  t.same(readFields(Buffer.from([0x08, 0x80, 0x80]), 40, issues).length, 0);
  t.match(issues.at(-1), { offset: 41, message: /malformed varint/ });
});

t.test('sk-queues.img: each packet record is followed by its bytes; the bytes queued on a unix socket are counted, damage is a warning', async (t) => {
  const packet = (idFor: number, data: string) => {
    const rec = proto().uint(1, idFor).uint(2, Buffer.byteLength(data)).finish();
    const len = Buffer.alloc(4);
    len.writeUInt32LE(rec.length);
    return Buffer.concat([len, rec, Buffer.from(data)]);
  };
  const header = Buffer.alloc(8);
  header.writeUInt32LE(0x54564319, 0);
  header.writeUInt32LE(0x56264026, 4); // SK_QUEUES_MAGIC
  const image = Buffer.concat([header, packet(2, 'hello'), packet(2, 'world!'), packet(3, 'x')]);
  const d = decodeImage('sk-queues.img', image);
  t.equal(d.kind, 'sk-queues');
  t.same(d.records, [
    { id_for: 2, length: 5 },
    { id_for: 2, length: 6 },
    { id_for: 3, length: 1 },
  ]);
  t.same(
    d.payloads?.map((p) => p && image.toString('utf8', p.offset, p.offset + p.length)),
    ['hello', 'world!', 'x'],
  );
  t.same(d.warnings, []);

  const cut = decodeImage('sk-queues.img', image.subarray(0, image.length - 1));
  t.equal(cut.records.length, 3, 'the last record is read; its data is missing');
  t.match(cut.warnings, [{ file: 'sk-queues.img', message: '1 bytes of data should follow the record, but only 0 are left' }]);

  const unix = (id: number) =>
    encodeFileEntry({
      type: FD_TYPE.UNIXSK,
      id,
      usk: {
        id,
        ino: 700 + id,
        type: 1,
        state: 1,
        flags: 2,
        uflags: 0,
        backlog: 0,
        peer: 0,
        fown: NO_FOWN,
        opts: { sndbuf: 212992, rcvbuf: 212992 },
        name: Buffer.alloc(0),
      },
    });
  const model = readCriuDump(
    new Map<string, Buffer>([
      ['inventory.img', inventoryImage({ imgVersion: 2, fdinfoPerId: true })],
      ['pstree.img', criuImage(MAGIC.PSTREE, [encodePstree({ pid: 3, ppid: 0, pgid: 3, sid: 3, threads: [3] })])],
      ['ids-3.img', criuImage(MAGIC.IDS, [encodeIds({ vmId: 1, filesId: 1, fsId: 1, sighandId: 1 })])],
      ['files.img', criuImage(MAGIC.FILES, [unix(2), unix(3)])],
      [
        'fdinfo-1.img',
        criuImage(
          MAGIC.FDINFO,
          [2, 3].map((id) => encodeFdinfo({ id, flags: 0, type: 5, fd: id })),
        ),
      ],
      ['sk-queues.img', image],
    ]),
  );
  const fds = fdsOf(model.processes[0]!);
  t.match(fds.get(2)?.socket, { kind: 'unix', inQueueBytes: 11, sendBufferBytes: 212992, recvBufferBytes: 212992 });
  t.match(fds.get(3)?.socket, { inQueueBytes: 1 });
});
