import type { Logger } from 'pino';
import { AmberError, isAmberError } from '../core/amber-error.js';
import type { Capture, CaptureStatus } from '../core/capture.js';
import type { Caller } from '../core/signal.js';
import { ARTIFACT_NAMES } from '../evidence/bundle-layout.js';
import type { KubeApi } from '../kube/kube-api.js';
import type { ResolvedTarget } from '../kube/resolve-target.js';
import { archiveSize, nodeCopyOf } from './archive-access.js';
import type { CaptureSettings } from './capture-deps.js';
import type { CaptureRecord } from './capture-record.js';
import { recordStored, type EvidenceBundle, type StoredArtifact } from './evidence-bundle.js';
import { redactPod } from './redact-pod.js';

type Artifact = NonNullable<CaptureStatus['artifacts']>[number];

/** What the upload step uses. */
export interface UploadParts {
  readonly api: Pick<KubeApi, 'readPod' | 'readLogs'>;
  /** The capture's logger. */
  readonly log: Logger;
  readonly settings: Pick<CaptureSettings, 'checkpointDir' | 'deleteNodeCopy' | 'logTailLines'>;
}

/**
 * Upload: stores every artifact of the capture that is not stored yet — the archives (streamed),
 * pod.json, signals.json, logs — each hashed and custody-logged (and, with the policy's
 * `evidence.encryption`, stored as `<name>.age`). The archives, pod.json and signals.json are a
 * hard stop; a container's log is best-effort. `resolved`: the target as the checkpoint step read
 * it, when this attempt took the checkpoints.
 */
export async function uploadStep(parts: UploadParts, record: CaptureRecord, bundle: EvidenceBundle, resolved: ResolvedTarget | undefined): Promise<void> {
  const capture = record.current;
  const artifacts: Artifact[] = [...(capture.status.artifacts ?? [])];
  const has = (name: string) => artifacts.some((a) => (a.plaintext?.name ?? a.name) === name);
  const add = (stored: StoredArtifact) => {
    recordStored(record.custody, stored);
    artifacts.push(stored.artifact);
  };
  // Saved at two milestones, not per artifact: a retry finds anything stored since (write-once)
  // and keeps it as the original, so per-artifact fsyncs would buy nothing.

  for (const c of capture.status.checkpoints ?? []) {
    const name = ARTIFACT_NAMES.archive(c.container);
    if (has(name)) continue;
    const local = nodeCopyOf(parts.settings.checkpointDir, c);
    // Already stored by an interrupted attempt (perhaps moved off the node): that is the original.
    const alreadyStored = await bundle.has(name);
    // hard stop on a file amber may not read (ArchiveUnreadable, not missing) — unless the stored copy is all it needs
    const size = await archiveSize(local).catch((e: unknown) => {
      if (alreadyStored && !bundle.encrypted && isAmberError(e, 'ARCHIVE_UNREADABLE')) return undefined;
      throw e;
    });
    if (size === undefined && (!alreadyStored || bundle.encrypted)) {
      throw new AmberError('CHECKPOINT_ARCHIVE_MISSING', { path: c.path, lookedIn: parts.settings.checkpointDir });
    }
    // when the node copy is ours to delete and it goes up in clear, the store may take the file itself
    const stored = await bundle.putArchive(name, local, { take: parts.settings.deleteNodeCopy });
    const got = stored.artifact.plaintext?.size ?? stored.artifact.size;
    if (size !== undefined && !stored.existed && got !== size) {
      throw new AmberError('EVIDENCE_CONFLICT', { name, nodeSize: size, storedSize: got });
    }
    add(stored);
  }
  await record.save({ artifacts: [...artifacts] });
  const include = new Set(capture.spec.include);
  let pod = resolved?.podObject;
  if (!pod && include.has('podSpec') && !has(ARTIFACT_NAMES.podJson)) {
    // resumed after a restart: the pod as it is now, if it is still the same pod
    const now = await parts.api.readPod(capture.spec.target.namespace, capture.spec.target.pod).catch(() => undefined);
    pod = now?.metadata?.uid === capture.status.resolved?.podUID ? now : undefined;
  }
  if (include.has('podSpec') && !has(ARTIFACT_NAMES.podJson) && pod) {
    add(await bundle.putText(ARTIFACT_NAMES.podJson, 'application/json', `${JSON.stringify(redactPod(pod), null, 2)}\n`));
  }
  if (!has(ARTIFACT_NAMES.signals)) add(await bundle.putText(ARTIFACT_NAMES.signals, 'application/json', signalsJson(capture.signals, signalCallers(capture))));
  if (include.has('logs')) {
    for (const c of capture.status.checkpoints ?? []) {
      const name = ARTIFACT_NAMES.logs(c.container);
      if (has(name)) continue;
      // best-effort: a capture is not failed for want of its logs
      try {
        const text = await parts.api.readLogs(capture.spec.target.namespace, capture.spec.target.pod, c.container, parts.settings.logTailLines);
        add(await bundle.putText(name, 'text/plain', text));
      } catch (e) {
        parts.log.warn({ container: c.container, err: e }, 'container log not collected');
      }
    }
  }
  await record.save({ artifacts: [...artifacts] });
}

/**
 * signals.json: a readable copy; the exact received bytes are kept inside as `raw` when they
 * differ, and — when any signal was an admission request — `callers`, how the sender of each
 * signal was authenticated, in the order of `signals` (null for an alert, which records none yet).
 */
function signalsJson(signals: readonly unknown[], callers: readonly (Caller | null)[]): string {
  const text = `${JSON.stringify(
    signals.map((s) => (typeof s === 'string' ? (JSON.parse(s) as unknown) : s)),
    null,
    2,
  )}\n`;
  const raw = signals.filter((s): s is string => typeof s === 'string');
  const withCallers = callers.some((c) => c !== null) ? { callers } : {};
  return raw.length > 0 || 'callers' in withCallers
    ? `${JSON.stringify({ signals: JSON.parse(text) as unknown, ...(raw.length > 0 ? { raw } : {}), ...withCallers }, null, 2)}\n`
    : text;
}

/** The caller of each of the capture's signals: the first is its trigger's, each later one a joined signal's. */
function signalCallers(capture: Capture): (Caller | null)[] {
  const triggers = [capture.spec.trigger, ...(capture.joined ?? []).map((j) => j.trigger)];
  return capture.signals.map((_s, i) => triggers[i]?.caller ?? triggers[i]?.asserted?.by ?? null);
}
