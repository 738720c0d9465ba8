import { DAY_MS } from '../core/capture-budget.js';
import type { EvidenceSettings } from '../core/capture.js';
import type { Retention } from './object-store.js';

/**
 * The Object Lock retention a capture's evidence gets: the policy's mode, until `retentionDays`
 * after the capture was queued — fixed by the capture, so every retry asks for the same date.
 */
export function retentionOf(evidence: EvidenceSettings, createdAt: string): Retention | undefined {
  if (evidence.lock === 'none' || evidence.retentionDays === 0) return undefined;
  return {
    mode: evidence.lock === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE',
    retainUntil: new Date(Date.parse(createdAt) + evidence.retentionDays * DAY_MS),
  };
}
