import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { AmberError } from '../core/amber-error.js';
import type { Capture } from '../core/capture.js';
import { HashStream } from '../core/hash-stream.js';
import { ADDENDUM_SCHEMA, type Addendum } from '../evidence/addendum.js';
import { ARTIFACT_NAMES, type BundleLayout } from '../evidence/bundle-layout.js';
import type { CustodyEntry } from '../core/custody-entry.js';
import type { CustodyChain } from '../evidence/custody-chain.js';
import type { Manifest, ManifestArtifact } from '../evidence/manifest.js';
import type { SigningKey } from '../evidence/signing-key.js';
import { inspectCheckpoint } from '../analysis/inspect-checkpoint.js';
import type { Inspection } from '../analysis/inspection.js';
import { triageIndicators, type Indicator } from '../analysis/triage-indicators.js';
import type { ObjectStore } from '../storage/object-store.js';
import { recordStored, storeArtifact } from './store-artifact.js';
import { storeOnce, storeText } from './store-once.js';
import { storeMetaOf } from './seal-bundle.js';

export const REPORT_SCHEMA = 'forensics.amber.dev/report/v1';

/** report.json: per archive, what `amber inspect --json` shows plus the indicators found. */
export interface TriageReport {
  schema: typeof REPORT_SCHEMA;
  captureId: string;
  generatedAt: string;
  tool: { name: 'amber'; version: string };
  checkpoints: (Inspection & { archive: { container: string; name: string; size: number; sha256: string }; indicators: Indicator[] })[];
}

export interface ReportResult {
  sha256: string;
  indicators: string[];
  custody: readonly CustodyEntry[];
}

const SEVERITY = { high: 0, medium: 1, info: 2 } as const;
const MANIFEST_LIMIT = 16 * 1024 * 1024;

/**
 * Analyses a sealed bundle's archives, as stored, into report.json, and seals that under a signed
 * addendum whose custody entries continue the sealed chain. Runs after the capture is Sealed, so
 * it never delays the evidence itself. The archive is hashed while it is read and must be the one
 * the manifest names: the report describes exactly the sealed bytes. Idempotent: an addendum
 * already signed is the original; one stored but unsigned is signed as stored.
 */
