import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import type { Source } from '../core/signal.js';

/** What became of a signal (the `outcome` label of amber_signals_total). */
export type SignalOutcome = 'queued' | 'duplicate' | 'unmatched' | 'ignored' | 'rejected' | 'failed';

const INTAKE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

/**
 * Counts kept in plain numbers on the request path and handed to a prom-client counter when it is
 * scraped (its `collect`). prom-client hashes the label object and validates every label on each
 * `inc`, and its `labels(...)` children do the same; the intake makes three or four such updates
 * per request. Label sets are few and known (sources × outcomes, policy names).
 */
class PendingCounts<K> {
  private readonly pending = new Map<K, { labels: Record<string, string>; n: number }>();
  constructor(private readonly labelsOf: (key: K) => Record<string, string>) {}

  add(key: K, n: number): void {
    const cell = this.pending.get(key);
    if (cell) cell.n += n;
    else this.pending.set(key, { labels: this.labelsOf(key), n });
  }

  /** Moves what was counted since the last scrape into the prom-client counter. */
  flushInto(counter: Counter<string>): void {
    for (const cell of this.pending.values()) {
      if (cell.n === 0) continue;
      counter.inc(cell.labels, cell.n);
      cell.n = 0;
    }
  }
}

/** One (route, status) series of the intake histogram; cumulative bucket counts are made at scrape time. */
interface HistogramCell {
  readonly labels: { readonly route: string; readonly status: string };
  /** Observations per bucket (not cumulative), in INTAKE_BUCKETS order. */
  readonly counts: number[];
  sum: number;
  count: number;
}

type ExportedValue = { value: number; metricName: string; exemplar: null | undefined; labels: Record<string, string | number> };

/**
 * amber_intake_duration_seconds: a histogram counted into per-(route, status) cells, found with
 * two map lookups, instead of prom-client's Histogram, which hashes and validates the label object
 * on every observation. It is registered with the registry as a prom-client metric (name, help,
 * type, get, reset), so the registry formats it exactly as it formats its own histograms: the
 * same series and sample names, labels in the same order (`le`, then route and status), series
 * in the order they were first observed.
 */
export class IntakeHistogram {
  readonly name = 'amber_intake_duration_seconds';
  readonly help = 'Time from request to answer on the intake routes';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly cells = new Map<string, Map<string, HistogramCell>>();
  /** Every cell in the order it was made: the exposition order. */
  private readonly order: HistogramCell[] = [];

  /** One observation; `status` as fastify has it (a number; V8 caches small numbers' strings). */
  record(route: string, status: number | string, seconds: number): void {
    if (!Number.isFinite(seconds)) throw new TypeError(`Value is not a valid number: ${seconds}`);
    const code = String(status);
    let byStatus = this.cells.get(route);
    if (byStatus === undefined) this.cells.set(route, (byStatus = new Map()));
    let cell = byStatus.get(code);
    if (cell === undefined) {
      cell = { labels: { route, status: code }, counts: INTAKE_BUCKETS.map(() => 0), sum: 0, count: 0 };
      byStatus.set(code, cell);
      this.order.push(cell);
    }
    // The first bucket whose upper bound holds the value, as prom-client picks it; none: only +Inf.
    let i = 0;
    while (i < INTAKE_BUCKETS.length && seconds > (INTAKE_BUCKETS[i] as number)) i++;
    if (i < INTAKE_BUCKETS.length) cell.counts[i] = (cell.counts[i] as number) + 1;
    cell.sum += seconds;
    cell.count += 1;
  }

  /** prom-client's Histogram#observe signature, for callers that have label objects. */
  observe(labels: { readonly route: string; readonly status: string | number }, seconds: number): void {
    this.record(labels.route, labels.status, seconds);
  }

  /**
   * As prom-client's Histogram#get (which the registry also formats the text exposition from):
   * per series, each bucket (cumulative), +Inf, sum and count; keys in prom-client's order.
   */
  async get(): Promise<{ name: string; help: string; type: string; values: ExportedValue[]; aggregator: string }> {
    const values: ExportedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const cell of this.order) {
      let acc = 0;
      INTAKE_BUCKETS.forEach((le, i) => {
        acc += cell.counts[i] as number;
        values.push({ value: acc, metricName: bucket, exemplar: null, labels: { le, ...cell.labels } });
      });
      values.push(
        { value: cell.count, metricName: bucket, exemplar: null, labels: { le: '+Inf', ...cell.labels } },
        { value: cell.sum, metricName: `${this.name}_sum`, exemplar: undefined, labels: { ...cell.labels } },
        { value: cell.count, metricName: `${this.name}_count`, exemplar: undefined, labels: { ...cell.labels } },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.cells.clear();
    this.order.length = 0;
  }
}

/** A prom-client counter whose counts come from `pending` when it is scraped. */
function pendingCounter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  pending: PendingCounts<string>,
): Counter<L> {
  return new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: Counter<L>) {
      pending.flushInto(this as Counter<string>);
    },
  });
}

