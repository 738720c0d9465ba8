/**
 * What changed between two checkpoints (`amber diff A B`): the container's facts, its mounts, its
 * processes (matched by pid: CRIU restores a process tree with the pids it dumped), their command
 * lines, environments, open files and sockets, and the filesystem changes.
 *
 * Kernel object ids are not compared: pipe and socket inode numbers (and files.img ids) are new
 * after every restore and say nothing about the container. Facts about the checkpoint itself
 * (when it was taken, how long the container was frozen, the archive's sizes and compression)
 * are shown side by side but are not changes: two checkpoints of an idle container differ there.
 */
import type { AnalysisWarning } from './criu/criu-model.js';
import type { ContainerFacts, InspectedFile, InspectedProcess, InspectedSocket, Inspection, MountInfo, RootfsChange } from './inspection.js';

/** How the two checkpoints' containers relate, and why we think so. */
export type Kinship = 'same-container' | 'same-name' | 'same-processes' | 'different-containers';

export interface FieldChange {
  field: string;
  a?: unknown;
  b?: unknown;
}
export interface Changed<K, T> {
  key: K;
  a: T;
  b: T;
}
export interface Changes<K, T> {
  added: T[];
  removed: T[];
  changed: Changed<K, T>[];
}

export interface ProcessSummary {
  pid: number;
  ppid: number;
  comm: string;
  cmdline: string[];
}

export interface ProcessDiff {
  pid: number;
  comm: string;
  fields: FieldChange[];
  env: Changes<string, string>;
  files: Changes<number, Omit<InspectedFile, 'pipeId'>>;
  sockets: Changes<number, Omit<InspectedSocket, 'inode' | 'peer' | 'sendBuffer' | 'recvBuffer'>>;
}

export interface CheckpointSide {
  container: Pick<ContainerFacts, 'engine' | 'name' | 'id' | 'pod' | 'namespace' | 'checkpointedAt'>;
  processes: number;
  warnings: AnalysisWarning[];
}

export interface InspectionDiff {
  kinship: { verdict: Kinship; reason: string };
  /** no change in the container, its mounts, its processes or its filesystem */
  same: boolean;
  a: CheckpointSide;
  b: CheckpointSide;
  container: FieldChange[];
  mounts: Changes<string, MountInfo>;
  processes: { added: ProcessSummary[]; removed: ProcessSummary[]; changed: ProcessDiff[] };
  filesystem: Changes<string, RootfsChange> & { deleted: { added: string[]; removed: string[] } };
  /** about the checkpoints, not the container: shown, never counted as a change */
  checkpoint: FieldChange[];
}

const CONTAINER_FIELDS = ['engine', 'name', 'id', 'image', 'imageRef', 'pod', 'namespace', 'createdAt', 'ociRuntime', 'arch', 'ip', 'mac'] as const;
const PROCESS_FIELDS = ['ppid', 'comm', 'cmdline', 'exe', 'cwd', 'root', 'uid', 'state'] as const;

const equal = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function fieldChanges<T extends object>(a: T, b: T, fields: readonly (keyof T & string)[]): FieldChange[] {
  return fields.filter((f) => !equal(a[f], b[f])).map((f) => ({ field: f, ...(a[f] !== undefined && { a: a[f] }), ...(b[f] !== undefined && { b: b[f] }) }));
}

/** Keyed lists compared: what only B has, what only A has, what both have but differently. */
function changes<K, T>(a: readonly T[], b: readonly T[], key: (x: T) => K, view: (x: T) => T = (x) => x): Changes<K, T> {
  const left = new Map(a.map((x) => [key(x), view(x)] as const));
  const right = new Map(b.map((x) => [key(x), view(x)] as const));
  const out: Changes<K, T> = { added: [], removed: [], changed: [] };
  for (const [k, v] of right) {
    const was = left.get(k);
    if (was === undefined) out.added.push(v);
    else if (!equal(was, v)) out.changed.push({ key: k, a: was, b: v });
  }
  for (const [k, v] of left) if (!right.has(k)) out.removed.push(v);
  return out;
}

const none = (c: { added: unknown[]; removed: unknown[]; changed?: unknown[] }) =>
  c.added.length === 0 && c.removed.length === 0 && (c.changed?.length ?? 0) === 0;

const envName = (e: string) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e);

function envChanges(a: readonly string[], b: readonly string[]): Changes<string, string> {
  // by variable name (the first of duplicates), so that a changed value reads as one change
  const first = (list: readonly string[]) => list.filter((e, i) => list.findIndex((x) => envName(x) === envName(e)) === i);
  return changes(first(a), first(b), envName);
}

/** O_LARGEFILE: the kernel adds it to every open on 64-bit, and CRIU's restore reopens files with it. */
const O_LARGEFILE = 0o100000;

function fileView({ pipeId: _pipe, ...f }: InspectedFile): Omit<InspectedFile, 'pipeId'> {
  return f.flags === undefined ? f : { ...f, flags: f.flags & ~O_LARGEFILE };
}

function socketView({
  inode: _i,
  peer: _p,
  sendBuffer: _s,
  recvBuffer: _r,
  ...s
}: InspectedSocket): Omit<InspectedSocket, 'inode' | 'peer' | 'sendBuffer' | 'recvBuffer'> {
  return s;
}

