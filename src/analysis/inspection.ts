import type { AnalysisWarning, DumpStatsInfo } from './criu/criu-model.js';
import type { Compression } from './archive/tar-walk.js';

/** The container engine that wrote the archive, told by the archive's contents (container-facts.ts). */
export type Engine = 'cri-o' | 'containerd' | 'podman';

/**
 * What `amber inspect --json` prints and `report.json` carries (plus `indicators`). Built by
 * inspect-checkpoint.ts from one checkpoint archive, streamed.
 */
export interface ContainerFacts {
  engine?: Engine;
  name?: string;
  id?: string;
  image?: string;
  imageRef?: string;
  pod?: string;
  namespace?: string;
  /** RFC 3339 */
  createdAt?: string;
  checkpointedAt?: string;
  arch?: string;
  /** the OCI runtime that ran the container (config.dump `runtime`: `crun`, `runc`, `io.containerd.runc.v2`) */
  ociRuntime?: string;
  /**
   * CRIU's version, from the `Version:` line of `dump.log` (CRI-O and containerd keep it; a Podman
   * export does not). No engine writes its own version into the archive.
   */
  criuVersion?: string;
  /** the container's first address: CRI-O's `io.kubernetes.cri-o.IP.0` annotation, or Podman's `network.status` */
  ip?: string;
  mac?: string;
  /** Podman: every network the container was attached to, from `network.status` */
  networks?: NetworkAttachment[];
  /** the OCI spec's annotations (`spec.dump`), as checkpointctl shows them under Metadata */
  annotations?: Record<string, string>;
}

export interface NetworkAttachment {
  network: string;
  interface: string;
  /** CIDR, e.g. `10.88.0.5/16` */
  addresses: string[];
  mac?: string;
  gateway?: string;
}

/** One mount of the OCI spec (`spec.dump` `mounts[]`), as checkpointctl's "Overview of mounts" lists them. */
export interface MountInfo {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

/**
 * Sizes from the archive's tar headers, computed as checkpointctl computes them: every regular
 * file under `checkpoint/` (the CRIU images, pages included), the `checkpoint/pages-*` files among
 * them, and the `rootfs-diff.tar` member as stored (compressed when the engine compressed it).
 */
export interface CheckpointSize {
  totalBytes: number;
  memoryPagesBytes: number;
  rootfsDiffBytes: number;
}

export interface InspectedFile {
  fd: number;
  kind: string;
  path?: string;
  mode?: string;
  flags?: number;
  pipeId?: number;
}

export interface InspectedSocket {
  fd: number;
  kind: string;
  family?: string;
  protocol?: string;
  state?: string;
  type?: string;
  local?: string;
  remote?: string;
  path?: string;
  inode: number;
  peer?: number;
  /** SO_SNDBUF / SO_RCVBUF, bytes */
  sendBuffer?: number;
  recvBuffer?: number;
  /** TCP: bytes queued (received and unread, sent and unacknowledged, not yet sent) at the checkpoint */
  recvQueue?: number;
  sendQueue?: number;
  unsentQueue?: number;
}

export interface InspectedProcess {
  pid: number;
  ppid: number;
  comm: string;
  threads: number[];
  /** `alive`, `stopped`, `zombie`, `dead` (CRIU's task_state) */
  state?: string;
  uid?: number;
  exe?: string;
  cmdline: string[];
  env: string[];
  cwd?: string;
  root?: string;
  files: InspectedFile[];
  sockets: InspectedSocket[];
}

export interface RootfsChange {
  path: string;
  /** `file` | `dir` | `symlink` | `hardlink` | `other` */
  type: string;
  size: number;
  /** octal, e.g. `0755` */
  mode: string;
  sha256?: string;
  executable: boolean;
  linkTarget?: string;
}

export interface Inspection {
  container: ContainerFacts;
  processes: InspectedProcess[];
  rootfsDiff: { added: RootfsChange[]; deleted: string[] };
  // The next three are always set by inspectCheckpoint; optional so that an Inspection made by
  // hand (a test, a report.json written before they existed) is still one.
  mounts?: MountInfo[];
  checkpointSize?: CheckpointSize;
  /** how the archive itself was compressed (told by its magic bytes) */
  compression?: Compression;
  stats: DumpStatsInfo;
  warnings: AnalysisWarning[];
}

export interface MemoryMatch {
  pid: number;
  /** virtual address of the match, `0x…` */
  address: string;
  /** the surrounding bytes, printable ASCII kept and the rest as `.` */
  context: string;
}
