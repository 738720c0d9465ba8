/**
 * The sim's CRIU encoders against real CRIU dumps: values taken from crit's decode are re-encoded
 * with test/sim/criu-images.ts and must give the real image byte for byte.
 * Data: test/fixtures/criu-samples/aarch64-loop2 (an older CRIU on aarch64: the pre-4.2 pagemap
 * form) and the CRI-O and containerd archives of test/fixtures/real-checkpoints (CRIU 4.2, x86-64),
 * whose every image is also decoded with the sim's schemas and compared with crit's JSON.
 */
import t from 'tap';
import { crit, sampleImage, type CritEntry } from '../helpers/criu-samples.js';
import {
  MAGIC,
  criuImage as encodeImage,
  encodeImage as encodeSchemaImage,
  encodeFdinfo,
  encodeFileEntry,
  encodeFs,
  encodeIds,
  encodeMm,
  encodePagemapEntry,
  encodePagemapHead,
  encodePstree,
  encodeTaskCore,
  encodeThreadCore,
  inventoryImage,
  statsImage,
  type CredsEntry,
  type TaskKobjIds,
  type VmaEntry,
  imageKind,
  pagemapEntry,
} from '../sim/criu-images.js';
import { existsSync } from 'node:fs';
import { critDecodeImage, critExtra, critToMessage, loadCritJson, type CritImage } from './crit-form.js';
import { criuImage, decode } from './helpers.js';
import { critPath, readRealArchive, REAL_ARCHIVES } from './real-archives.js';

type J = CritEntry;
const img = sampleImage;
const hex = (s: string | number | bigint) => (typeof s === 'string' ? BigInt(s) : s);
/** crit's flag strings ("PE_LAZY | PE_PRESENT", "MAP_PRIVATE | MAP_ANON | 0x4000") back to numbers. */
function flags(s: string, table: Record<string, number>): number {
  if (s === '') return 0;
  return s
    .split('|')
    .map((x) => x.trim())
    .reduce((n, x) => n | (x.startsWith('0x') ? parseInt(x, 16) : (table[x] ?? NaN)), 0);
}
const ids = (e: J): TaskKobjIds => ({
  vmId: e.vm_id,
  filesId: e.files_id,
  fsId: e.fs_id,
  sighandId: e.sighand_id,
  pidNsId: e.pid_ns_id,
  netNsId: e.net_ns_id,
  ipcNsId: e.ipc_ns_id,
  utsNsId: e.uts_ns_id,
  mntNsId: e.mnt_ns_id,
  userNsId: e.user_ns_id,
  cgroupNsId: e.cgroup_ns_id,
});

t.test('pstree, ids, fs, fdinfo: whole images', async (t) => {
  t.same(
    encodeImage(
      MAGIC.PSTREE,
      crit('pstree.txt').map((e) => encodePstree({ pid: e.pid, ppid: e.ppid, pgid: e.pgid, sid: e.sid, threads: e.threads })),
    ),
    img('pstree.img'),
  );
  t.same(
    encodeImage(
      MAGIC.IDS,
      crit('ids-2956.txt').map((e) => encodeIds(ids(e))),
    ),
    img('ids-2956.img'),
  );
  t.same(
    encodeImage(
      MAGIC.FS,
      crit('fs-2956.txt').map((e) => encodeFs({ cwdId: e.cwd_id, rootId: e.root_id, umask: e.umask })),
    ),
    img('fs-2956.img'),
  );
  t.same(
    encodeImage(
      MAGIC.FDINFO,
      crit('fdinfo-2.txt').map((e) => encodeFdinfo({ id: e.id, flags: e.flags, type: e.type === 'TTY' ? 11 : NaN, fd: e.fd })),
    ),
    img('fdinfo-2.img'),
  );
});

t.test('inventory.img: only the inventory magic', async (t) => {
  const [e] = crit('inventory.txt') as [J];
  t.same(
    inventoryImage({
      imgVersion: e.img_version,
      fdinfoPerId: e.fdinfo_per_id,
      rootIds: ids(e.root_ids),
      nsPerId: e.ns_per_id,
      rootCgSet: e.root_cg_set,
      lsmtype: e.lsmtype === 'NO_LSM' ? 0 : NaN,
    }),
    img('inventory.img'),
  );
});

