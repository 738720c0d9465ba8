/**
 * The capture budgets (core/capture-budget.ts) on Capture resources, shared by every responder
 * replica without a leader or a lock: counted from the Captures themselves, never from one
 * process's memory.
 *
 * A new Capture is created *gated*: labelled `budget=pending` and without the node label, so no
 * agent sees it. Then its replica lists the Captures of the window (`budget in (pending,counted)`,
 * the last 25 UTC hours) and counts, besides every `counted` one, the `pending` ones created before
 * it — by creation revision (etcd's, which orders creates as they were committed). Within budget it
 * is relabelled `counted` with its node (the agent now sees it); over, `exceeded`, and Failed
 * BudgetExceeded. Two replicas taking the last slot at once agree: the later-created Capture sees
 * the earlier one (pending or counted) and counts it, so of any two only the earlier can be
 * admitted beyond the other — never more than the limit. A capture counts the pending ones created
 * after it not at all, so a storm does not refuse everything: the earliest within the limit win.
 *
 * When the Captures already counted fill a budget, a new one is created `exceeded` straight away
 * (one list, no gate), and the replica remembers until when that budget stays full: a fact of the
 * shared records, which only ages. Joins and duplicates consume nothing.
 */
import type { Logger } from 'pino';
import {
  archiveBytesOf,
  budgetExceededStatus,
  exceededBudget,
  HOUR_MS,
  isOverBudget,
  nodeOf,
  type BudgetLimits,
  type BudgetUse,
  type ExceededBudget,
} from '../../core/capture-budget.js';
import type { Capture, CaptureStatus } from '../../core/capture.js';
import { isAmberError } from '../../core/amber-error.js';
import { ANNOTATIONS, fromResource, LABELS, type CaptureResource } from '../../kube/capture-resource.js';

export type BudgetState = 'pending' | 'counted' | 'exceeded';

/** The calls the budgets make, through the queue's health (so failures are its errors). */
export interface BudgetAccess {
  list(labelSelector: string): Promise<CaptureResource[]>;
  create(body: CaptureResource): Promise<CaptureResource>;
  get(name: string): Promise<CaptureResource>;
  replace(name: string, body: CaptureResource): Promise<CaptureResource>;
  replaceStatus(name: string, body: CaptureResource): Promise<CaptureResource>;
}

/** The UTC hour of `ms` as a label value, `yyyymmddhh`. */
export function hourLabel(ms: number): string {
  return new Date(ms).toISOString().slice(0, 13).replace(/[-T]/g, '');
}

/** The Captures that may count at `now`: pending or counted, queued within the last day (25 hour labels). */
export function windowSelector(now: number): string {
  const hours = Array.from({ length: 25 }, (_, i) => hourLabel(now - i * HOUR_MS));
  return `${LABELS.budget} in (pending,counted),${LABELS.hour} in (${hours.join(',')})`;
}

/** A resourceVersion as a number; undefined when it is not etcd's decimal revision. */
function revision(rv: string | undefined): number | undefined {
  return rv !== undefined && /^\d{1,15}$/.test(rv) ? Number(rv) : undefined;
}

/**
 * What the listed Captures count for. `self` (the Capture being decided, and the revision it was
 * created at): the pending ones created before it count too; without it only the counted ones do.
 */
export function budgetUses(listed: readonly CaptureResource[], self?: { name: string; revision: string | undefined }): BudgetUse[] {
  const mine = revision(self?.revision);
  const uses: BudgetUse[] = [];
  for (const r of listed) {
    if (r.metadata.name === self?.name) continue;
    let c: Capture;
    try {
      c = fromResource(r);
    } catch {
      continue; // not amber-shaped: logged where the queue lists it
    }
    if (isOverBudget(c.status)) continue;
    if (r.metadata.labels?.[LABELS.budget] === 'pending') {
      // a pending one failed meanwhile (NoAgent: its replica is gone) never ran
      if (self === undefined || c.status.phase === 'Failed') continue;
      const theirs = revision(r.metadata.annotations?.[ANNOTATIONS.createdRevision] ?? r.metadata.resourceVersion);
      // not an etcd revision: cannot be ordered, so it is counted (never more than the limit)
      if (mine !== undefined && theirs !== undefined && theirs > mine) continue;
    }
    uses.push({ createdMs: Date.parse(c.createdAt), namespace: c.spec.target.namespace, node: nodeOf(c), archiveBytes: archiveBytesOf(c.status) });
  }
  return uses;
}

/** What became of a capture under the budgets: the capture as recorded, and the budget it ran into. */
export interface BudgetedCreate {
  readonly capture: Capture;
  readonly created: CaptureResource;
  readonly overBudget?: ExceededBudget;
}

const RELABEL_ATTEMPTS = 5;

/** `body` with a budget state and its hour, and without the node label: no agent selects it. */
function gated(body: CaptureResource, state: BudgetState, capture: Capture): CaptureResource {
  const { [LABELS.node]: _node, ...labels } = body.metadata.labels ?? {};
  return { ...body, metadata: { ...body.metadata, labels: { ...labels, [LABELS.budget]: state, [LABELS.hour]: hourLabel(Date.parse(capture.createdAt)) } } };
}

export class KubeBudgets {
  /** Budgets seen full, by scope (`cluster`, `node/<n>`, `namespace/<ns>`): until when they stay full. */
  private readonly fullUntil = new Map<string, { until: number; exceeded: ExceededBudget }>();

