import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { AmberError } from '../core/amber-error.js';
import type { Capture } from '../core/capture.js';
import { ARTIFACT_NAMES, type BundleLayout } from '../evidence/bundle-layout.js';
import type { CustodyChain } from '../evidence/custody-chain.js';
import { MANIFEST_SCHEMA, type Manifest, type ManifestArtifact } from '../evidence/manifest.js';
import type { SigningKey } from '../evidence/signing-key.js';
import type { ObjectStore } from '../storage/object-store.js';
import { retentionOf, storeOnce, storeText, type StoreOnceMeta } from './store-once.js';

/**
 * Seals a bundle whose artifacts are stored: custody.jsonl, then manifest.json (listing every
 * artifact and the custody head), then manifest.jws — last, so a bundle without it is visibly
 * unsealed. Deterministic from the capture's status, so a retry writes the same bytes.
 */
export async function sealBundle(opts: {
  capture: Capture;
  chain: CustodyChain;
  layout: BundleLayout;
  store: ObjectStore;
  signingKey: SigningKey;
  cluster: string;
  version: string;
}): Promise<{ manifest: Manifest }> {
  const { capture, chain, layout, store, signingKey } = opts;
  const status = capture.status;
  const meta = storeMetaOf(capture);
  const custodyText = chain.toJsonl();
  const custody = await storeText(store, layout.custody, custodyText, { ...meta, contentType: 'application/x-ndjson' });
  if (custody.existed && custody.sha256 !== createHash('sha256').update(custodyText).digest('hex')) {
    // the stored chain is the original; a manifest must never name another head
    throw new AmberError('EVIDENCE_CONFLICT', { name: 'custody.jsonl', problem: 'stored custody log differs from the chain being sealed' });
  }
  const artifacts: ManifestArtifact[] = [
    ...(status.artifacts ?? []),
    { name: ARTIFACT_NAMES.custody, size: custody.size, sha256: custody.sha256, mediaType: 'application/x-ndjson' },
  ];
  const resolved = status.resolved;
  const checkpoints = status.checkpoints ?? [];
  const first = checkpoints[0];
  const last = checkpoints[checkpoints.length - 1];
  const sealedEntry = [...chain.entries].reverse().find((e) => e.action === 'bundle.sealed');
  const manifest: Manifest = {
    schema: MANIFEST_SCHEMA,
    captureId: capture.id,
    cluster: opts.cluster,
    tool: { name: 'amber', version: opts.version },
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
      checkpointRequested: first?.requestedAt ?? '',
      checkpointWritten: last?.writtenAt ?? '',
      sealed: sealedEntry?.at ?? '',
    },
    artifacts,
    custody: { entries: chain.entries.length, head: chain.head },
    signing: { alg: signingKey.alg, kid: signingKey.kid },
  };
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  // A stored manifest (from an interrupted earlier attempt) is the original; sign those bytes.
  const storedManifest = await storeOnce(store, layout.manifest, () => Readable.from([manifestBytes]), {
    ...meta,
    contentType: 'application/json',
    sha256: createHash('sha256').update(manifestBytes).digest('hex'),
  });
  let signedBytes = manifestBytes;
  if (storedManifest.existed) {
    const chunks: Buffer[] = [];
    for await (const c of await store.get(layout.manifest)) chunks.push(c as Buffer);
    signedBytes = Buffer.concat(chunks);
  }
  const jws = await signingKey.sign(signedBytes);
  await storeText(store, layout.manifestJws, `${jws}\n`, { ...meta, contentType: 'application/jose' });
  return { manifest: JSON.parse(signedBytes.toString('utf8')) as Manifest };
}

/** Metadata, retention and legal hold every object of a capture's bundle is stored with. */
export function storeMetaOf(capture: Capture): StoreOnceMeta {
  const retention = retentionOf(capture.spec.evidence, capture.createdAt);
  return {
    metadata: { 'amber-capture-id': capture.id },
    ...(retention !== undefined ? { retention } : {}),
    ...(capture.spec.evidence.legalHold === true ? { legalHold: true } : {}),
  };
}
