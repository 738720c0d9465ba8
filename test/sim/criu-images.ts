/**
 * CRIU image encoding: magics, framing and the proto2 messages of checkpoint-restore/criu
 * images/*.proto that a container checkpoint's `checkpoint/` folder holds.
 *
 * Framing (criu/include/magic.h, criu/image.c): every image starts with the 4-byte LE
 * IMG_COMMON_MAGIC 0x54564319 followed by its own 4-byte type magic — except inventory.img, which
 * carries only INVENTORY_MAGIC, and the "service" file stats-dump, which starts with
 * IMG_SERVICE_MAGIC 0x55105940 then STATS_MAGIC 0x57093306. pages-N.img is raw (no header).
 * Then records: uint32 LE length + one proto2 message, and for a few images data after it (TCP
 * queues, pipe contents). Fields are written in ascending number, as protobuf-c does. The
 * messages are those of criu-schema*.ts (encodeImage); both they and the older hand-written
 * encoders below are checked byte for byte against real CRIU dumps (test/sim-tests/criu-golden.test.ts).
 */
import { encodeMessage, proto, type Int, type MessageSchema, type ProtoMessage } from './protobuf.js';
import {
  CGROUP_ENTRY,
  CORE_ENTRY,
  FS_ENTRY,
  INVENTORY_ENTRY,
  IPC_VAR_ENTRY,
  MM_ENTRY,
  NETNS_ENTRY,
  PAGEMAP_ENTRY,
  PAGEMAP_HEAD,
  PSTREE_ENTRY,
  SECCOMP_ENTRY,
  STATS_ENTRY,
  TASK_KOBJ_IDS_ENTRY,
  TIMENS_ENTRY,
  UTSNS_ENTRY,
} from './criu-schema.js';
import { FDINFO_ENTRY, FILE_ENTRY, MNT_ENTRY, PIPE_DATA_ENTRY, TCP_STREAM_ENTRY } from './criu-schema-files.js';

export const MAGIC = {
  IMG_COMMON: 0x54564319,
  IMG_SERVICE: 0x55105940,
  INVENTORY: 0x58313116,
  PSTREE: 0x50273030,
  CORE: 0x55053847,
  MM: 0x57492820,
  PAGEMAP: 0x56084025,
  FILES: 0x56303138,
  FDINFO: 0x56213732,
  IDS: 0x54432030,
  FS: 0x51403912,
  STATS: 0x57093306,
  CGROUP: 0x59383330,
  MNTS: 0x55563928,
  NETNS: 0x55933752,
  IPC_VAR: 0x53115007,
  UTSNS: 0x54473203,
  TIMENS: 0x43114433,
  SECCOMP: 0x64413049,
  TCP_STREAM: 0x51465506,
  PIPES_DATA: 0x56453709,
} as const;
export type MagicName = keyof typeof MAGIC;

/** fdinfo.proto enum fd_types. */
export const FD_TYPE = { REG: 1, PIPE: 2, FIFO: 3, INETSK: 4, UNIXSK: 5, TTY: 11 } as const;
/** pagemap.proto flags (criu/include/pagemap.h). */
export const PE = { PARENT: 1, LAZY: 2, PRESENT: 4 } as const;
export const PAGE_SIZE = 4096;

function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** uint32 LE length + message. */
export function record(msg: Buffer): Buffer {
  return Buffer.concat([u32le(msg.length), msg]);
}

/** A regular image: IMG_COMMON magic, type magic, records. */
export function criuImage(typeMagic: number, messages: readonly Buffer[]): Buffer {
  return Buffer.concat([u32le(MAGIC.IMG_COMMON), u32le(typeMagic), ...messages.map(record)]);
}

export function inventoryImage(entry: InventoryEntry): Buffer {
  return Buffer.concat([u32le(MAGIC.INVENTORY), record(encodeInventory(entry))]);
}

export function statsImage(dump: DumpStats): Buffer {
  return Buffer.concat([u32le(MAGIC.IMG_SERVICE), u32le(MAGIC.STATS), record(encodeStats(dump))]);
}

// ---- whole images from schema messages ----

