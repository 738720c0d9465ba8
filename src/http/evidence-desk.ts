import type { Readable } from 'node:stream';
import type { Capture } from '../core/capture.js';

/** One check of a verification, as `amber verify --json` prints it. */
export interface DeskCheck {
  readonly check: string;
  readonly ok: boolean;
  readonly detail?: string;
  readonly artifact?: string;
  readonly line?: number;
}

/** A memory-search match, as `amber inspect --search --json` prints it. */
export interface DeskMatch {
  readonly pid: number;
  readonly address: string;
  readonly context: string;
}

/**
 * The evidence browser's reads of a capture's sealed bundle, for the HTTP layer (which may not
 * import evidence/ or analysis/): src/review/evidence-desk.ts implements it over the server's own
 * store. Every method throws EVIDENCE_UNAVAILABLE when the capture has no bundle this server can
 * read, and EVIDENCE_STORE_UNREACHABLE when the store does not answer.
 */
export interface EvidenceDesk {
  /** report.json as sealed under the addendum, with secret-looking values masked (`masked` lists where). */
  report(capture: Capture): Promise<{ report: unknown; masked: SecretRef[] }>;
  /** The value a masked place holds (the caller logs who asked). */
  reveal(capture: Capture, ref: SecretRef): Promise<string>;
  /** The bundle checked as `amber verify` checks it, computed now. */
  verify(capture: Capture): Promise<{ valid: boolean; target: string; checks: DeskCheck[]; encryptedUnchecked: number }>;
  /** Searches every checkpoint's memory; calls onMatch as matches are found; stops when `signal` aborts. */
  search(
    capture: Capture,
    pattern: string,
    opts: { pid?: number | undefined; signal: AbortSignal; onMatch: (m: DeskMatch & { container: string }) => void },
  ): Promise<{ matches: number; warnings: string[] }>;
  /** The whole bundle as one tar (with the JWKS and a README for verifying it offline), streamed. */
  download(capture: Capture): Promise<{ fileName: string; stream: Readable }>;
}

/** Where a masked secret is: a process's environment variable or command-line argument in one checkpoint. */
export interface SecretRef {
  readonly checkpoint: number;
  readonly pid: number;
  readonly field: 'env' | 'cmdline';
  readonly index: number;
}
