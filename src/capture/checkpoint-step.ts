import { statfs } from 'node:fs/promises';
import type { Logger } from 'pino';
import { AmberError } from '../core/amber-error.js';
import type { Capture } from '../core/capture.js';
import type { CustodyActor } from '../core/custody-entry.js';
import type { KubeApi } from '../kube/kube-api.js';
import { resolveTarget, type ResolvedTarget } from '../kube/resolve-target.js';
import { checkCheckpointDir } from './archive-access.js';
import type { CaptureSettings, Checkpointer } from './capture-deps.js';
import type { CaptureRecord } from './capture-record.js';

/** What the checkpoint step uses. */
export interface CheckpointParts {
  readonly api: KubeApi;
  readonly kubelet: Checkpointer;
  readonly actor: CustodyActor;
  readonly log: Logger;
  readonly settings: Pick<CaptureSettings, 'checkpointDir' | 'minFreeBytes' | 'kubeletAddress'>;
}

/**
 * Checkpoint: resolves the target (pod, node, kubelet, containers), checks that the node can take
 * the archives, and asks the kubelet for a checkpoint of each container not checkpointed yet,
 * saving each archive as it is written (a retry reuses it: a container is never frozen twice for
 * one capture). Enters Checkpointing and counts the attempt while the API and the kubelet answer:
 * the container runs on while we wait, so no fsync stands between the alert and the checkpoint
 * request. (A crash before the record lands costs only the attempt count.) Returns the target it
 * resolved, with the pod as read now.
 */
export async function checkpointStep(
  parts: CheckpointParts,
  record: CaptureRecord,
  attempts: number,
  prepared?: Promise<ResolvedTarget>,
): Promise<ResolvedTarget> {
  const current = record.current;
  const recorded = record.save({ attempts }, 'Checkpointing');
  recorded.catch(() => undefined); // awaited below; a failure surfaces there
  // the pod may have been read while the intake's journal was flushed (see the capture worker)
  const [target] = await Promise.all([
    prepared ?? resolveTarget(parts.api, current.spec, parts.settings.kubeletAddress),
    checkFreeSpace(parts.settings.checkpointDir, parts.settings.minFreeBytes),
  ]);
  const pinned = current.status.resolved;
  if (pinned && pinned.podUID !== target.podUID) {
    throw new AmberError('POD_REPLACED', { pod: target.pod, expected: pinned.podUID, found: target.podUID });
  }
  const done = [...(current.status.checkpoints ?? [])];
  for (const c of target.containers) {
    if (done.some((d) => d.container === c.name)) continue;
    const result = await parts.kubelet.checkpoint(target.kubelet, target.namespace, target.pod, c.name, current.spec.timeoutSeconds);
    record.custody.append(
      'checkpoint.requested',
      { node: target.node, container: c.name, containerID: c.containerID, timeoutSeconds: current.spec.timeoutSeconds },
      parts.actor,
      result.requestedAt,
    );
    record.custody.append('checkpoint.written', { container: c.name, path: result.path }, parts.actor, result.writtenAt);
    done.push({ container: c.name, ...result });
    await recorded;
    await record.save({
      checkpoints: done,
      resolved: { podUID: target.podUID, node: target.node, containers: target.containers.map(({ runtime: _rt, ...k }) => k) },
    });
    parts.log.info({ container: c.name, path: result.path }, 'checkpoint written');
  }
  return target;
}

/** True when every container the capture resolved has its archive: a retry goes straight to the upload. */
export function checkpointsComplete(capture: Capture): boolean {
  const resolved = capture.status.resolved;
  const done = capture.status.checkpoints ?? [];
  return resolved !== undefined && resolved.containers.length > 0 && resolved.containers.every((c) => done.some((d) => d.container === c.name));
}

async function checkFreeSpace(dir: string, minFreeBytes: number): Promise<void> {
  await checkCheckpointDir(dir);
  const fs = await statfs(dir).catch((cause: unknown) => {
    throw new AmberError('CHECKPOINT_ARCHIVE_MISSING', { dir, problem: 'the checkpoint directory is not readable' }, { cause });
  });
  const free = fs.bavail * fs.bsize;
  if (free < minFreeBytes) throw new AmberError('DISK_PRESSURE', { dir, freeBytes: free, minFreeBytes });
}