/** What an image file holds, by CRIU's name for it: its type magic and the message of its records. */
export interface ImageKind {
  magic: MagicName;
  entry: MessageSchema;
  /** the first record's message when it differs (pagemap_head) */
  head?: MessageSchema;
  /** the header: `single` = the type magic alone (inventory), `service` = IMG_SERVICE + type (stats), else IMG_COMMON + type */
  header: 'common' | 'single' | 'service';
  /** bytes CRIU writes after a record (crit's "extra"): TCP queues, pipe contents */
  extra?: 'tcp-stream' | 'pipe-data';
}

const kind = (magic: MagicName, entry: MessageSchema, more: Partial<ImageKind> = {}): ImageKind => ({ magic, entry, header: 'common', ...more });
const BY_NAME: Readonly<Record<string, ImageKind>> = {
  'inventory.img': kind('INVENTORY', INVENTORY_ENTRY, { header: 'single' }),
  'stats-dump': kind('STATS', STATS_ENTRY, { header: 'service' }),
  'pstree.img': kind('PSTREE', PSTREE_ENTRY),
  'files.img': kind('FILES', FILE_ENTRY),
  'cgroup.img': kind('CGROUP', CGROUP_ENTRY),
  'seccomp.img': kind('SECCOMP', SECCOMP_ENTRY),
  'pipes-data.img': kind('PIPES_DATA', PIPE_DATA_ENTRY, { extra: 'pipe-data' }),
};
const BY_PREFIX: Readonly<Record<string, ImageKind>> = {
  core: kind('CORE', CORE_ENTRY),
  ids: kind('IDS', TASK_KOBJ_IDS_ENTRY),
  fs: kind('FS', FS_ENTRY),
  mm: kind('MM', MM_ENTRY),
  pagemap: kind('PAGEMAP', PAGEMAP_ENTRY, { head: PAGEMAP_HEAD }),
  fdinfo: kind('FDINFO', FDINFO_ENTRY),
  mountpoints: kind('MNTS', MNT_ENTRY),
  netns: kind('NETNS', NETNS_ENTRY),
  'ipcns-var': kind('IPC_VAR', IPC_VAR_ENTRY),
  utsns: kind('UTSNS', UTSNS_ENTRY),
  timens: kind('TIMENS', TIMENS_ENTRY),
};

/** The kind of a CRIU image file (`core-7.img`, `tcp-stream-1a2b.img`, `stats-dump`…); undefined for pages, tarballs and the like. */
export function imageKind(name: string): ImageKind | undefined {
  const known = BY_NAME[name];
  if (known) return known;
  if (/^tcp-stream-[0-9a-f]+\.img$/.test(name)) return kind('TCP_STREAM', TCP_STREAM_ENTRY, { extra: 'tcp-stream' });
  const m = /^([a-z-]+?)-\d+\.img$/.exec(name);
  return m ? BY_PREFIX[m[1]!] : undefined;
}

/**
 * A whole image: its header, then each entry as a length-prefixed record followed by its extra
 * bytes (tcp-stream: the receive then the send queue; pipes-data: the pipe's contents).
 */
export function encodeImage(name: string, entries: readonly ProtoMessage[], extras: readonly (Buffer | undefined)[] = []): Buffer {
  const k = imageKind(name);
  if (!k) throw new Error(`sim: ${name} is not a CRIU image we write`);
  const header =
    k.header === 'single' ? [u32le(MAGIC[k.magic])] : [u32le(k.header === 'service' ? MAGIC.IMG_SERVICE : MAGIC.IMG_COMMON), u32le(MAGIC[k.magic])];
  const body = entries.flatMap((e, i) => {
    const rec = record(encodeMessage(i === 0 && k.head ? k.head : k.entry, e));
    const extra = extras[i];
    return extra ? [rec, extra] : [rec];
  });
  return Buffer.concat([...header, ...body]);
}

// ---- Message encoders taking camelCase values, one per message. They predate the schemas and are
// kept for tests that build odd or old-layout images by hand; the sim's own dump uses encodeImage.

