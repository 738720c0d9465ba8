import type { Readable } from 'node:stream';
import type { PublicKeySet } from '../evidence/signing-key.js';
import { inspectCheckpoint } from '../analysis/inspect-checkpoint.js';
import { AmberError, isAmberError } from '../core/amber-error.js';
import type { Capture } from '../core/capture.js';
import { ARTIFACT_NAMES } from '../evidence/bundle-layout.js';
import { storeSource, type BundleSource, type ObjectReader } from '../evidence/bundle-source.js';
import { S3Store } from '../storage/s3-store.js';
import { bundleTar, offlineVerifyReadme } from './bundle-tar.js';
import { isSecretEnv, maskedArgs, maskEnv } from './mask-secrets.js';
import { objectLocks } from './object-locks.js';
import { verifyStored } from './verify-stored.js';

/** What the desk's answers look like to the HTTP layer (structurally its EvidenceDesk port). */
export interface SecretPlace {
  readonly checkpoint: number;
  readonly pid: number;
  readonly field: 'env' | 'cmdline';
  readonly index: number;
}

interface ReportProcess {
  pid: number;
  cmdline?: string[];
  env?: string[];
}
interface ReportShape {
  checkpoints?: { archive?: { container?: string }; processes?: ReportProcess[] }[];
}

const REPORT_LIMIT = 64 * 1024 * 1024;
/**
 * Memory searches and verifications read whole archives and run on the event loop the intake
 * shares: more than this many at once are refused (EVIDENCE_BUSY, 429) rather than slow alerts.
 */
const DEFAULT_HEAVY = 2;

/**
 * The evidence browser's reads of sealed bundles in the server's own store (the port is
 * src/http/evidence-desk.ts). Read-only: it never writes to the store. Verification is computed
 * on each request (the page asks when the analyst opens a capture); two requests for the same
 * capture at once share one run.
 */
export class EvidenceDesk {
  private readonly running = new Map<string, ReturnType<EvidenceDesk['verify']>>();
  private readonly storePrefix: string;
  private heavy = 0;

  constructor(
    private readonly opts: {
      store: ObjectReader;
      /** The keys bundles are verified with, also put into downloads. */
      jwks: PublicKeySet;
      /** Memory searches and verifications at once (default 2); beyond, EVIDENCE_BUSY. */
      maxHeavy?: number;
    },
  ) {
    const probe = opts.store.uri('x');
    this.storePrefix = probe.slice(0, -1);
  }

  async report(capture: Capture): Promise<{ report: unknown; masked: SecretPlace[] }> {
    const source = await this.source(capture);
    const names = await this.read(() => source.list());
    if (!names.includes(ARTIFACT_NAMES.report)) {
      const why = names.includes(ARTIFACT_NAMES.encrypted(ARTIFACT_NAMES.report))
        ? 'the triage report is encrypted (age) and this server holds no identity: download the bundle and run amber inspect --identity'
        : capture.status.report?.state === 'Failed'
          ? `no triage report was made: ${capture.status.report.message ?? capture.status.report.reason ?? 'it failed'}`
          : 'the triage report is not written yet';
      throw new AmberError('EVIDENCE_UNAVAILABLE', { id: capture.id, problem: why });
    }
    const report = await this.readJson(source, ARTIFACT_NAMES.report);
    return { report, masked: maskReport(report as ReportShape) };
  }

  async reveal(capture: Capture, ref: SecretPlace): Promise<string> {
    const source = await this.source(capture);
    const report = (await this.readJson(source, ARTIFACT_NAMES.report)) as ReportShape;
    const proc = report.checkpoints?.[ref.checkpoint]?.processes?.find((p) => p.pid === ref.pid);
    const value = (ref.field === 'env' ? proc?.env : proc?.cmdline)?.[ref.index];
    if (value === undefined) throw new AmberError('EVIDENCE_UNAVAILABLE', { id: capture.id, problem: 'no such value in the report' });
    return value;
  }

  verify(capture: Capture): Promise<{ valid: boolean; target: string; checks: { check: string; ok: boolean }[]; encryptedUnchecked: number }> {
    const running = this.running.get(capture.id);
    if (running) return running;
    const run = this.slot(async () => {
      const source = await this.source(capture);
      const store = this.opts.store;
      const key = this.keyOf(capture);
      const locks =
        store instanceof S3Store ? (names: readonly string[], m: Parameters<typeof objectLocks>[3]) => objectLocks(store, key, names, m) : undefined;
      const r = await this.read(() => verifyStored(source, { jwks: this.opts.jwks, locks }));
      return { valid: r.valid, target: r.target, checks: r.checks, encryptedUnchecked: r.encryptedUnchecked };
    }).finally(() => this.running.delete(capture.id));
    this.running.set(capture.id, run);
    return run;
  }

