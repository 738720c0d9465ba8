import type { Logger } from 'pino';
import type { ListSource } from '../analysis/lists/indicator-list.js';
import { isAmberError } from '../core/amber-error.js';
import type { CaptureStatus } from '../core/capture.js';
import { reasonOf, type CaptureRecord } from './capture-record.js';
import type { EvidenceBundle } from './evidence-bundle.js';
import { produceReport } from './produce-report.js';
import type { Semaphore } from './semaphore.js';
import { nodeCopyOf } from './archive-access.js';
import type { YaraRules } from '../analysis/yara/yara-rules.js';

/** What the report step uses. */
export interface ReportParts {
  /** amber's version, in report.json. */
  readonly version: string;
  readonly checkpointDir: string;
  readonly log: Logger;
  /** The bound on heavy work the report shares with uploads. */
  readonly uploads: Semaphore;
  readonly now?: (() => Date) | undefined;
  /** The YARA rules of the report (absent: none). */
  readonly yara?: YaraRules | undefined;
  /** The indicator lists in force, asked for at each report. */
  readonly lists?: ListSource | undefined;
}

/**
 * Report: the triage report of a sealed capture (produce-report.ts), read from the node copy while
 * it is there (an encrypted archive can be read nowhere else). Best-effort: the evidence is sealed
 * already, so a report that cannot be made is recorded (report.state Failed, with the reason) and
 * logged, never fatal; its custody entries join the record only with a written report.
 */
export async function reportStep(parts: ReportParts, record: CaptureRecord, bundle: EvidenceBundle): Promise<void> {
  const chain = record.forkCustody();
  let report: CaptureStatus['report'];
  try {
    const made = await parts.uploads.run(() =>
      produceReport({
        capture: record.current,
        chain,
        bundle,
        version: parts.version,
        nodeCopy: (c) => nodeCopyOf(parts.checkpointDir, c),
        ...(parts.now ? { now: parts.now } : {}),
        ...(parts.yara ? { yara: parts.yara } : {}),
        lists: parts.lists,
      }),
    );
    report = { state: 'Written', sha256: made.sha256, indicators: made.indicators, severities: made.severities };
    record.adoptCustody(made.custody);
    parts.log.info({ indicators: made.indicators }, 'triage report written');
  } catch (e) {
    const code = isAmberError(e) ? e.code : 'INTERNAL';
    report = { state: 'Failed', reason: reasonOf(code), message: e instanceof Error ? e.message : String(e) };
    parts.log.warn({ err: e, code }, 'triage report not written; the sealed evidence is unaffected');
  }
  await record.save({ report });
}