// ---- core.proto: task_kobj_ids_entry (also the whole of ids-<pid>.img) ----
export interface TaskKobjIds {
  vmId: number;
  filesId: number;
  fsId: number;
  sighandId: number;
  pidNsId?: number;
  netNsId?: number;
  ipcNsId?: number;
  utsNsId?: number;
  mntNsId?: number;
  userNsId?: number;
  cgroupNsId?: number;
}
export function encodeIds(i: TaskKobjIds): Buffer {
  return proto()
    .uint(1, i.vmId)
    .uint(2, i.filesId)
    .uint(3, i.fsId)
    .uint(4, i.sighandId)
    .uint(5, i.pidNsId)
    .uint(6, i.netNsId)
    .uint(7, i.ipcNsId)
    .uint(8, i.utsNsId)
    .uint(9, i.mntNsId)
    .uint(10, i.userNsId)
    .uint(11, i.cgroupNsId)
    .finish();
}

// ---- inventory.proto ----
export interface InventoryEntry {
  imgVersion: number;
  fdinfoPerId?: boolean;
  rootIds?: TaskKobjIds;
  nsPerId?: boolean;
  rootCgSet?: number;
  lsmtype?: number;
  dumpUptime?: Int;
}
export function encodeInventory(e: InventoryEntry): Buffer {
  return proto()
    .uint(1, e.imgVersion)
    .bool(2, e.fdinfoPerId)
    .message(3, e.rootIds && encodeIds(e.rootIds))
    .bool(4, e.nsPerId)
    .uint(5, e.rootCgSet)
    .uint(6, e.lsmtype)
    .uint(8, e.dumpUptime)
    .finish();
}

// ---- pstree.proto ----
export interface PstreeEntry {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  threads: number[];
}
export function encodePstree(p: PstreeEntry): Buffer {
  return proto().uint(1, p.pid).uint(2, p.ppid).uint(3, p.pgid).uint(4, p.sid).repeatedUint(5, p.threads).finish();
}

// ---- creds.proto ----
export interface CredsEntry {
  uid: number;
  gid: number;
  euid: number;
  egid: number;
  suid: number;
  sgid: number;
  fsuid: number;
  fsgid: number;
  capInh: number[];
  capPrm: number[];
  capEff: number[];
  capBnd: number[];
  secbits: number;
  groups: number[];
}
export function encodeCreds(c: CredsEntry): Buffer {
  return proto()
    .uint(1, c.uid)
    .uint(2, c.gid)
    .uint(3, c.euid)
    .uint(4, c.egid)
    .uint(5, c.suid)
    .uint(6, c.sgid)
    .uint(7, c.fsuid)
    .uint(8, c.fsgid)
    .repeatedUint(9, c.capInh)
    .repeatedUint(10, c.capPrm)
    .repeatedUint(11, c.capEff)
    .repeatedUint(12, c.capBnd)
    .uint(13, c.secbits)
    .repeatedUint(14, c.groups)
    .finish();
}

// ---- core.proto: task_core_entry, thread_core_entry; timer.proto, rlimit.proto, sa.proto ----
export interface Itimer {
  isec: Int;
  iusec: Int;
  vsec: Int;
  vusec: Int;
}
export interface SaEntry {
  sigaction: Int;
  flags: Int;
  restorer: Int;
  mask: Int;
  compatSigaction?: boolean;
}
export interface TaskCoreEntry {
  taskState: number;
  exitCode: number;
  personality: number;
  flags: number;
  blkSigset: Int;
  comm: string;
  timers?: { real: Itimer; virt: Itimer; prof: Itimer };
  rlimits?: { cur: Int; max: Int }[];
  cgSet?: number;
  signalsS?: true;
  loginuid?: number;
  oomScoreAdj?: number;
  sigactions?: SaEntry[];
  childSubreaper?: boolean;
}
const itimer = (t: Itimer) => proto().uint(1, t.isec).uint(2, t.iusec).uint(3, t.vsec).uint(4, t.vusec).finish();
export function encodeTaskCore(t: TaskCoreEntry): Buffer {
  return proto()
    .uint(1, t.taskState)
    .uint(2, t.exitCode)
    .uint(3, t.personality)
    .uint(4, t.flags)
    .uint(5, t.blkSigset)
    .string(6, t.comm)
    .message(7, t.timers && proto().message(1, itimer(t.timers.real)).message(2, itimer(t.timers.virt)).message(3, itimer(t.timers.prof)).finish())
    .message(
      8,
      t.rlimits &&
        proto()
          .repeatedMessage(
            1,
            t.rlimits.map((r) => proto().uint(1, r.cur).uint(2, r.max).finish()),
          )
          .finish(),
    )
    .uint(9, t.cgSet)
    .message(10, t.signalsS ? Buffer.alloc(0) : undefined)
    .uint(13, t.loginuid)
    .uint(14, t.oomScoreAdj)
    .repeatedMessage(
      15,
      t.sigactions?.map((s) => proto().uint(1, s.sigaction).uint(2, s.flags).uint(3, s.restorer).uint(4, s.mask).bool(5, s.compatSigaction).finish()),
    )
    .bool(18, t.childSubreaper)
    .finish();
}

