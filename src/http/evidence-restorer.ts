import type { Capture } from '../core/capture.js';

/** What a restore from the evidence browser made. */
export interface RestoreDone {
  /** The restore's number: restore-<number>.json beside the bundle. */
  readonly number: number;
  /** Where the signed restore record is. */
  readonly record: string;
  /** The checkpoint image as pushed (`host/repo:tag@sha256:…`). */
  readonly image: string;
  readonly sandbox: { readonly namespace: string; readonly pod: string; readonly networkPolicy: string };
  /** The key id that signed the record. */
  readonly signedBy: string;
}

/** A restore filed for the agent of the capture's node to run (a responder holds no signing key). */
export interface RestoreRequested {
  /** The request's id in the capture's `status.restoreRequests`, where the agent answers. */
  readonly id: string;
  readonly node?: string | undefined;
}

export type RestoreAnswer = { readonly done: RestoreDone } | { readonly requested: RestoreRequested };

/**
 * The evidence browser's restore button, for the HTTP layer (src/cli/roles/ui-restorer.ts):
 * `serve` restores a sealed capture into a sandbox itself, as `amber restore --image …
 * --namespace …` does, with the record saying who asked; a responder files the request for the
 * agent of the capture's node. Throws EVIDENCE_UNAVAILABLE (no sealed bundle), RESTORE_REFUSED (it
 * does not verify), EVIDENCE_BUSY (a restore is already running), and the registry's and the
 * cluster's codes when they fail.
 */
export interface EvidenceRestorer {
  /** Where restores go, for the page to say before the analyst clicks. */
  readonly target: { readonly image: string; readonly namespace: string };
  restore(capture: Capture, by: { user: string }, onProgress: (line: string) => void): Promise<RestoreAnswer>;
}
