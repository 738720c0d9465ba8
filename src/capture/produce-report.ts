import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { inspectCheckpoint, type InspectResult, type MemoryScan } from '../analysis/inspect-checkpoint.js';
import { entryCount, type ListSource } from '../analysis/lists/indicator-list.js';
import { ListMatcher } from '../analysis/lists/list-matcher.js';
import { yaraIndicators } from '../analysis/yara/yara-indicators.js';
import type { YaraRules } from '../analysis/yara/yara-rules.js';
import type { Inspection } from '../analysis/inspection.js';
import { triageIndicators, type Indicator } from '../analysis/triage-indicators.js';
import { AmberError } from '../core/amber-error.js';
import type { Capture } from '../core/capture.js';
import type { CustodyAction, CustodyEntry } from '../core/custody-entry.js';
import { HashStream } from '../core/hash-stream.js';
import { ADDENDUM_SCHEMA } from '../evidence/addendum.js';
import { ARTIFACT_NAMES } from '../evidence/bundle-layout.js';
import type { CustodyChain } from '../evidence/custody-chain.js';
import { recordStored, type EvidenceBundle } from './evidence-bundle.js';

export const REPORT_SCHEMA = 'forensics.amber.dev/report/v1';

/** report.json: per archive, what `amber inspect --json` shows plus the indicators found. */
export interface TriageReport {
  schema: typeof REPORT_SCHEMA;
  captureId: string;
  generatedAt: string;
  tool: { name: 'amber'; version: string };
  checkpoints: (Inspection & { archive: { container: string; name: string; size: number; sha256: string }; indicators: Indicator[] })[];
  /** The indicator lists matched, as they were then (the file's SHA-256 names the version); absent without lists. */
  lists?: ListVersion[];
}

export interface ListVersion {
  name: string;
  kind: string;
  sha256: string;
  entries: number;
}

export interface ReportResult {
  sha256: string;
  indicators: string[];
  /** How many indicators of each severity the report holds (the evidence browser's list shows them). */
  severities: Severities;
  custody: readonly CustodyEntry[];
}

const SEVERITY = { high: 0, medium: 1, info: 2 } as const;
type Severities = Record<keyof typeof SEVERITY, number>;

/**
 * Analyses a sealed bundle's archives, as stored, into report.json, and seals that under a signed
 * addendum whose custody entries continue the sealed chain (`chain`, appended to). Runs after the
 * capture is Sealed, so it never delays the evidence itself. The archive is hashed while it is read
 * and must be the one the manifest names: the report describes exactly the sealed bytes.
 * Idempotent: an addendum already stored is the original (signed as stored if it was not yet).
 */