export interface ThreadCoreEntry {
  futexRla: Int;
  futexRlaLen: number;
  schedNice?: number;
  schedPolicy?: number;
  schedPrio?: number;
  sas?: { ssSp: Int; ssSize: Int; ssFlags: number };
  signalsP?: true;
  creds?: CredsEntry;
  comm?: string;
}
export function encodeThreadCore(t: ThreadCoreEntry): Buffer {
  return proto()
    .uint(1, t.futexRla)
    .uint(2, t.futexRlaLen)
    .sint(3, t.schedNice)
    .uint(4, t.schedPolicy)
    .uint(5, t.schedPrio)
    .message(7, t.sas && proto().uint(1, t.sas.ssSp).uint(2, t.sas.ssSize).uint(3, t.sas.ssFlags).finish())
    .message(9, t.signalsP ? Buffer.alloc(0) : undefined)
    .message(10, t.creds && encodeCreds(t.creds))
    .string(13, t.comm)
    .finish();
}

export interface CoreEntry {
  mtype: number;
  threadInfoX86?: Buffer;
  tc?: TaskCoreEntry;
  threadCore?: ThreadCoreEntry;
}
export function encodeCore(c: CoreEntry): Buffer {
  return proto()
    .uint(1, c.mtype)
    .message(2, c.threadInfoX86)
    .message(3, c.tc && encodeTaskCore(c.tc))
    .message(5, c.threadCore && encodeThreadCore(c.threadCore))
    .finish();
}

// ---- mm.proto / vma.proto ----
export interface VmaEntry {
  start: Int;
  end: Int;
  pgoff: Int;
  shmid: Int;
  prot: number;
  flags: number;
  status: number;
  fd: Int;
  madv?: Int;
  fdflags?: number;
}
export function encodeVma(v: VmaEntry): Buffer {
  return proto()
    .uint(1, v.start)
    .uint(2, v.end)
    .uint(3, v.pgoff)
    .uint(4, v.shmid)
    .uint(5, v.prot)
    .uint(6, v.flags)
    .uint(7, v.status)
    .sint(8, v.fd)
    .uint(9, v.madv)
    .uint(10, v.fdflags)
    .finish();
}
export interface MmEntry {
  mmStartCode: Int;
  mmEndCode: Int;
  mmStartData: Int;
  mmEndData: Int;
  mmStartStack: Int;
  mmStartBrk: Int;
  mmBrk: Int;
  mmArgStart: Int;
  mmArgEnd: Int;
  mmEnvStart: Int;
  mmEnvEnd: Int;
  exeFileId: number;
  mmSavedAuxv: Int[];
  vmas: VmaEntry[];
  dumpable?: number;
  thpDisabled?: boolean;
}
export function encodeMm(m: MmEntry): Buffer {
  return proto()
    .uint(1, m.mmStartCode)
    .uint(2, m.mmEndCode)
    .uint(3, m.mmStartData)
    .uint(4, m.mmEndData)
    .uint(5, m.mmStartStack)
    .uint(6, m.mmStartBrk)
    .uint(7, m.mmBrk)
    .uint(8, m.mmArgStart)
    .uint(9, m.mmArgEnd)
    .uint(10, m.mmEnvStart)
    .uint(11, m.mmEnvEnd)
    .uint(12, m.exeFileId)
    .repeatedUint(13, m.mmSavedAuxv)
    .repeatedMessage(14, m.vmas.map(encodeVma))
    .uint(15, m.dumpable)
    .bool(17, m.thpDisabled)
    .finish();
}