  constructor(
    readonly limits: BudgetLimits,
    private readonly access: BudgetAccess,
    private readonly log: Logger,
  ) {}

  /**
   * A budget the counted Captures are known to fill for this target, from what an earlier list
   * showed (no call): the intake refuses a storm's alerts without listing for each.
   */
  knownFull(target: { namespace: string; node?: string | undefined }, now: number): ExceededBudget | undefined {
    for (const scope of ['cluster', `namespace/${target.namespace}`, ...(target.node !== undefined ? [`node/${target.node}`] : [])]) {
      const full = this.fullUntil.get(scope);
      if (full && full.until > now) return full.exceeded;
      if (full) this.fullUntil.delete(scope);
    }
    return undefined;
  }

  /**
   * Creates the Capture `body` (for `capture`, placed on `node`) within the budgets, or recorded
   * over them. A 409 on create propagates (the caller answers the duplicate).
   */
  async create(capture: Capture, body: CaptureResource, node: string | undefined, now: number): Promise<BudgetedCreate> {
    const target = { namespace: capture.spec.target.namespace, node };
    const at = new Date(now).toISOString();
    const early = this.knownFull(target, now) ?? this.full(target, await this.access.list(windowSelector(now)), undefined, now);
    if (early) return this.createExceeded(capture, body, early, now);
    const created = await this.access.create(gated(body, 'pending', capture));
    const name = created.metadata.name;
    const over = this.full(target, await this.access.list(windowSelector(now)), { name, revision: created.metadata.resourceVersion }, now);
    const decided = await this.relabel(name, over ? 'exceeded' : 'counted', node);
    if (over) return this.record(capture, decided, budgetExceededStatus(over, at), over);
    return this.record(capture, decided, { phase: 'Pending', phaseTimes: { Pending: at }, attempts: 0 });
  }

  /** Records `capture` over the budget `over`: created `exceeded`, without the node label (no agent sees it), Failed BudgetExceeded. */
  async createExceeded(capture: Capture, body: CaptureResource, over: ExceededBudget, now: number): Promise<BudgetedCreate> {
    const created = await this.access.create(gated(body, 'exceeded', capture));
    return this.record(capture, created, budgetExceededStatus(over, new Date(now).toISOString()), over);
  }

  /** The first budget `listed` fills for `target` (and, once it is full of counted Captures, remembered until it frees). */
  private full(
    target: { namespace: string; node?: string | undefined },
    listed: readonly CaptureResource[],
    self: { name: string; revision: string | undefined } | undefined,
    now: number,
  ): ExceededBudget | undefined {
    const uses = budgetUses(listed, self);
    const over = exceededBudget(this.limits, target, uses, now);
    if (over && self === undefined) this.remember(over, uses, now);
    return over;
  }

  /** A budget full of counted Captures stays full until the oldest of the ones filling it leaves the window. */
  private remember(over: ExceededBudget, uses: readonly BudgetUse[], now: number): void {
    if (over.budget === 'node-archive-bytes-per-day') return; // bytes grow as captures seal: listed each time
    const scope = over.scope === undefined ? 'cluster' : over.budget.startsWith('node') ? `node/${over.scope}` : `namespace/${over.scope}`;
    const inScope = uses
      .filter((u) => now - u.createdMs < HOUR_MS)
      .filter((u) => (scope === 'cluster' ? true : scope.startsWith('node/') ? u.node === over.scope : u.namespace === over.scope))
      .map((u) => u.createdMs)
      .sort((a, b) => b - a);
    const nth = inScope[over.limit - 1];
    if (nth !== undefined) this.fullUntil.set(scope, { until: nth + HOUR_MS, exceeded: over });
  }

  /** Sets the Capture's budget label (and, counted, its node label: the agent sees it from now on), whatever joins wrote meanwhile. */
  private async relabel(name: string, state: BudgetState, node: string | undefined): Promise<CaptureResource> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.access.get(name);
      const labels = { ...current.metadata.labels, [LABELS.budget]: state, ...(state === 'counted' && node !== undefined ? { [LABELS.node]: node } : {}) };
      try {
        return await this.access.replace(name, { ...current, metadata: { ...current.metadata, labels } });
      } catch (e) {
        if (!isAmberError(e, 'QUEUE_CONFLICT') || attempt >= RELABEL_ATTEMPTS) throw e;
      }
    }
  }

  /**
   * Writes the decided status. Counted, the agent may already have written its own (409): it owns
   * the capture now, and ours is dropped. Over budget, no agent sees it: a 409 is a join, read again.
   */
  private async record(capture: Capture, current: CaptureResource, status: CaptureStatus, over?: ExceededBudget): Promise<BudgetedCreate> {
    let resource = current;
    for (let attempt = 1; ; attempt++) {
      try {
        resource = await this.access.replaceStatus(resource.metadata.name, { ...resource, status });
        break;
      } catch (e) {
        if (!isAmberError(e, 'QUEUE_CONFLICT') || attempt >= RELABEL_ATTEMPTS) throw e;
        if (over === undefined) {
          this.log.debug({ capture: capture.id }, 'the agent wrote the status first: it has the capture');
          break;
        }
        resource = await this.access.get(resource.metadata.name);
      }
    }
    const recorded = { ...capture, status };
    return over === undefined ? { capture: recorded, created: resource } : { capture: recorded, created: resource, overBudget: over };
  }
}
