import type { AnalysisWarning, DumpStatsInfo } from './criu-model.js';

/**
 * What `amber inspect --json` prints and `report.json` carries (plus `indicators`). Built by
 * inspect-checkpoint.ts from one checkpoint archive, streamed.
 */
export interface ContainerFacts {
  /** `cri-o` | `containerd` (from the archive's layout) */
  runtime?: string;
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
}

export interface InspectedFile { fd: number; kind: string; path?: string; mode?: string; flags?: number; pipeId?: number }

export interface InspectedSocket {
  fd: number; kind: string; family?: string; protocol?: string; state?: string; type?: string;
  local?: string; remote?: string; path?: string; inode: number; peer?: number;
}

export interface InspectedProcess {
  pid: number; ppid: number; comm: string; threads: number[];
  state?: string; uid?: number; exe?: string;
  cmdline: string[]; env: string[];
  cwd?: string; root?: string;
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