// ---- pagemap.proto ----
export function encodePagemapHead(pagesId: number): Buffer {
  return proto().uint(1, pagesId).finish();
}
export interface PagemapEntry {
  vaddr: Int;
  nrPages: number;
  inParent?: boolean;
  flags?: number;
}
/**
 * A pagemap entry in the form CRIU wrote before 4.2: the page count in field 2 (then called
 * `nr_pages`). Kept for the older dumps the reader must still read (the aarch64 sample, tests).
 */
export function encodePagemapEntry(e: PagemapEntry): Buffer {
  return proto().uint(1, e.vaddr).uint(2, e.nrPages).bool(3, e.inParent).uint(4, e.flags).finish();
}
/** Which layout a pagemap entry takes; callers choose, there is no default. */
export type PagemapForm = 'criu-4.2' | 'pre-4.2';
/**
 * A pagemap_entry value for encodeImage. CRIU 4.2 (criu/pagemap.c, afb2e6c3f) writes
 * `compat_nr_pages = 0` and the count in the uint64 field 5 `nr_pages`; before it, field 2 held the count.
 */
export function pagemapEntry(vaddr: Int, nrPages: number, flags: number | undefined, form: PagemapForm): ProtoMessage {
  return form === 'criu-4.2' ? { vaddr, compat_nr_pages: 0, flags, nr_pages: nrPages } : { vaddr, compat_nr_pages: nrPages, flags };
}

// ---- fown.proto, sk-opts.proto, regfile.proto, pipe.proto, sk-inet.proto, sk-unix.proto, fdinfo.proto ----
export interface Fown {
  uid: number;
  euid: number;
  signum: number;
  pidType: number;
  pid: number;
}
export const NO_FOWN: Fown = { uid: 0, euid: 0, signum: 0, pidType: 0, pid: 0 };
export function encodeFown(f: Fown): Buffer {
  return proto().uint(1, f.uid).uint(2, f.euid).uint(3, f.signum).uint(4, f.pidType).uint(5, f.pid).finish();
}
export interface SkOpts {
  sndbuf: number;
  rcvbuf: number;
  reuseaddr?: boolean;
}
export function encodeSkOpts(o: SkOpts): Buffer {
  return proto().uint(1, o.sndbuf).uint(2, o.rcvbuf).uint(3, 0).uint(4, 0).uint(5, 0).uint(6, 0).bool(7, o.reuseaddr).finish();
}
export interface RegFileEntry {
  id: number;
  flags: number;
  pos: Int;
  fown: Fown;
  name: string;
  mntId?: number;
  size?: Int;
  mode?: number;
}
export function encodeRegFile(r: RegFileEntry): Buffer {
  return proto()
    .uint(1, r.id)
    .uint(2, r.flags)
    .uint(3, r.pos)
    .message(5, encodeFown(r.fown))
    .string(6, r.name)
    .sint(7, r.mntId)
    .uint(8, r.size)
    .uint(10, r.mode)
    .finish();
}
export interface PipeEntry {
  id: number;
  pipeId: number;
  flags: number;
  fown: Fown;
}
export function encodePipe(p: PipeEntry): Buffer {
  return proto().uint(1, p.id).uint(2, p.pipeId).uint(3, p.flags).message(4, encodeFown(p.fown)).finish();
}
export interface InetSkEntry {
  id: number;
  ino: number;
  family: number;
  type: number;
  proto: number;
  state: number;
  srcPort: number;
  dstPort: number;
  flags: number;
  backlog: number;
  srcAddr: string;
  dstAddr: string;
  fown: Fown;
  opts: SkOpts;
}
/** An IPv4 address as CRIU stores it: the network-order bytes memcpy'd into a host (LE) uint32. */
export function ipv4Word(addr: string): number {
  const b = Buffer.from(addr.split('.').map((x) => Number(x)));
  if (b.length !== 4) throw new Error(`not an IPv4 address: ${addr}`);
  return b.readUInt32LE(0);
}
export function encodeInetSk(s: InetSkEntry): Buffer {
  return proto()
    .uint(1, s.id)
    .uint(2, s.ino)
    .uint(3, s.family)
    .uint(4, s.type)
    .uint(5, s.proto)
    .uint(6, s.state)
    .uint(7, s.srcPort)
    .uint(8, s.dstPort)
    .uint(9, s.flags)
    .uint(10, s.backlog)
    .repeatedUint(11, [ipv4Word(s.srcAddr)])
    .repeatedUint(12, [ipv4Word(s.dstAddr)])
    .message(13, encodeFown(s.fown))
    .message(14, encodeSkOpts(s.opts))
    .finish();
}
export interface UnixSkEntry {
  id: number;
  ino: number;
  type: number;
  state: number;
  flags: number;
  uflags: number;
  backlog: number;
  peer: number;
  fown: Fown;
  opts: SkOpts;
  name: Buffer;
}
export function encodeUnixSk(s: UnixSkEntry): Buffer {
  return proto()
    .uint(1, s.id)
    .uint(2, s.ino)
    .uint(3, s.type)
    .uint(4, s.state)
    .uint(5, s.flags)
    .uint(6, s.uflags)
    .uint(7, s.backlog)
    .uint(8, s.peer)
    .message(9, encodeFown(s.fown))
    .message(10, encodeSkOpts(s.opts))
    .bytes(11, s.name)
    .finish();
}
export type FileEntry =
  | { type: typeof FD_TYPE.REG; id: number; reg: RegFileEntry }
  | { type: typeof FD_TYPE.INETSK; id: number; isk: InetSkEntry }
  | { type: typeof FD_TYPE.UNIXSK; id: number; usk: UnixSkEntry }
  | { type: typeof FD_TYPE.PIPE; id: number; pipe: PipeEntry };
