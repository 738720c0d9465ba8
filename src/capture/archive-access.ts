import { open, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AmberError } from '../core/amber-error.js';

/**
 * The kubelet creates its checkpoints directory 0700 and the runtimes write archives 0600, both
 * root's: only uid 0 reads them, and needs no capability to (owner permissions), unless a user
 * namespace maps it to another uid on the node.
 */
const REMEDY =
  "run the agent as uid 0 in the node's own user namespace — the Helm chart's default (agent.runAsRoot: true, hostUsers: true), " +
  "no capability needed: the kubelet's checkpoint files are root's own, mode 0600 in a 0700 directory";

function unreadable(path: string, cause: NodeJS.ErrnoException): AmberError {
  const uid = process.geteuid?.();
  const as = uid === undefined ? '' : ` as uid ${uid}`;
  return new AmberError(
    'ARCHIVE_UNREADABLE',
    { path, problem: cause.code ?? 'unknown', message: `cannot read ${path}${as}: ${cause.code ?? cause.message}`, remedy: REMEDY },
    { cause },
  );
}

const denied = (e: unknown): e is NodeJS.ErrnoException => ['EACCES', 'EPERM'].includes((e as NodeJS.ErrnoException).code ?? '');

/**
 * Checked before a checkpoint is asked for: a container is not frozen for an archive amber could
 * not read. Looking up `.` inside the directory needs the search permission that reaching any
 * archive in it needs.
 */
export async function checkCheckpointDir(dir: string): Promise<void> {
  try {
    await stat(join(dir, '.'));
  } catch (e) {
    if (denied(e)) throw unreadable(dir, e);
    // a missing directory is the free-space check's to report
  }
}

/**
 * The size of a checkpoint archive on the node, and proof that amber can open it for reading;
 * undefined when it is not there. A file amber may not read is ARCHIVE_UNREADABLE, not missing.
 */
export async function archiveSize(path: string): Promise<number | undefined> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (e) {
    if (denied(e)) throw unreadable(path, e);
    return undefined;
  }
  try {
    await (await open(path, 'r')).close();
  } catch (e) {
    if (denied(e)) throw unreadable(path, e);
    throw e;
  }
  return size;
}

/** Where the kubelet's archive of a checkpoint is, as mounted here (the checkpoint names the node's path). */
export function nodeCopyOf(checkpointDir: string, checkpoint: { readonly path: string }): string {
  return join(checkpointDir, basename(checkpoint.path));
}
