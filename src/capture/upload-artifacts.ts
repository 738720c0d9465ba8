import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import { AmberError, isAmberError } from '../core/amber-error.js';
import type { Capture, CaptureStatus, Phase } from '../core/capture.js';
import { ARTIFACT_NAMES, bundleLayout, type BundleLayout } from '../evidence/bundle-layout.js';
import type { CustodyChain } from '../evidence/custody-chain.js';
import type { ResolvedTarget } from '../kube/resolve-target.js';
import type { CaptureDeps } from './capture-context.js';
import { archiveSize } from './archive-access.js';
import { redactPod } from './redact-pod.js';
import { storeMetaOf } from './seal-bundle.js';
import { recordStored, storeArtifact, type ArtifactBody, type StoredArtifact } from './store-artifact.js';

export type Save = (patch: Partial<CaptureStatus>, phase?: Phase) => Promise<void>;
type Artifact = NonNullable<CaptureStatus['artifacts']>[number];

export function layoutOf(deps: CaptureDeps, capture: Capture): BundleLayout {
  return bundleLayout({ prefix: deps.settings.storePrefix, cluster: deps.settings.cluster, captureId: capture.id, createdAt: capture.createdAt });
}

/** Where the kubelet's archive of `container` is, as mounted here. */
export function localArchive(deps: CaptureDeps, checkpoint: { path: string }): string {
  return join(deps.settings.checkpointDir, basename(checkpoint.path));
}

/**
 * Stores every artifact of the capture that is not stored yet: the archives (streamed), pod.json,
 * signals.json, logs. With `evidence.encryption`, each is stored as `<name>.age`.
 */
export async function uploadArtifacts(
  deps: CaptureDeps,
  capture: Capture,
  chain: CustodyChain,
  save: Save,
  resolved: ResolvedTarget | undefined,
): Promise<void> {
  const layout = layoutOf(deps, capture);
  const meta = storeMetaOf(capture);
  const recipients = capture.spec.evidence.encryption?.recipients;
  const artifacts: Artifact[] = [...(capture.status.artifacts ?? [])];
  const plaintexts = { ...(capture.status.plaintexts ?? {}) };
  const has = (name: string) => artifacts.some((a) => (a.plaintext?.name ?? a.name) === name);
  const record = (stored: StoredArtifact) => {
    recordStored(chain, deps.store, stored, recipients);
    artifacts.push(stored.artifact);
  };
  /**
   * Text artifacts are made again by a retry and may differ (a pod changes, logs grow); when
   * encrypted, their plaintext hash is saved before the upload, so a retry that finds the
   * ciphertext stored knows what it holds.
   */
  const storeTextArtifact = async (name: string, key: string, mediaType: string, text: string): Promise<StoredArtifact> => {
    const body: ArtifactBody = { text };
    if (!recipients) return await storeArtifact(deps.store, key, name, mediaType, body, meta, recipients);
    const earlier = plaintexts[name];
    if (earlier !== undefined && (await deps.store.head(ARTIFACT_NAMES.encrypted(key))) !== undefined) {
      return await storeArtifact(deps.store, key, name, mediaType, body, meta, recipients, earlier);
    }
    const bytes = Buffer.from(text);
    plaintexts[name] = { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    await save({ plaintexts: { ...plaintexts } });
    return await storeArtifact(deps.store, key, name, mediaType, body, meta, recipients, plaintexts[name]);
  };
  // Saved at two milestones, not per artifact: a retry finds anything stored since (storeOnce)
  // and keeps it as the original, so per-artifact fsyncs would buy nothing.

  for (const c of capture.status.checkpoints ?? []) {
    const name = ARTIFACT_NAMES.archive(c.container);
    if (has(name)) continue;
    const local = localArchive(deps, c);
    const key = layout.archive(c.container);
    // Already stored by an interrupted attempt (perhaps moved off the node): that is the original.
    const alreadyStored = (await deps.store.head(recipients ? ARTIFACT_NAMES.encrypted(key) : key)) !== undefined;
    // hard stop on a file amber may not read (ArchiveUnreadable, not missing) — unless the stored copy is all it needs
    const size = await archiveSize(local).catch((e: unknown) => {
      if (alreadyStored && !recipients && isAmberError(e, 'ARCHIVE_UNREADABLE')) return undefined;
      throw e;
    });
    if (size === undefined && (!alreadyStored || recipients)) {
      throw new AmberError('CHECKPOINT_ARCHIVE_MISSING', { path: c.path, lookedIn: deps.settings.checkpointDir });
    }
    // Streamed, never buffered; when the node copy is ours to delete and it goes up in clear, the store may take the file itself.
    const stored = await storeArtifact(deps.store, key, name, 'application/x-tar', { file: local, take: deps.settings.deleteNodeCopy }, meta, recipients);
    const got = stored.artifact.plaintext?.size ?? stored.artifact.size;
    if (size !== undefined && !stored.existed && got !== size) {
      throw new AmberError('EVIDENCE_CONFLICT', { name, nodeSize: size, storedSize: got });
    }
    record(stored);
  }
  await save({ artifacts: [...artifacts] });
  const include = new Set(capture.spec.include);
  let pod = resolved?.podObject;
  if (!pod && include.has('podSpec') && !has(ARTIFACT_NAMES.podJson)) {
    // resumed after a restart: the pod as it is now, if it is still the same pod
    const now = await deps.api.readPod(capture.spec.target.namespace, capture.spec.target.pod).catch(() => undefined);
    pod = now?.metadata?.uid === capture.status.resolved?.podUID ? now : undefined;
  }
  if (include.has('podSpec') && !has(ARTIFACT_NAMES.podJson) && pod) {
    record(await storeTextArtifact(ARTIFACT_NAMES.podJson, layout.podJson, 'application/json', `${JSON.stringify(redactPod(pod), null, 2)}\n`));
  }
  if (!has(ARTIFACT_NAMES.signals)) {
    const text = `${JSON.stringify(
      capture.signals.map((s) => (typeof s === 'string' ? (JSON.parse(s) as unknown) : s)),
      null,
      2,
    )}\n`;
    // signals.json: a readable copy; the exact received bytes are kept inside as `raw` when they differ
    const raw = capture.signals.filter((s): s is string => typeof s === 'string');
    const body = raw.length > 0 ? `${JSON.stringify({ signals: JSON.parse(text) as unknown, raw }, null, 2)}\n` : text;
    record(await storeTextArtifact(ARTIFACT_NAMES.signals, layout.signals, 'application/json', body));
  }
  if (include.has('logs')) {
    for (const c of capture.status.checkpoints ?? []) {
      const name = ARTIFACT_NAMES.logs(c.container);
      if (has(name)) continue;
      // logs are best-effort: a capture is not failed for want of them
      try {
        const text = await deps.api.readLogs(capture.spec.target.namespace, capture.spec.target.pod, c.container, deps.settings.logTailLines);
        record(await storeTextArtifact(name, layout.logs(c.container), 'text/plain', text));
      } catch (e) {
        deps.log.warn({ capture: capture.id, container: c.container, err: e }, 'container log not collected');
      }
    }
  }
  await save({ artifacts: [...artifacts] });
}