export async function produceReport(opts: {
  capture: Capture;
  chain: CustodyChain;
  layout: BundleLayout;
  store: ObjectStore;
  signingKey: SigningKey;
  version: string;
  /** Where the node copy of a checkpoint is (read first; the only source of an encrypted archive). */
  localArchive: (checkpoint: { container: string; path: string }) => string;
  /** Saves an encrypted report's plaintext hash before its upload (see storeArtifact). */
  recordPlaintext: (name: string, plaintext: { size: number; sha256: string }) => Promise<void>;
  now?: () => Date;
}): Promise<ReportResult> {
  const { capture, chain, layout, store, signingKey } = opts;
  const recipients = capture.spec.evidence.encryption?.recipients;
  const meta = storeMetaOf(capture);
  const manifestBytes = await readAll(store, layout.manifest, MANIFEST_LIMIT);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as Manifest;
  const manifestSha256 = createHash('sha256').update(manifestBytes).digest('hex');

  if ((await store.head(layout.addendum)) !== undefined) {
    // An earlier attempt got as far as the addendum: its bytes are the original.
    const stored = await readAll(store, layout.addendum, MANIFEST_LIMIT);
    const addendum = JSON.parse(stored.toString('utf8')) as Addendum;
    if (addendum.manifestSha256 !== manifestSha256)
      throw new AmberError('EVIDENCE_CONFLICT', { name: ARTIFACT_NAMES.addendum, problem: 'the stored addendum extends another manifest' });
    if ((await store.head(layout.addendumJws)) === undefined)
      await storeText(store, layout.addendumJws, `${await signingKey.sign(stored)}\n`, { ...meta, contentType: 'application/jose' });
    const report = addendum.artifacts.find((a) => (a.plaintext?.name ?? a.name) === ARTIFACT_NAMES.report);
    const produced = addendum.custody.entries.find((e) => e.action === 'report.produced');
    const indicators = Array.isArray(produced?.details['indicators']) ? (produced.details['indicators'] as string[]) : [];
    return { sha256: report?.plaintext?.sha256 ?? report?.sha256 ?? '', indicators, custody: addendum.custody.entries };
  }

  const checkpoints: TriageReport['checkpoints'] = [];
  for (const c of capture.status.checkpoints ?? []) {
    const name = ARTIFACT_NAMES.archive(c.container);
    const sealed = manifest.artifacts.find((a) => (a.plaintext?.name ?? a.name) === name);
    if (!sealed) throw new AmberError('EVIDENCE_CONFLICT', { name, problem: 'the sealed manifest does not list this archive' });
    const identity = sealed.plaintext ?? sealed;
    const inspection = await inspectSealed(store, layout.archive(c.container), opts.localArchive(c), identity, sealed.plaintext !== undefined);
    checkpoints.push({
      archive: { container: c.container, name, size: identity.size, sha256: identity.sha256 },
      ...inspection,
      indicators: triageIndicators(inspection),
    });
  }
  const report: TriageReport = {
    schema: REPORT_SCHEMA,
    captureId: capture.id,
    generatedAt: (opts.now ?? (() => new Date()))().toISOString(),
    tool: { name: 'amber', version: opts.version },
    checkpoints,
  };
  const ids = indicatorIds(report);
  const start = manifest.custody.entries;
  chain.append('report.produced', {
    archives: checkpoints.map((c) => ({ name: c.archive.name, sha256: c.archive.sha256 })),
    indicators: ids,
    warnings: checkpoints.reduce((n, c) => n + c.warnings.length, 0),
  });
  const text = `${JSON.stringify(report, null, 2)}\n`;
  let earlier = capture.status.plaintexts?.[ARTIFACT_NAMES.report];
  if (recipients && (earlier === undefined || (await store.head(ARTIFACT_NAMES.encrypted(layout.report))) === undefined)) {
    // an encrypted report's plaintext hash is recorded before its upload (see storeArtifact)
    const bytes = Buffer.from(text);
    earlier = { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    await opts.recordPlaintext(ARTIFACT_NAMES.report, earlier);
  }
  const stored = await storeArtifact(store, layout.report, ARTIFACT_NAMES.report, 'application/json', { text }, meta, recipients, earlier);
  const identity = stored.artifact.plaintext ?? stored.artifact;
  recordStored(chain, store, stored, recipients);
  const artifact: ManifestArtifact = stored.artifact;
  const custody = chain.entries.slice(start);
  const addendum: Addendum = {
    schema: ADDENDUM_SCHEMA,
    captureId: capture.id,
    manifestSha256,
    artifacts: [artifact],
    custody: { entries: custody as Addendum['custody']['entries'], head: chain.head },
    signing: { alg: signingKey.alg, kid: signingKey.kid },
  };
  const bytes = Buffer.from(`${JSON.stringify(addendum, null, 2)}\n`);
  // addendum.json, then its signature, last: an addendum without addendum.jws is visibly unfinished
  await storeOnce(store, layout.addendum, () => Readable.from([bytes]), {
    ...meta,
    contentType: 'application/json',
    sha256: createHash('sha256').update(bytes).digest('hex'),
  });
  await storeText(store, layout.addendumJws, `${await signingKey.sign(bytes)}\n`, { ...meta, contentType: 'application/jose' });
  return { sha256: identity.sha256, indicators: ids, custody };
}

/**
 * Inspects the archive — the node copy while it is there, else the stored object (in clear only) —
 * hashing the bytes read on the first pass: they must be the sealed ones.
 */
async function inspectSealed(
  store: ObjectStore,
  key: string,
  local: string,
  sealed: { name: string; size: number; sha256: string },
  encrypted: boolean,
): Promise<Inspection> {
  const onNode = await stat(local).then(
    (s) => s.isFile(),
    () => false,
  );
  if (!onNode && encrypted) {
    throw new AmberError('CHECKPOINT_ARCHIVE_MISSING', {
      path: local,
      problem: 'the archive is stored encrypted and its node copy is gone: nothing here can read it',
    });
  }
  let first: HashStream | undefined;
  const { inspection } = await inspectCheckpoint(async () => {
    const body = onNode ? createReadStream(local, { highWaterMark: 1024 * 1024 }) : await store.get(key);
    if (first !== undefined) return body;
    first = new HashStream();
    body.on('error', (e: Error) => first?.destroy(e));
    return body.pipe(first);
  });
  const hash = first as HashStream | undefined;
  // the reader may stop early (it has what it needs); only a complete read proves the bytes
  if (hash !== undefined && hash.bytes === sealed.size && hash.sha256 !== sealed.sha256) {
    throw new AmberError('EVIDENCE_CONFLICT', { name: sealed.name, problem: 'the archive read is not the one the manifest seals' });
  }
  return inspection;
}

function indicatorIds(report: TriageReport): string[] {
  const all = report.checkpoints.flatMap((c) => c.indicators);
  all.sort((a, b) => SEVERITY[a.severity] - SEVERITY[b.severity]);
  return [...new Set(all.map((i) => i.id))];
}

async function readAll(store: ObjectStore, key: string, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of await store.get(key)) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new AmberError('EVIDENCE_CONFLICT', { key, problem: `larger than ${limit} bytes` });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