function processDiff(a: InspectedProcess, b: InspectedProcess): ProcessDiff | undefined {
  const fields = fieldChanges(a, b, PROCESS_FIELDS);
  if (a.threads.length !== b.threads.length) fields.push({ field: 'threads', a: a.threads.length, b: b.threads.length });
  const d: ProcessDiff = {
    pid: b.pid,
    comm: b.comm,
    fields,
    env: envChanges(a.env, b.env),
    files: changes(a.files.map(fileView), b.files.map(fileView), (f) => f.fd),
    sockets: changes(a.sockets.map(socketView), b.sockets.map(socketView), (s) => s.fd),
  };
  return fields.length === 0 && none(d.env) && none(d.files) && none(d.sockets) ? undefined : d;
}

const summary = (p: InspectedProcess): ProcessSummary => ({ pid: p.pid, ppid: p.ppid, comm: p.comm, cmdline: p.cmdline });
const short = (id: string | undefined) => (id ? id.slice(0, 12) : '?');

/**
 * Whether A and B are checkpoints of one container. A restore gives the container a new id (and
 * Podman a new name) but the same pids, command lines and environments, which are read from the
 * dumped memory itself: two fresh runs of one image differ there (HOSTNAME, at the least).
 */
function kinship(a: Inspection, b: Inspection): InspectionDiff['kinship'] {
  const ca = a.container,
    cb = b.container;
  if (ca.id && ca.id === cb.id) return { verdict: 'same-container', reason: `container id ${short(ca.id)} in both` };
  const where = ca.pod !== undefined ? ` in pod ${ca.namespace ?? '?'}/${ca.pod}` : '';
  if (ca.name && ca.name === cb.name && ca.pod === cb.pod && ca.namespace === cb.namespace && ca.engine === cb.engine) {
    return {
      verdict: 'same-name',
      reason: `a new id (${short(ca.id)} → ${short(cb.id)}) for the same container name ${ca.name}${where}: restarted, recreated or restored`,
    };
  }
  const key = (p: InspectedProcess) => JSON.stringify([p.pid, p.comm, p.cmdline, p.env]);
  const pa = a.processes.map(key).sort(),
    pb = b.processes.map(key).sort();
  if (ca.image === cb.image && pa.length > 0 && equal(pa, pb)) {
    return {
      verdict: 'same-processes',
      reason: `new id and name (${ca.name ?? '?'} ${short(ca.id)} → ${cb.name ?? '?'} ${short(cb.id)}), but the same image and the same ${pa.length} processes with the same pids, command lines and environments: most likely one was restored from the other's checkpoint`,
    };
  }
  return {
    verdict: 'different-containers',
    reason: `${ca.name ?? '?'} ${short(ca.id)} and ${cb.name ?? '?'} ${short(cb.id)} are not one container; compared all the same, processes matched by pid`,
  };
}

function checkpointFacts(a: Inspection, b: Inspection): FieldChange[] {
  const row = (field: string, x: unknown, y: unknown): FieldChange[] => (x === undefined && y === undefined ? [] : [{ field, a: x, b: y }]);
  return [
    ...row('checkpointedAt', a.container.checkpointedAt, b.container.checkpointedAt),
    ...row('frozenTimeUs', a.stats.frozenTimeUs, b.stats.frozenTimeUs),
    ...row('pagesWritten', a.stats.pagesWritten, b.stats.pagesWritten),
    ...row('checkpointBytes', a.checkpointSize?.totalBytes, b.checkpointSize?.totalBytes),
    ...row('memoryPagesBytes', a.checkpointSize?.memoryPagesBytes, b.checkpointSize?.memoryPagesBytes),
    ...row('rootfsDiffBytes', a.checkpointSize?.rootfsDiffBytes, b.checkpointSize?.rootfsDiffBytes),
    ...row('compression', a.compression, b.compression),
    ...row('criuVersion', a.container.criuVersion, b.container.criuVersion),
  ];
}

function side(i: Inspection): CheckpointSide {
  const { engine, name, id, pod, namespace, checkpointedAt } = i.container;
  const container = Object.fromEntries(Object.entries({ engine, name, id, pod, namespace, checkpointedAt }).filter(([, v]) => v !== undefined));
  return { container, processes: i.processes.length, warnings: i.warnings };
}

export function diffInspections(a: Inspection, b: Inspection): InspectionDiff {
  const byPid = new Map(a.processes.map((p) => [p.pid, p]));
  const bPids = new Set(b.processes.map((p) => p.pid));
  const processes: InspectionDiff['processes'] = {
    added: b.processes.filter((p) => !byPid.has(p.pid)).map(summary),
    removed: a.processes.filter((p) => !bPids.has(p.pid)).map(summary),
    changed: b.processes.flatMap((p) => {
      const was = byPid.get(p.pid);
      const d = was && processDiff(was, p);
      return d ? [d] : [];
    }),
  };
  const container = fieldChanges(a.container, b.container, CONTAINER_FIELDS);
  const mounts = changes(a.mounts ?? [], b.mounts ?? [], (m) => m.destination);
  const files = changes(a.rootfsDiff.added, b.rootfsDiff.added, (f) => f.path);
  const deletedA = new Set(a.rootfsDiff.deleted),
    deletedB = new Set(b.rootfsDiff.deleted);
  const filesystem = {
    ...files,
    deleted: { added: b.rootfsDiff.deleted.filter((p) => !deletedA.has(p)), removed: a.rootfsDiff.deleted.filter((p) => !deletedB.has(p)) },
  };
  const same = container.length === 0 && none(mounts) && none(processes) && none(files) && none(filesystem.deleted);
  return { kinship: kinship(a, b), same, a: side(a), b: side(b), container, mounts, processes, filesystem, checkpoint: checkpointFacts(a, b) };
}
