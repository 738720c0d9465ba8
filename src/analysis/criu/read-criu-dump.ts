/**
 * The images of a checkpoint's `checkpoint/` folder, joined into processes (criu/cr-restore.c
 * reads them the same way): pstree → per process core-<pid> (task state, comm, creds, arch),
 * ids-<pid> (or core's ids) → fdinfo-<files_id> (fdinfo-<pid> before inventory's fdinfo_per_id)
 * → files.img; fs-<pid> → cwd/root; mm-<pid> → memory layout and exe; pagemap-<pid> → where each
 * run of pages lives in pages-<pages_id>.img.
 *
 * Damage never throws: a missing or broken image is a warning naming it, and the rest is still
 * read. Images we do not use (cgroup, seccomp, tty-info, timens, …) are ignored.
 */
import type { AnalysisWarning, CriuDumpModel, CriuFd, CriuFile, CriuProcess, CriuSocket, DumpStatsInfo, MmInfo, PageRun, Pagemap } from './criu-model.js';
import { decodeImage, type DecodedImage } from './decode-criu-image.js';
import {
  MARCH_NAMES,
  PE,
  pagemapEntryPages,
  TASK_STATES,
  type CoreEntry,
  type CredsEntry,
  type FsEntry,
  type InventoryEntry,
  type MmEntry,
  type PagemapEntry,
  type PstreeEntry,
  type StatsEntry,
  type TaskKobjIdsEntry,
} from './criu-messages.js';
import { FD_TYPES, LEGACY_FILE_IMAGES, type FdinfoEntry, type FileEntry, type MemfdInodeEntry } from './criu-file-messages.js';
import type { SkPacketEntry, TcpStreamEntry } from './criu-socket-messages.js';
import { resolveCriuFile } from './resolve-criu-file.js';
import { safeNumber, type DecodedMessage, type U64 } from './proto-reader.js';

export { decodeImage, type DecodedImage } from './decode-criu-image.js';

const PAGE_SIZE = 4096;

/** A number from a decoded field, or undefined when absent or not exact in a double. */
const num = (v: unknown): number | undefined => (typeof v === 'number' || typeof v === 'bigint' ? safeNumber(v as U64) : undefined);

/** The images of one dump, decoded on first use; each image's warnings are reported once. */
class DumpImages {
  private readonly decoded = new Map<string, DecodedImage | null>();
  constructor(
    private readonly images: ReadonlyMap<string, Buffer>,
    private readonly dir: string,
    readonly warnings: AnalysisWarning[],
  ) {}

  path(name: string): string {
    return `${this.dir}/${name}`;
  }
  has(name: string): boolean {
    return this.images.has(name);
  }

  get(name: string): DecodedImage | undefined {
    let d = this.decoded.get(name);
    if (d === undefined) {
      const data = this.images.get(name);
      d = data ? decodeImage(name, data, this.path(name)) : null;
      if (d) this.warnings.push(...d.warnings);
      this.decoded.set(name, d);
    }
    return d ?? undefined;
  }

  /** The records of an image; a warning when it is absent and `what` says why it was wanted. */
  records<T>(name: string, what?: string): T[] | undefined {
    const d = this.get(name);
    if (!d) {
      if (what) this.warn(name, `missing from the checkpoint: ${what}`);
      return undefined;
    }
    return d.records as unknown as T[];
  }

  warn(name: string, message: string, offset?: number): void {
    this.warnings.push({ file: this.path(name), message, ...(offset !== undefined && { offset }) });
  }
}

