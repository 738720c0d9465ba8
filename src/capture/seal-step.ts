import type { CaptureStatus } from '../core/capture.js';
import { ARTIFACT_NAMES } from '../evidence/bundle-layout.js';
import { MANIFEST_SCHEMA } from '../evidence/manifest.js';
import type { CaptureRecord } from './capture-record.js';
import type { EvidenceBundle } from './evidence-bundle.js';

/** What the seal step uses. */
export interface SealParts {
  /** Cluster name in the manifest. */
  readonly cluster: string;
  /** amber's version, in the manifest. */
  readonly version: string;
}

/**
 * Seal: closes the custody chain (`bundle.sealed`: from here a retry only finishes the seal, the
 * artifact list is closed) and seals the bundle — custody.jsonl, manifest.json, manifest.jws.
 * Deterministic from the capture's status, so a retry writes the same bytes. Returns what the
 * Sealed status says of the bundle.
 */
export async function sealStep(parts: SealParts, record: CaptureRecord, bundle: EvidenceBundle): Promise<NonNullable<CaptureStatus['bundle']>> {
  if (!record.custody.endsWith('bundle.sealed')) {
    record.custody.append('bundle.sealed', { artifacts: (record.current.status.artifacts ?? []).length + 1, signingKeyId: bundle.signingKeyId });
    await record.save({});
  }
  const capture = record.current;
  const status = capture.status;
  const resolved = status.resolved;
  const checkpoints = status.checkpoints ?? [];
  await bundle.seal(record.custody, {
    schema: MANIFEST_SCHEMA,
    captureId: capture.id,
    cluster: parts.cluster,
    tool: { name: 'amber', version: parts.version },
    target: {
      namespace: capture.spec.target.namespace,
      pod: capture.spec.target.pod,
      podUID: resolved?.podUID ?? '',
      node: resolved?.node ?? '',
      containers: resolved?.containers ?? [],
    },
    trigger: capture.spec.trigger,
    evidence: capture.spec.evidence,
    times: {
      signal: capture.spec.trigger.time,
      queued: capture.createdAt,
      checkpointRequested: checkpoints[0]?.requestedAt ?? '',
      checkpointWritten: checkpoints[checkpoints.length - 1]?.writtenAt ?? '',
      sealed: record.custody.last('bundle.sealed')?.at ?? '',
    },
    artifacts: status.artifacts ?? [],
  });
  const archives = checkpoints.map((c) => {
    const a = status.artifacts?.find((x) => (x.plaintext?.name ?? x.name) === ARTIFACT_NAMES.archive(c.container));
    // the evidence's identity: for an encrypted archive, the hash of what is inside
    const identity = a?.plaintext ?? a;
    return { container: c.container, size: identity?.size ?? 0, sha256: identity?.sha256 ?? '' };
  });
  return { uri: bundle.uri, archives, signingKeyId: bundle.signingKeyId };
}