export function encodeFileEntry(f: FileEntry): Buffer {
  const w = proto().uint(1, f.type).uint(2, f.id);
  switch (f.type) {
    case FD_TYPE.REG:
      return w.message(3, encodeRegFile(f.reg)).finish();
    case FD_TYPE.INETSK:
      return w.message(4, encodeInetSk(f.isk)).finish();
    case FD_TYPE.UNIXSK:
      return w.message(16, encodeUnixSk(f.usk)).finish();
    case FD_TYPE.PIPE:
      return w.message(18, encodePipe(f.pipe)).finish();
  }
}
export interface FdinfoEntry {
  id: number;
  flags: number;
  type: number;
  fd: number;
}
export function encodeFdinfo(f: FdinfoEntry): Buffer {
  return proto().uint(1, f.id).uint(2, f.flags).uint(3, f.type).uint(4, f.fd).finish();
}

// ---- fs.proto ----
export function encodeFs(f: { cwdId: number; rootId: number; umask?: number }): Buffer {
  return proto().uint(1, f.cwdId).uint(2, f.rootId).uint(3, f.umask).finish();
}

// ---- stats.proto (dump_stats_entry inside stats_entry.dump) ----
export interface DumpStats {
  freezingTime: number;
  frozenTime: number;
  memdumpTime: number;
  memwriteTime: number;
  pagesScanned: Int;
  pagesSkippedParent: Int;
  pagesWritten: Int;
  irmapResolve?: number;
  pagesLazy: Int;
  pagePipes?: Int;
  pagePipeBufs?: Int;
  shpagesScanned?: Int;
  shpagesSkippedParent?: Int;
  shpagesWritten?: Int;
}
export function encodeStats(d: DumpStats): Buffer {
  const dump = proto()
    .uint(1, d.freezingTime)
    .uint(2, d.frozenTime)
    .uint(3, d.memdumpTime)
    .uint(4, d.memwriteTime)
    .uint(5, d.pagesScanned)
    .uint(6, d.pagesSkippedParent)
    .uint(7, d.pagesWritten)
    .uint(8, d.irmapResolve)
    .uint(9, d.pagesLazy)
    .uint(10, d.pagePipes)
    .uint(11, d.pagePipeBufs)
    .uint(12, d.shpagesScanned)
    .uint(13, d.shpagesSkippedParent)
    .uint(14, d.shpagesWritten)
    .finish();
  return proto().message(1, dump).finish();
}