t.test('pagemap: head + entries with PE_* flags, in the pre-4.2 form this CRIU wrote', async (t) => {
  const [head, ...entries] = crit('pagemap-2956.txt') as [J, ...J[]];
  const flagsOf = (e: J) => (e.flags === undefined ? undefined : flags(e.flags, { PE_PARENT: 1, PE_LAZY: 2, PE_PRESENT: 4 }));
  t.same(
    encodeImage(MAGIC.PAGEMAP, [
      encodePagemapHead(head.pages_id),
      ...entries.map((e) => encodePagemapEntry({ vaddr: hex(e.vaddr), nrPages: e.nr_pages, flags: flagsOf(e) })),
    ]),
    img('pagemap-2956.img'),
  );
  // The schema encoder, told the form: this crit named field 2 `nr_pages`, which CRIU 4.2 calls compat_nr_pages.
  const old = encodeSchemaImage('pagemap-2956.img', [
    { pages_id: head.pages_id },
    ...entries.map((e) => pagemapEntry(hex(e.vaddr), e.nr_pages, flagsOf(e), 'pre-4.2')),
  ]);
  t.same(old, img('pagemap-2956.img'), 'pagemapEntry(…, "pre-4.2")');
  const new42 = encodeSchemaImage('pagemap-2956.img', [
    { pages_id: head.pages_id },
    ...entries.map((e) => pagemapEntry(hex(e.vaddr), e.nr_pages, flagsOf(e), 'criu-4.2')),
  ]);
  t.notSame(new42, img('pagemap-2956.img'), 'the 4.2 form is another encoding of the same entries');
});

t.test('stats-dump: service magic, stats magic, dump stats', async (t) => {
  const d = (crit('stats-dump.txt')[0] as J).dump as J;
  t.same(
    statsImage({
      freezingTime: d.freezing_time,
      frozenTime: d.frozen_time,
      memdumpTime: d.memdump_time,
      memwriteTime: d.memwrite_time,
      pagesScanned: d.pages_scanned,
      pagesSkippedParent: d.pages_skipped_parent,
      pagesWritten: d.pages_written,
      irmapResolve: d.irmap_resolve,
      pagesLazy: d.pages_lazy,
      pagePipes: d.page_pipes,
      pagePipeBufs: d.page_pipe_bufs,
      shpagesScanned: d.shpages_scanned,
      shpagesSkippedParent: d.shpages_skipped_parent,
      shpagesWritten: d.shpages_written,
    }),
    img('stats-dump'),
  );
});

t.test('mm: addresses, auxv, every VMA (zigzag fd = -1)', async (t) => {
  const [m] = crit('mm-2956.txt') as [J];
  const vmas: VmaEntry[] = (m.vmas as J[]).map((v) => ({
    start: hex(v.start),
    end: hex(v.end),
    pgoff: v.pgoff,
    shmid: v.shmid,
    prot: flags(v.prot, { PROT_READ: 1, PROT_WRITE: 2, PROT_EXEC: 4 }),
    flags: flags(v.flags, { MAP_SHARED: 1, MAP_PRIVATE: 2, MAP_ANON: 0x20, MAP_GROWSDOWN: 0x100 }),
    status: flags(v.status, {
      VMA_AREA_REGULAR: 1,
      VMA_AREA_STACK: 2,
      VMA_AREA_VDSO: 8,
      VMA_AREA_HEAP: 32,
      VMA_FILE_PRIVATE: 64,
      VMA_FILE_SHARED: 128,
      VMA_ANON_SHARED: 256,
      VMA_ANON_PRIVATE: 512,
      VMA_AREA_VVAR: 4096,
    }),
    fd: v.fd,
    madv: v.madv === undefined ? undefined : hex(v.madv),
    fdflags: v.fdflags === undefined ? undefined : parseInt(v.fdflags, 16),
  }));
  const keys = [
    'mm_start_code',
    'mm_end_code',
    'mm_start_data',
    'mm_end_data',
    'mm_start_stack',
    'mm_start_brk',
    'mm_brk',
    'mm_arg_start',
    'mm_arg_end',
    'mm_env_start',
    'mm_env_end',
  ];
  const [sc, ec, sd, ed, ss, sb, brk, as, ae, es, ee] = keys.map((k) => hex(m[k])) as bigint[];
  t.same(
    encodeImage(MAGIC.MM, [
      encodeMm({
        mmStartCode: sc!,
        mmEndCode: ec!,
        mmStartData: sd!,
        mmEndData: ed!,
        mmStartStack: ss!,
        mmStartBrk: sb!,
        mmBrk: brk!,
        mmArgStart: as!,
        mmArgEnd: ae!,
        mmEnvStart: es!,
        mmEnvEnd: ee!,
        exeFileId: m.exe_file_id,
        mmSavedAuxv: m.mm_saved_auxv,
        vmas,
        dumpable: m.dumpable,
        thpDisabled: m.thp_disabled,
      }),
    ]),
    img('mm-2956.img'),
  );
});