/**
 * The responder's Prometheus metrics, on a registry of its own (no global default registry).
 * The intake counts through the methods (countSignal, countMatch, …, observeIntake); the
 * prom-client metrics stay available for anything that updates them directly.
 */
export class IntakeMetrics {
  readonly registry = new Registry();
  private readonly signalCounts = new PendingCounts<string>((key) => {
    const [source, outcome] = key.split('/') as [string, string];
    return { source, outcome };
  });
  private readonly matchCounts = new PendingCounts<string>((policy) => ({ policy }));
  private readonly queuedCounts = new PendingCounts<string>((policy) => ({ policy }));
  private readonly duplicateCounts = new PendingCounts<string>((policy) => ({ policy }));
  private readonly joinCounts = new PendingCounts<string>((policy) => ({ policy }));
  private readonly holdSkippedCounts = new PendingCounts<string>((reason) => ({ reason }));
  private readonly overBudgetCounts = new PendingCounts<string>((budget) => ({ budget }));

  readonly signals = pendingCounter(
    this.registry,
    'amber_signals_total',
    'Signals received, by source and outcome (queued, duplicate, unmatched, ignored, rejected, failed)',
    ['source', 'outcome'] as const,
    this.signalCounts,
  );
  readonly policyMatches = pendingCounter(this.registry, 'amber_policy_matches_total', 'Signals matched, by policy', ['policy'] as const, this.matchCounts);
  readonly capturesQueued = pendingCounter(
    this.registry,
    'amber_captures_queued_total',
    'Captures durably queued, by policy',
    ['policy'] as const,
    this.queuedCounts,
  );
  readonly duplicates = pendingCounter(
    this.registry,
    'amber_capture_duplicates_total',
    'Capture requests answered with an existing capture, by policy',
    ['policy'] as const,
    this.duplicateCounts,
  );
  readonly joins = pendingCounter(
    this.registry,
    'amber_capture_joins_total',
    'Capture requests that joined a capture of the same container instead of checkpointing it again, by policy',
    ['policy'] as const,
    this.joinCounts,
  );
  readonly admissionHoldsSkipped = pendingCounter(
    this.registry,
    'amber_admission_holds_skipped_total',
    'Admission reviews a policy would hold that were answered at once (allowed), by reason (limit: too many held at once; unauthenticated: the caller has no client certificate)',
    ['reason'] as const,
    this.holdSkippedCounts,
  );
  readonly overBudget = pendingCounter(
    this.registry,
    'amber_captures_over_budget_total',
    'Captures recorded as Failed (BudgetExceeded) instead of checkpointed, by the budget used up',
    ['budget'] as const,
    this.overBudgetCounts,
  );
  readonly intakeSeconds = new IntakeHistogram();

  constructor(options: { processMetrics?: boolean } = {}) {
    // Registered after the counters and before the process metrics: the registry lists
    // metrics in registration order, and this is the order the exposition always had.
    this.registry.registerMetric(this.intakeSeconds as unknown as Parameters<Registry['registerMetric']>[0]);
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'amber_' });
  }

  /** amber_signals_total{source, outcome} += n. */
  countSignal(source: Source, outcome: SignalOutcome, n = 1): void {
    this.signalCounts.add(`${source}/${outcome}`, n);
  }

  /** amber_policy_matches_total{policy} += 1. */
  countMatch(policy: string): void {
    this.matchCounts.add(policy, 1);
  }

  /** amber_captures_queued_total{policy} += 1. */
  countQueued(policy: string): void {
    this.queuedCounts.add(policy, 1);
  }

  /** amber_capture_duplicates_total{policy} += 1. */
  countDuplicate(policy: string): void {
    this.duplicateCounts.add(policy, 1);
  }

  /** amber_capture_joins_total{policy} += 1. */
  countJoined(policy: string): void {
    this.joinCounts.add(policy, 1);
  }

  /** amber_admission_holds_skipped_total{reason} += 1. */
  countHoldSkipped(reason: 'limit' | 'unauthenticated'): void {
    this.holdSkippedCounts.add(reason, 1);
  }

  /** amber_captures_over_budget_total{budget} += 1. */
  countOverBudget(budget: string): void {
    this.overBudgetCounts.add(budget, 1);
  }

  /** amber_intake_duration_seconds{route, status}. */
  observeIntake(route: string, status: number, seconds: number): void {
    this.intakeSeconds.record(route, status, seconds);
  }
}
