import type { Capture, CaptureStatus } from './capture.js';

/**
 * How much any caller can make amber freeze (issue 17): captures per rolling hour cluster-wide,
 * per node and per namespace, and bytes of sealed archives per node per rolling day. 0 = unlimited.
 * The `budgets` settings have this shape (src/config/settings.ts).
 */
export interface BudgetLimits {
  readonly capturesPerHour: number;
  readonly capturesPerNodePerHour: number;
  readonly capturesPerNamespacePerHour: number;
  readonly archiveBytesPerNodePerDay: number;
}

export const UNLIMITED: BudgetLimits = { capturesPerHour: 0, capturesPerNodePerHour: 0, capturesPerNamespacePerHour: 0, archiveBytesPerNodePerDay: 0 };

/** The budget's name: the `budget` label of amber_captures_over_budget_total, and in the status message. */
export type BudgetName = 'cluster-per-hour' | 'node-per-hour' | 'namespace-per-hour' | 'node-archive-bytes-per-day';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/** The budget a capture ran into: which, its limit, its window, and how much of it was used. */
export interface ExceededBudget {
  readonly budget: BudgetName;
  readonly limit: number;
  readonly window: 'hour' | 'day';
  readonly used: number;
  /** the node or namespace the budget is of; absent for the cluster-wide one */
  readonly scope?: string;
}

/** What a capture that consumed budget counts for: when it was queued, where, and the sealed archives' bytes. */
export interface BudgetUse {
  readonly createdMs: number;
  readonly namespace: string;
  readonly node: string | undefined;
  readonly archiveBytes: number;
}

/** The reason of a capture failed over budget (BUDGET_EXCEEDED, Kubernetes-style). */
export const BUDGET_EXCEEDED_REASON = 'BudgetExceeded';

export function hasBudgets(l: BudgetLimits): boolean {
  return l.capturesPerHour > 0 || l.capturesPerNodePerHour > 0 || l.capturesPerNamespacePerHour > 0 || l.archiveBytesPerNodePerDay > 0;
}

/** True when a budget of the node is set: the queue must know the target's node before it decides. */
export function hasNodeBudgets(l: BudgetLimits): boolean {
  return l.capturesPerNodePerHour > 0 || l.archiveBytesPerNodePerDay > 0;
}

/**
 * The first budget a new capture for `target` would exceed, given `uses`: the captures that
 * consumed budget before it (any order; those outside the windows are ignored). Undefined: within
 * every budget. A node budget applies only when the target's node is known.
 */
export function exceededBudget(
  limits: BudgetLimits,
  target: { namespace: string; node?: string | undefined },
  uses: Iterable<BudgetUse>,
  now: number,
): ExceededBudget | undefined {
  let cluster = 0;
  let node = 0;
  let namespace = 0;
  let nodeBytes = 0;
  for (const u of uses) {
    const age = now - u.createdMs;
    if (age >= DAY_MS) continue;
    const sameNode = target.node !== undefined && u.node === target.node;
    if (sameNode) nodeBytes += u.archiveBytes;
    if (age >= HOUR_MS) continue;
    cluster++;
    if (sameNode) node++;
    if (u.namespace === target.namespace) namespace++;
  }
  if (limits.capturesPerHour > 0 && cluster >= limits.capturesPerHour)
    return { budget: 'cluster-per-hour', limit: limits.capturesPerHour, window: 'hour', used: cluster };
  if (target.node !== undefined) {
    if (limits.capturesPerNodePerHour > 0 && node >= limits.capturesPerNodePerHour)
      return { budget: 'node-per-hour', limit: limits.capturesPerNodePerHour, window: 'hour', used: node, scope: target.node };
    if (limits.archiveBytesPerNodePerDay > 0 && nodeBytes >= limits.archiveBytesPerNodePerDay)
      return { budget: 'node-archive-bytes-per-day', limit: limits.archiveBytesPerNodePerDay, window: 'day', used: nodeBytes, scope: target.node };
  }
  if (limits.capturesPerNamespacePerHour > 0 && namespace >= limits.capturesPerNamespacePerHour)
    return { budget: 'namespace-per-hour', limit: limits.capturesPerNamespacePerHour, window: 'hour', used: namespace, scope: target.namespace };
  return undefined;
}

/** The bytes of a capture's sealed archives (status.bundle.archives): what the per-node day budget counts. */
export function archiveBytesOf(status: Pick<CaptureStatus, 'bundle'>): number {
  return (status.bundle?.archives ?? []).reduce((sum, a) => sum + a.size, 0);
}

/** The node a capture ran (or runs) on, as far as it is known. */
export function nodeOf(capture: Pick<Capture, 'spec' | 'status'>): string | undefined {
  return capture.status.resolved?.node ?? capture.spec.target.node;
}

/** A sentence naming the budget, its limit and its window. */
export function describeExceeded(e: ExceededBudget): string {
  const of = e.scope === undefined ? 'cluster-wide' : e.budget.startsWith('node') ? `on node ${e.scope}` : `in namespace ${e.scope}`;
  if (e.budget === 'node-archive-bytes-per-day')
    return `budget ${e.budget} exceeded: the archives of the last 24 h ${of} already hold ${e.used} bytes, the limit is ${e.limit} bytes per rolling day; nothing was checkpointed`;
  return `budget ${e.budget} exceeded: ${e.used} captures ${of} in the last hour, the limit is ${e.limit} per rolling hour; nothing was checkpointed`;
}

/** The status of a capture recorded over budget: Failed at once, BudgetExceeded, never checkpointed. */
export function budgetExceededStatus(e: ExceededBudget, at: string, phaseTimes: Record<string, string> = { Pending: at }): CaptureStatus {
  return { phase: 'Failed', phaseTimes: { ...phaseTimes, Failed: at }, attempts: 0, reason: BUDGET_EXCEEDED_REASON, message: describeExceeded(e) };
}

/** True for a capture recorded over budget: it consumed none. */
export function isOverBudget(status: Pick<CaptureStatus, 'phase' | 'reason'>): boolean {
  return status.phase === 'Failed' && status.reason === BUDGET_EXCEEDED_REASON;
}
