/**
 * What the CRIU image reader (read-criu-dump.ts) makes of a checkpoint's `checkpoint/` folder:
 * the decoded facts, joined across images (pstree + core + mm + pagemap + files/fdinfo + fs).
 * Addresses are numbers: user-space addresses (< 2^48) are exact in a double.
 */
export interface AnalysisWarning {
  /** file inside the archive (e.g. `checkpoint/mm-7.img`) or the input itself */
  file: string;
  /** byte offset in that file where the problem starts, when known */
  offset?: number;
  message: string;
}

export interface Vma {
  start: number;
  end: number;
  pgoff: number;
  prot: number;
  flags: number;
  status: number;
  shmid: number;
  fd: number;
}

export interface MmInfo {
  argStart: number;
  argEnd: number;
  envStart: number;
  envEnd: number;
  startCode: number;
  endCode: number;
  startBrk: number;
  brk: number;
  exeFileId?: number;
  vmas: Vma[];
}

/** One run of present pages: `nrPages` pages from `vaddr`, stored at `offset` in `pages-<pagesId>.img`. */
export interface PageRun {
  vaddr: number;
  nrPages: number;
  offset: number;
  inParent: boolean;
  lazy: boolean;
  /**
   * Whether the run's bytes are in this dump's pages file (PE_PRESENT and not PE_PARENT). Runs
   * with `inParent` live in the parent checkpoint; `lazy` alone (PE_LAZY without PE_PRESENT) were
   * never written. `lazy` with `inFile` (PE_LAZY | PE_PRESENT) is common and IS in the file.
   * The reader always sets it.
   */
  inFile?: boolean;
  /** the entry's PE_* flags (PE_PARENT 1, PE_LAZY 2, PE_PRESENT 4), old `in_parent` entries converted as CRIU does */
  flags?: number;
}

export interface Pagemap {
  pagesId: number;
  runs: PageRun[];
}

export type FileKind = 'file' | 'dir' | 'pipe' | 'fifo' | 'socket' | 'tty' | 'eventfd' | 'epoll' | 'memfd' | 'other';

/** A files.img entry, resolved to what an analyst needs. */
export interface CriuFile {
  id: number;
  kind: FileKind;
  /** regular files, directories, memfd (`memfd:<name>`), unix socket paths */
  path?: string;
  mode?: number;
  size?: number;
  flags?: number;
  pipeId?: number;
  socket?: CriuSocket;
  /** CRIU's fd type name when it is not one we decode (e.g. `SIGNALFD`) */
  type?: string;
}

export interface CriuSocket {
  kind: 'inet' | 'unix' | 'netlink' | 'packet' | 'other';
  inode: number;
  /** `ipv4` | `ipv6` for inet */
  family?: 'ipv4' | 'ipv6';
  /** `tcp` | `udp` | `raw` | … */
  protocol?: string;
  /** `ESTABLISHED`, `LISTEN`, … (TCP states by number, as the kernel numbers them) */
  state?: string;
  localAddress?: string;
  localPort?: number;
  remoteAddress?: string;
  remotePort?: number;
  /** unix: bound path (abstract names start with `@`) */
  path?: string;
  /** unix: the peer socket's inode */
  peer?: number;
  /** SOCK_STREAM | SOCK_DGRAM | … as `stream` | `dgram` | `seqpacket` | `raw` */
  type?: string;
  /** SO_SNDBUF / SO_RCVBUF (sk-opts), as getsockopt returns them (the kernel doubles what was set) */
  sendBufferBytes?: number;
  recvBufferBytes?: number;
  /**
   * Bytes waiting in the socket's queues when it was dumped: TCP from `tcp-stream-<inode>.img`
   * (inq_len, outq_len, and of outq the unsent unsq_len; only with --tcp-established), unix and
   * packet sockets from `sk-queues.img` (the receive queue).
   */
  inQueueBytes?: number;
  outQueueBytes?: number;
  unsentQueueBytes?: number;
}

export interface CriuFd {
  fd: number;
  file: CriuFile;
}

export interface CriuProcess {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  threads: number[];
  comm?: string;
  /** `alive` | `dead` | `stopped` | `zombie` | … from task_state */
  state?: string;
  arch?: 'x86_64' | 'aarch64' | 'arm' | 'ppc64' | 's390' | 'mips' | 'loongarch64' | 'riscv64' | 'unknown';
  creds?: { uid: number; gid: number; euid: number; egid: number };
  /** the executable (from mm.exe_file_id → files.img) */
  exe?: string;
  cwd?: string;
  root?: string;
  mm?: MmInfo;
  pagemap?: Pagemap;
  fds: CriuFd[];
}

export interface DumpStatsInfo {
  /** microseconds, as CRIU counts them */
  freezingTimeUs?: number;
  frozenTimeUs?: number;
  memdumpTimeUs?: number;
  memwriteTimeUs?: number;
  pagesScanned?: number;
  pagesSkippedParent?: number;
  pagesWritten?: number;
  pagesLazy?: number;
}

export interface CriuDumpModel {
  imgVersion?: number;
  processes: CriuProcess[];
  /** the dump's stats from `stats-dump` when it was passed in */
  stats?: DumpStatsInfo;
  warnings: AnalysisWarning[];
}