t.test('files.img: regular-file entries (fown, flags, size, mode)', async (t) => {
  const real = criuImage(img('files.img')).records;
  // crit names rfile flags with the x86-64 values (O_NOFOLLOW 0o400000), whatever the dump's arch.
  const critFlags = { O_WRONLY: 1, O_RDWR: 2, O_LARGEFILE: 0o100000, O_DIRECTORY: 0o200000, O_NOFOLLOW: 0o400000 };
  let compared = 0;
  crit('files.txt').forEach((e, i) => {
    if (e.type !== 'REG') return;
    const r = e.reg as J;
    const ours = encodeFileEntry({
      type: 1,
      id: e.id,
      reg: {
        id: r.id,
        flags: flags(r.flags, critFlags),
        pos: r.pos,
        name: r.name,
        size: r.size,
        mode: r.mode,
        fown: { uid: r.fown.uid, euid: r.fown.euid, signum: r.fown.signum, pidType: r.fown.pid_type, pid: r.fown.pid },
      },
    });
    t.same(ours, real[i], `entry ${e.id} ${r.name}`);
    compared++;
  });
  t.equal(compared, 7);
});

t.test('core: task_core (timers, rlimits, sigactions, int32 -1000) and thread_core (sas, creds, comm)', async (t) => {
  const [c] = crit('core-2956.txt') as [J];
  const real = decode(criuImage(img('core-2956.img')).records[0] ?? Buffer.alloc(0));
  t.equal(Number(real.get(1)?.[0]), 3, 'mtype AARCH64');
  const tc = c.tc as J;
  const it = (x: J) => ({ isec: x.isec, iusec: x.iusec, vsec: x.vsec, vusec: x.vusec });
  t.same(
    encodeTaskCore({
      taskState: tc.task_state === 'Alive' ? 1 : NaN,
      exitCode: tc.exit_code,
      personality: tc.personality,
      flags: tc.flags,
      blkSigset: hex(tc.blk_sigset),
      comm: tc.comm,
      timers: { real: it(tc.timers.real), virt: it(tc.timers.virt), prof: it(tc.timers.prof) },
      rlimits: (tc.rlimits.rlimits as J[]).map((r) => ({ cur: r.cur, max: r.max })),
      cgSet: tc.cg_set,
      signalsS: true,
      loginuid: tc.loginuid,
      oomScoreAdj: tc.oom_score_adj,
      sigactions: (tc.sigactions as J[]).map((s) => ({
        sigaction: hex(s.sigaction),
        flags: hex(s.flags),
        restorer: hex(s.restorer),
        mask: hex(s.mask),
        compatSigaction: s.compat_sigaction,
      })),
      childSubreaper: tc.child_subreaper,
    }),
    real.get(3)?.[0],
    'tc',
  );
  const th = c.thread_core as J;
  const cr = th.creds as J;
  const creds: CredsEntry = {
    uid: cr.uid,
    gid: cr.gid,
    euid: cr.euid,
    egid: cr.egid,
    suid: cr.suid,
    sgid: cr.sgid,
    fsuid: cr.fsuid,
    fsgid: cr.fsgid,
    capInh: cr.cap_inh,
    capPrm: cr.cap_prm,
    capEff: cr.cap_eff,
    capBnd: cr.cap_bnd,
    secbits: cr.secbits,
    groups: cr.groups,
  };
  t.same(
    encodeThreadCore({
      futexRla: th.futex_rla,
      futexRlaLen: th.futex_rla_len,
      schedNice: th.sched_nice,
      schedPolicy: th.sched_policy,
      sas: { ssSp: th.sas.ss_sp, ssSize: th.sas.ss_size, ssFlags: th.sas.ss_flags },
      signalsP: true,
      creds,
      comm: th.comm,
    }),
    real.get(5)?.[0],
    'thread_core',
  );
});