  search(
    capture: Capture,
    pattern: string,
    opts: { pid?: number | undefined; signal: AbortSignal; onMatch: (m: { pid: number; address: string; context: string; container: string }) => void },
  ): Promise<{ matches: number; warnings: string[] }> {
    return this.slot(() => this.searchNow(capture, pattern, opts));
  }

  private async searchNow(capture: Capture, pattern: string, opts: Parameters<EvidenceDesk['search']>[2]): Promise<{ matches: number; warnings: string[] }> {
    const source = await this.source(capture);
    const names = await this.read(() => source.list());
    const archives = (capture.status.bundle?.archives ?? []).map((a) => a.container);
    let matches = 0;
    const warnings: string[] = [];
    for (const container of archives) {
      const name = ARTIFACT_NAMES.archive(container);
      if (!names.includes(name)) {
        warnings.push(
          names.includes(ARTIFACT_NAMES.encrypted(name))
            ? `${name} is encrypted (age): its memory can be searched only with the identity (amber inspect --identity --search)`
            : `${name} is not in the bundle`,
        );
        continue;
      }
      const { inspection } = await inspectCheckpoint(() => source.open(name), {
        search: pattern,
        ...(opts.pid !== undefined ? { pid: opts.pid } : {}),
        signal: opts.signal,
        onMatch: (m) => {
          matches++;
          opts.onMatch({ ...m, container });
        },
      });
      for (const w of inspection.warnings) warnings.push(`${container}: ${w.file}: ${w.message}`);
    }
    return { matches, warnings };
  }

  async download(capture: Capture): Promise<{ fileName: string; stream: Readable }> {
    const source = await this.source(capture);
    const jwksName = 'jwks.json';
    const root = `amber-${capture.id}`;
    const readme = offlineVerifyReadme({ captureId: capture.id, root, jwksName });
    const sealedAt = capture.status.phaseTimes.Sealed;
    const stream = bundleTar(source, {
      root,
      ...(sealedAt !== undefined ? { mtime: new Date(sealedAt) } : {}),
      extras: [
        { name: jwksName, body: Buffer.from(`${JSON.stringify(this.opts.jwks, null, 2)}\n`) },
        { name: 'README.txt', body: Buffer.from(readme) },
      ],
    });
    return { fileName: `amber-${capture.id}.tar`, stream };
  }

  /** Runs `fn` in one of the heavy slots, or refuses at once when none is free. */
  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    const max = this.opts.maxHeavy ?? DEFAULT_HEAVY;
    if (this.heavy >= max) throw new AmberError('EVIDENCE_BUSY', { running: this.heavy, max });
    this.heavy++;
    try {
      return await fn();
    } finally {
      this.heavy--;
    }
  }

  private keyOf(capture: Capture): string {
    const uri = capture.status.bundle?.uri;
    if (uri === undefined || capture.status.phase !== 'Sealed') {
      throw new AmberError('EVIDENCE_UNAVAILABLE', { id: capture.id, problem: `the capture is ${capture.status.phase}: it has no sealed bundle` });
    }
    if (!uri.startsWith(this.storePrefix)) {
      throw new AmberError('EVIDENCE_UNAVAILABLE', { id: capture.id, problem: `the bundle is at ${uri}, outside this server's store` });
    }
    return decodeURIComponent(uri.slice(this.storePrefix.length)).replace(/\/+$/, '');
  }

  private async source(capture: Capture): Promise<BundleSource> {
    return storeSource(this.opts.store, this.keyOf(capture));
  }

  private async readJson(source: BundleSource, name: string): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    const stream = await this.read(() => source.open(name));
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > REPORT_LIMIT) {
        stream.destroy();
        throw new AmberError('EVIDENCE_UNAVAILABLE', { name, problem: `larger than ${REPORT_LIMIT} bytes` });
      }
      chunks.push(chunk);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    } catch {
      throw new AmberError('EVIDENCE_UNAVAILABLE', { name, problem: 'not JSON' });
    }
  }

  /** A store read: its own codes pass through; anything else is the store not answering. */
  private async read<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (isAmberError(e) && e.code !== 'STORE_UNAVAILABLE') throw e;
      throw new AmberError('EVIDENCE_STORE_UNREACHABLE', { problem: (e as Error).message }, { cause: e });
    }
  }
}

/** Masks, in place, the secret-looking environment values and arguments of every process; returns where. */
export function maskReport(report: ReportShape): SecretPlace[] {
  const places: SecretPlace[] = [];
  (report.checkpoints ?? []).forEach((c, checkpoint) => {
    for (const p of c.processes ?? []) {
      p.env?.forEach((entry, index) => {
        if (typeof entry === 'string' && isSecretEnv(entry)) {
          p.env![index] = maskEnv(entry);
          places.push({ checkpoint, pid: p.pid, field: 'env', index });
        }
      });
      if (Array.isArray(p.cmdline))
        for (const { index, shown } of maskedArgs(p.cmdline)) {
          p.cmdline[index] = shown;
          places.push({ checkpoint, pid: p.pid, field: 'cmdline', index });
        }
    }
  });
  return places;
}