/** files.img (or the older per-type images): file id → entry, resolved lazily. */
class FileTable {
  private readonly entries = new Map<number, FileEntry>();
  private readonly memfd = new Map<number, string>();
  private readonly resolved = new Map<number, CriuFile>();
  /** sk-queues.img: bytes queued per socket file id */
  private readonly queued = new Map<number, number>();
  constructor(private readonly img: DumpImages) {
    const add = (e: FileEntry, name: string, offset?: number) => {
      if (typeof e.id !== 'number') return;
      if (this.entries.has(e.id)) img.warn(name, `file id ${e.id} appears twice; the first entry is kept`, offset);
      else this.entries.set(e.id, e);
    };
    const files = img.get('files.img');
    files?.records.forEach((r, i) => add(r as unknown as FileEntry, 'files.img', files.offsets[i]));
    for (const [base, { type, key }] of Object.entries(LEGACY_FILE_IMAGES)) {
      const legacy = img.get(`${base}.img`);
      if (!legacy) continue;
      legacy.records.forEach((r, i) => add({ type, id: r.id as number, [key]: r } as unknown as FileEntry, `${base}.img`, legacy.offsets[i]));
    }
    for (const m of img.records<MemfdInodeEntry>('memfd.img') ?? []) {
      const id = num(m.inode_id);
      if (id !== undefined && typeof m.name === 'string') this.memfd.set(id, m.name);
    }
    for (const p of img.records<SkPacketEntry>('sk-queues.img') ?? []) {
      if (typeof p.id_for === 'number' && typeof p.length === 'number') this.queued.set(p.id_for, (this.queued.get(p.id_for) ?? 0) + p.length);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  file(id: number): CriuFile | undefined {
    const done = this.resolved.get(id);
    if (done) return done;
    const e = this.entries.get(id);
    if (!e) return undefined;
    const { file, problem } = resolveCriuFile(e, { file: (i) => this.entries.get(i), memfdName: (i) => this.memfd.get(i) });
    if (problem) this.img.warn('files.img', problem);
    if (file.socket) this.addQueues(file.id, file.socket);
    this.resolved.set(id, file);
    return file;
  }

  /** What was waiting in a socket's queues: a connected TCP socket's tcp-stream image, or sk-queues. */
  private addQueues(id: number, s: CriuSocket): void {
    const queued = this.queued.get(id);
    if (queued !== undefined) s.inQueueBytes = queued;
    if (s.kind !== 'inet' || s.protocol !== 'tcp') return;
    // Only with --tcp-established does CRIU dump a connection's stream; without it there is no image.
    const stream = this.img.records<TcpStreamEntry>(`tcp-stream-${s.inode.toString(16)}.img`)?.[0];
    if (!stream) return;
    if (typeof stream.inq_len === 'number') s.inQueueBytes = stream.inq_len;
    if (typeof stream.outq_len === 'number') s.outQueueBytes = stream.outq_len;
    if (typeof stream.unsq_len === 'number') s.unsentQueueBytes = stream.unsq_len;
  }

  path(id: number | undefined): string | undefined {
    return id === undefined ? undefined : this.file(id)?.path;
  }
}

/** An mm_entry as the model holds it (the memory layouts read before the process tree use it too). */
export function mmInfo(m: MmEntry): MmInfo {
  const n = (v: unknown) => num(v) ?? 0;
  return {
    argStart: n(m.mm_arg_start),
    argEnd: n(m.mm_arg_end),
    envStart: n(m.mm_env_start),
    envEnd: n(m.mm_env_end),
    startCode: n(m.mm_start_code),
    endCode: n(m.mm_end_code),
    startBrk: n(m.mm_start_brk),
    brk: n(m.mm_brk),
    ...(typeof m.exe_file_id === 'number' && { exeFileId: m.exe_file_id }),
    vmas: (m.vmas ?? []).map((v) => ({
      start: n(v.start),
      end: n(v.end),
      pgoff: n(v.pgoff),
      prot: n(v.prot),
      flags: n(v.flags),
      status: n(v.status),
      shmid: n(v.shmid),
      fd: typeof v.fd === 'number' ? v.fd : -1,
    })),
  };
}

/**
 * One pagemap entry as a run at `offset`, and how far it moves the pages-file offset.
 * criu/pagemap.c: an old entry's `in_parent` means PE_PARENT and an entry without flags means
 * PE_PRESENT (init_compat_pagemap_entry); the pages-N.img offset advances only over entries
 * with PE_PRESENT (skip_pagemap_pages). PE_PARENT pages live in the parent checkpoint; PE_LAZY
 * without PE_PRESENT were left for the lazy-pages daemon; PE_LAZY | PE_PRESENT are in the file.
 */
export function pageRunOf(e: Pick<PagemapEntry, 'flags' | 'in_parent'>, vaddr: number, nrPages: number, offset: number): { run: PageRun; advance: number } {
  let flags = e.flags ?? 0;
  if (e.in_parent === true) flags |= PE.PARENT;
  else if (e.flags === undefined) flags = PE.PRESENT;
  const present = (flags & PE.PRESENT) !== 0;
  const inParent = (flags & PE.PARENT) !== 0;
  return {
    run: { vaddr, nrPages, offset, inParent, lazy: (flags & PE.LAZY) !== 0, inFile: present && !inParent, flags },
    advance: present ? nrPages * PAGE_SIZE : 0,
  };
}

function pagemapOf(records: DecodedMessage[], offsets: number[], name: string, img: DumpImages): Pagemap | undefined {
  const pagesId = num(records[0]?.pages_id);
  if (pagesId === undefined) {
    img.warn(name, 'no pagemap head (pages_id): the process memory cannot be located', offsets[0]);
    return undefined;
  }
  const runs: PageRun[] = [];
  let offset = 0;
  let prevEnd = 0;
  for (let i = 1; i < records.length; i++) {
    const e = records[i] as unknown as PagemapEntry;
    const vaddr = num(e.vaddr);
    const nrPages = num(pagemapEntryPages(e));
    if (vaddr === undefined || nrPages === undefined) {
      // Without the size of this run, no later offset can be trusted.
      img.warn(name, `pagemap entry ${i} lacks vaddr or nr_pages; the ${records.length - i} entries from here are dropped`, offsets[i]);
      break;
    }
    if (vaddr % PAGE_SIZE !== 0 || vaddr < prevEnd)
      img.warn(name, `pagemap entry ${i} at 0x${vaddr.toString(16)} is ${vaddr < prevEnd ? 'out of order' : 'not page-aligned'}`, offsets[i]);
    const { run, advance } = pageRunOf(e, vaddr, nrPages, offset);
    runs.push(run);
    offset += advance;
    prevEnd = Math.max(prevEnd, vaddr + nrPages * PAGE_SIZE);
  }
  return { pagesId, runs };
}

interface DumpContext {
  img: DumpImages;
  files: FileTable;
  inventory?: InventoryEntry;
}

function readProcess(entry: PstreeEntry, ctx: DumpContext): CriuProcess {
  const { img, files } = ctx;
  const pid = entry.pid;
  const proc: CriuProcess = { pid, ppid: num(entry.ppid) ?? 0, pgid: num(entry.pgid) ?? 0, sid: num(entry.sid) ?? 0, threads: entry.threads ?? [], fds: [] };

  const core = img.records<CoreEntry>(`core-${pid}.img`, `the core of process ${pid} (comm, state, registers)`)?.[0];
  if (core) {
    if (typeof core.tc?.comm === 'string') proc.comm = core.tc.comm;
    if (typeof core.tc?.task_state === 'number') proc.state = TASK_STATES[core.tc.task_state] ?? `state-${core.tc.task_state}`;
    proc.arch = MARCH_NAMES[core.mtype] ?? (core.thread_info ? 'x86_64' : core.ti_aarch64 ? 'aarch64' : 'unknown');
  }
  // Creds moved from creds-<pid>.img into the thread core in CRIU 2.x.
  const creds = core?.thread_core?.creds ?? img.records<CredsEntry>(`creds-${pid}.img`)?.[0];
  if (creds) proc.creds = { uid: creds.uid, gid: creds.gid, euid: creds.euid, egid: creds.egid };

  // A zombie or dead task has no memory, files or fs left to dump.
  const gone = proc.state === 'zombie' || proc.state === 'dead';
  const want = (what: string) => (gone ? undefined : what);

  const ids = img.records<TaskKobjIdsEntry>(`ids-${pid}.img`)?.[0] ?? core?.ids;
  if (!ids && !gone)
    img.warn(
      `ids-${pid}.img`,
      `missing from the checkpoint: the ids of process ${pid} (neither ids-${pid}.img nor its core has them), so its open files are unknown`,
    );
  const fdinfoName = ids ? fdinfoImage(pid, ids, ctx) : undefined;
  const fdinfo = fdinfoName ? img.records<FdinfoEntry>(fdinfoName, want(`the open files of process ${pid}`)) : undefined;
  for (const f of fdinfo ?? []) {
    if (typeof f.fd !== 'number' || typeof f.id !== 'number') continue;
    const file = files.file(f.id);
    if (!file)
      img.warn(fdinfoName!, `fd ${f.fd} of process ${pid} refers to file ${f.id}, which ${files.size ? 'files.img does not hold' : 'no files image holds'}`);
    proc.fds.push({ fd: f.fd, file: file ?? { id: f.id, kind: 'other', type: FD_TYPES[f.type] ?? `type-${f.type}` } } satisfies CriuFd);
  }
  proc.fds.sort((a, b) => a.fd - b.fd);

  const fs = img.records<FsEntry>(`fs-${pid}.img`, want(`the cwd and root of process ${pid}`))?.[0];
  const cwd = files.path(fs?.cwd_id),
    root = files.path(fs?.root_id);
  if (cwd !== undefined) proc.cwd = cwd;
  if (root !== undefined) proc.root = root;

  const mm = img.records<MmEntry>(`mm-${pid}.img`, want(`the memory layout of process ${pid} (argv, env, exe)`))?.[0];
  if (mm) {
    proc.mm = mmInfo(mm);
    const exe = files.path(proc.mm.exeFileId);
    if (exe !== undefined) proc.exe = exe;
  }
  const pm = img.get(`pagemap-${pid}.img`);
  if (pm) {
    const pagemap = pagemapOf(pm.records, pm.offsets, `pagemap-${pid}.img`, img);
    if (pagemap) proc.pagemap = pagemap;
  } else if (!gone) img.warn(`pagemap-${pid}.img`, `missing from the checkpoint: the page map of process ${pid}, so its memory cannot be read`);
  return proc;
}

/** criu/files.c prepare_fd_pid: per files_id since inventory's fdinfo_per_id, per pid before. */
function fdinfoImage(pid: number, ids: TaskKobjIdsEntry, ctx: DumpContext): string {
  const perId = `fdinfo-${ids.files_id}.img`,
    perPid = `fdinfo-${pid}.img`;
  const flag = ctx.inventory?.fdinfo_per_id;
  if (flag === true) return perId;
  if (flag === false) return perPid;
  return ctx.img.has(perId) || !ctx.img.has(perPid) ? perId : perPid;
}

/** Walks each parent chain; a chain that comes back to where it started is a cycle. */
function findCycles(procs: readonly CriuProcess[]): number[][] {
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const seen = new Set<number>();
  const cycles: number[][] = [];
  for (const start of procs) {
    const path: number[] = [];
    const onPath = new Set<number>();
    for (let p: CriuProcess | undefined = start; p && !seen.has(p.pid); p = byPid.get(p.ppid)) {
      if (onPath.has(p.pid)) {
        cycles.push(path.slice(path.indexOf(p.pid)));
        break;
      }
      onPath.add(p.pid);
      path.push(p.pid);
    }
    for (const pid of path) seen.add(pid);
  }
  return cycles;
}

function readProcesses(ctx: DumpContext): CriuProcess[] {
  const { img } = ctx;
  const tree = img.get('pstree.img');
  if (!tree) {
    img.warn('pstree.img', 'missing from the checkpoint: the process tree, so no process can be read');
    return [];
  }
  const procs: CriuProcess[] = [];
  const pids = new Set<number>();
  tree.records.forEach((r, i) => {
    const e = r as unknown as PstreeEntry;
    if (typeof e.pid !== 'number' || e.pid === 0) return void img.warn('pstree.img', `pstree entry ${i} has no valid pid; skipped`, tree.offsets[i]);
    if (pids.has(e.pid)) return void img.warn('pstree.img', `pid ${e.pid} appears twice in the process tree; the first entry is kept`, tree.offsets[i]);
    pids.add(e.pid);
    procs.push(readProcess(e, ctx));
  });
  for (const c of findCycles(procs)) img.warn('pstree.img', `the process tree has a cycle: ${[...c, c[0]].join(' → ')} (each the parent of the next)`);
  return procs;
}

/** stats-dump (the top-level file of a container checkpoint, not an image in checkpoint/). */
export function readStatsDump(data: Buffer, file = 'stats-dump'): { stats?: DumpStatsInfo; warnings: AnalysisWarning[] } {
  const d = decodeImage('stats-dump', data, file);
  const warnings = [...d.warnings];
  const dump = (d.records[0] as StatsEntry | undefined)?.dump;
  if (!dump) {
    if (d.records.length === 0 && warnings.length === 0) warnings.push({ file, message: 'no stats record' });
    return { warnings };
  }
  const stats: DumpStatsInfo = {};
  const set = (key: keyof DumpStatsInfo, v: unknown) => {
    const n = num(v);
    if (n !== undefined) stats[key] = n;
  };
  set('freezingTimeUs', dump.freezing_time);
  set('frozenTimeUs', dump.frozen_time);
  set('memdumpTimeUs', dump.memdump_time);
  set('memwriteTimeUs', dump.memwrite_time);
  set('pagesScanned', dump.pages_scanned);
  set('pagesSkippedParent', dump.pages_skipped_parent);
  set('pagesWritten', dump.pages_written);
  set('pagesLazy', dump.pages_lazy);
  return { stats, warnings };
}

/**
 * The path of each file id of the dump's files table (a file-backed VMA's `shmid` names one), for a
 * reader that wants no more of the dump; readCriuDump reports the table's damage.
 */
export function filePathsOf(images: ReadonlyMap<string, Buffer>): (id: number) => string | undefined {
  const table = new FileTable(new DumpImages(images, 'checkpoint', []));
  return (id) => table.path(id);
}

/**
 * Reads a checkpoint folder's images. `images` maps base names (`pstree.img`, `core-7.img`, …;
 * not the raw `pages-*.img`) to their bytes; warnings name `${dir}/${name}` (dir defaults to
 * `checkpoint`). `statsDump` is the archive's top-level `stats-dump`.
 */
export function readCriuDump(images: ReadonlyMap<string, Buffer>, opts: { statsDump?: Buffer; dir?: string } = {}): CriuDumpModel {
  const warnings: AnalysisWarning[] = [];
  const img = new DumpImages(images, opts.dir ?? 'checkpoint', warnings);
  const inventory = img.records<InventoryEntry>('inventory.img', 'the inventory (image version, fdinfo layout)')?.[0];
  const files = new FileTable(img);
  const processes = readProcesses({ img, files, ...(inventory && { inventory }) });
  if (processes.length > 0 && files.size === 0 && !img.has('files.img'))
    img.warn('files.img', 'missing from the checkpoint: the files table, so open files, cwd and exe cannot be resolved');
  const model: CriuDumpModel = { processes, warnings };
  if (typeof inventory?.img_version === 'number') model.imgVersion = inventory.img_version;
  if (opts.statsDump) {
    const s = readStatsDump(opts.statsDump);
    if (s.stats) model.stats = s.stats;
    warnings.push(...s.warnings);
  }
  return model;
}