t.test('pages-1.img: argv where mm + pagemap put it (the arithmetic the sim relies on)', async (t) => {
  const [m] = crit('mm-2956.txt') as [J];
  const [, ...runs] = crit('pagemap-2956.txt') as [J, ...J[]];
  const pages = img('pages-1.img');
  const at = Number(hex(m.mm_arg_start));
  let off = 0;
  for (const r of runs) {
    const va = Number(hex(r.vaddr));
    if (at >= va && at < va + r.nr_pages * 4096) {
      t.equal(pages.toString('latin1', off + at - va, off + Number(hex(m.mm_arg_end)) - va), './loop2\0');
      return;
    }
    off += r.nr_pages * 4096;
  }
  t.fail('argv not in any pagemap run');
});

/** The image kinds these archives hold; each must be seen (and pass) below, so none can slip by. */
const CRIU42_KINDS = [
  'inventory',
  'pstree',
  'core',
  'ids',
  'fs',
  'mm',
  'pagemap',
  'files',
  'fdinfo',
  'stats-dump',
  'cgroup',
  'mountpoints',
  'netns',
  'ipcns-var',
  'utsns',
  'timens',
  'seccomp',
  'tcp-stream',
  'pipes-data',
];
const kindOf = (name: string) => name.replace(/(-[0-9a-f]+)?\.img$/, '').replace(/^(tcp-stream)-.*/, '$1');

for (const a of REAL_ARCHIVES) {
  t.test(`${a.dir} (CRIU 4.2): every image decodes as crit decoded it, and crit's decode encodes back to the same bytes`, async (t) => {
    const members = await readRealArchive(a);
    const images = members.filter((m) => imageKind(m.header.name.replace(/^checkpoint\//, '')) !== undefined);
    t.ok(images.length >= 20, `${images.length} images`);
    for (const m of images) {
      const name = m.header.name.replace(/^checkpoint\//, '');
      const path = critPath(a, name);
      if (!existsSync(path)) {
        t.fail(`${name}: no crit decode beside the archive`);
        continue;
      }
      const critJson = loadCritJson(path) as CritImage;
      t.same(critDecodeImage(name, m.data ?? Buffer.alloc(0)), critJson, `${name}: decode = crit`);
      const k = imageKind(name)!;
      const values = critJson.entries.map((e, i) => critToMessage(i === 0 && k.head ? k.head : k.entry, e));
      const bytes = encodeSchemaImage(name, values, critJson.entries.map(critExtra));
      t.ok(bytes.equals(m.data ?? Buffer.alloc(0)), `${name}: ${bytes.length} bytes encoded from crit's decode = the real ${m.data?.length}`);
    }
  });
}

t.test('the real archives together hold every image kind the sim writes (none of these checks can be skipped)', async (t) => {
  const seen = new Set<string>();
  for (const a of REAL_ARCHIVES)
    for (const m of await readRealArchive(a)) {
      const name = m.header.name.replace(/^checkpoint\//, '');
      if (imageKind(name)) seen.add(kindOf(name));
    }
  t.same([...seen].sort(), [...CRIU42_KINDS].sort());
});