export async function produceReport(opts: {
  capture: Capture;
  chain: CustodyChain;
  bundle: EvidenceBundle;
  version: string;
  /** Where the node copy of a checkpoint is (read first; the only source of an encrypted archive). */
  nodeCopy: (checkpoint: { container: string; path: string }) => string;
  now?: () => Date;
  /** YARA rules to scan memory and added files with: their matches join the indicators. */
  yara?: YaraRules;
  /** Indicator lists to match (README "Indicator lists"); read once, so every archive of the report meets the same versions. */
  lists?: ListSource | undefined;
}): Promise<ReportResult> {
  const { capture, chain, bundle } = opts;
  const { manifest, sha256: manifestSha256 } = await bundle.readManifest();

  const stored = await bundle.storedAddendum(manifestSha256);
  if (stored !== undefined) {
    // An earlier attempt got as far as the addendum: it is the original.
    const report = stored.artifacts.find((a) => (a.plaintext?.name ?? a.name) === ARTIFACT_NAMES.report);
    const produced = stored.custody.entries.find((e) => e.action === ('report.produced' satisfies CustodyAction));
    const indicators = Array.isArray(produced?.details['indicators']) ? (produced.details['indicators'] as string[]) : [];
    const recorded = produced?.details['severities'] as Partial<Severities> | undefined;
    const severities = { high: recorded?.high ?? 0, medium: recorded?.medium ?? 0, info: recorded?.info ?? 0 };
    return { sha256: report?.plaintext?.sha256 ?? report?.sha256 ?? '', indicators, severities, custody: stored.custody.entries };
  }

  const lists = (await opts.lists?.current()) ?? [];
  const checkpoints: TriageReport['checkpoints'] = [];
  for (const c of capture.status.checkpoints ?? []) {
    const name = ARTIFACT_NAMES.archive(c.container);
    const sealed = manifest.artifacts.find((a) => (a.plaintext?.name ?? a.name) === name);
    if (!sealed) throw new AmberError('EVIDENCE_CONFLICT', { name, problem: 'the sealed manifest does not list this archive' });
    const identity = sealed.plaintext ?? sealed;
    const matcher = new ListMatcher(lists);
    const { inspection, yara } = await inspectSealed(bundle, opts.nodeCopy(c), identity, sealed.plaintext !== undefined, {
      rules: opts.yara,
      scan: matcher.scan,
    });
    checkpoints.push({
      archive: { container: c.container, name, size: identity.size, sha256: identity.sha256 },
      ...inspection,
      indicators: [...triageIndicators(inspection), ...matcher.indicators(inspection), ...(yara ? yaraIndicators(yara) : [])],
    });
  }
  const report: TriageReport = {
    schema: REPORT_SCHEMA,
    captureId: capture.id,
    generatedAt: (opts.now ?? (() => new Date()))().toISOString(),
    tool: { name: 'amber', version: opts.version },
    checkpoints,
    ...(lists.length > 0 && { lists: lists.map((l) => ({ name: l.name, kind: l.kind, sha256: l.sha256, entries: entryCount(l) })) }),
  };
  const ids = indicatorIds(report);
  const severities: Severities = { high: 0, medium: 0, info: 0 };
  for (const i of checkpoints.flatMap((c) => c.indicators)) severities[i.severity]++;
  const start = manifest.custody.entries;
  chain.append('report.produced', {
    archives: checkpoints.map((c) => ({ name: c.archive.name, sha256: c.archive.sha256 })),
    indicators: ids,
    severities,
    warnings: checkpoints.reduce((n, c) => n + c.warnings.length, 0),
    ...(report.lists && { lists: report.lists.map((l) => ({ name: l.name, sha256: l.sha256 })) }),
  });
  const written = await bundle.putText(ARTIFACT_NAMES.report, 'application/json', `${JSON.stringify(report, null, 2)}\n`);
  recordStored(chain, written);
  const custody = chain.entries.slice(start);
  await bundle.putAddendum({
    schema: ADDENDUM_SCHEMA,
    captureId: capture.id,
    manifestSha256,
    artifacts: [written.artifact],
    custody: { entries: [...custody], head: chain.head },
  });
  return { sha256: (written.artifact.plaintext ?? written.artifact).sha256, indicators: ids, severities, custody };
}

/**
 * Inspects the archive — the node copy while it is there, else the stored object (in clear only) —
 * hashing the bytes read on the first pass: they must be the sealed ones.
 */
async function inspectSealed(
  bundle: EvidenceBundle,
  local: string,
  sealed: { name: string; size: number; sha256: string },
  encrypted: boolean,
  detect: { rules: YaraRules | undefined; scan: MemoryScan | undefined },
): Promise<InspectResult> {
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
  const result = await inspectCheckpoint(
    async () => {
      const body = onNode ? createReadStream(local, { highWaterMark: 1024 * 1024 }) : await bundle.read(sealed.name);
      if (first !== undefined) return body;
      first = new HashStream();
      body.on('error', (e: Error) => first?.destroy(e));
      return body.pipe(first);
    },
    { ...(detect.rules && { yara: detect.rules }), ...(detect.scan && { scan: detect.scan }) },
  );
  const hash = first as HashStream | undefined;
  // the reader may stop early (it has what it needs); only a complete read proves the bytes
  if (hash !== undefined && hash.bytes === sealed.size && hash.sha256 !== sealed.sha256) {
    throw new AmberError('EVIDENCE_CONFLICT', { name: sealed.name, problem: 'the archive read is not the one the manifest seals' });
  }
  return result;
}

function indicatorIds(report: TriageReport): string[] {
  const all = report.checkpoints.flatMap((c) => c.indicators);
  all.sort((a, b) => SEVERITY[a.severity] - SEVERITY[b.severity]);
  return [...new Set(all.map((i) => i.id))];
}
