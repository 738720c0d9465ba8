import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import t from 'tap';
import type { Source } from '../../src/core/signal.js';
import { IntakeMetrics, type SignalOutcome } from '../../src/http/intake-metrics.js';

// IntakeMetrics counts on the request path in plain numbers and its own histogram cells; what a
// scrape shows must be exactly what prom-client's own Counter/Histogram would show for the same
// updates (names, help, types, labels and their order, values).

type Op =
  | { kind: 'signal'; source: Source; outcome: SignalOutcome; n: number }
  | { kind: 'match' | 'queued' | 'duplicate' | 'joined'; policy: string }
  | { kind: 'overBudget'; budget: string }
  | { kind: 'intake'; route: string; status: number; seconds: number }
  | { kind: 'holdSkipped'; reason: 'limit' | 'unauthenticated' }
  | { kind: 'scrape' };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('signal' as const),
    source: fc.constantFrom<Source>('falco', 'alertmanager'),
    outcome: fc.constantFrom<SignalOutcome>('queued', 'duplicate', 'unmatched', 'ignored', 'rejected', 'failed'),
    n: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({
    kind: fc.constantFrom('match' as const, 'queued' as const, 'duplicate' as const, 'joined' as const),
    policy: fc.constantFrom('interactive-shell', 'crypto-miners', 'p"q\\r'),
  }),
  fc.record({ kind: fc.constant('overBudget' as const), budget: fc.constantFrom('cluster-per-hour', 'node-per-hour', 'namespace-per-hour') }),
  fc.record({
    kind: fc.constant('intake' as const),
    route: fc.constantFrom('/v1/alerts/falco', '/v1/alerts/alertmanager'),
    status: fc.constantFrom(200, 202, 401, 422),
    seconds: fc.oneof(fc.constantFrom(0, 0.001, 0.0025, 2.5, 3, 1e-9), fc.double({ min: 0, max: 5, noNaN: true })),
  }),
  fc.record({ kind: fc.constant('holdSkipped' as const), reason: fc.constantFrom('limit' as const, 'unauthenticated' as const) }),
  fc.constant({ kind: 'scrape' as const }),
);

/** The metrics exactly as IntakeMetrics declared them before, fed through prom-client's own API. */
function reference() {
  const registry = new Registry();
  const signals = new Counter({
    name: 'amber_signals_total',
    help: 'Signals received, by source and outcome (queued, duplicate, unmatched, ignored, rejected, failed)',
    labelNames: ['source', 'outcome'],
    registers: [registry],
  });
  const matches = new Counter({ name: 'amber_policy_matches_total', help: 'Signals matched, by policy', labelNames: ['policy'], registers: [registry] });
  const queued = new Counter({
    name: 'amber_captures_queued_total',
    help: 'Captures durably queued, by policy',
    labelNames: ['policy'],
    registers: [registry],
  });
  const duplicates = new Counter({
    name: 'amber_capture_duplicates_total',
    help: 'Capture requests answered with an existing capture, by policy',
    labelNames: ['policy'],
    registers: [registry],
  });
  const joins = new Counter({
    name: 'amber_capture_joins_total',
    help: 'Capture requests that joined a capture of the same container instead of checkpointing it again, by policy',
    labelNames: ['policy'],
    registers: [registry],
  });
  const holdsSkipped = new Counter({
    name: 'amber_admission_holds_skipped_total',
    help: 'Admission reviews a policy would hold that were answered at once (allowed), by reason (limit: too many held at once; unauthenticated: the caller has no client certificate)',
    labelNames: ['reason'],
    registers: [registry],
  });
  const overBudget = new Counter({
    name: 'amber_captures_over_budget_total',
    help: 'Captures recorded as Failed (BudgetExceeded) instead of checkpointed, by the budget used up',
    labelNames: ['budget'],
    registers: [registry],
  });
  const seconds = new Histogram({
    name: 'amber_intake_duration_seconds',
    help: 'Time from request to answer on the intake routes',
    labelNames: ['route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  return { registry, signals, matches, queued, duplicates, joins, holdsSkipped, overBudget, seconds };
}

t.test('a scrape shows what prom-client would show for the same updates (property)', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
      const mine = new IntakeMetrics();
      const ref = reference();
      for (const o of ops) {
        switch (o.kind) {
          case 'signal':
            mine.countSignal(o.source, o.outcome, o.n);
            ref.signals.inc({ source: o.source, outcome: o.outcome }, o.n);
            break;
          case 'match':
            mine.countMatch(o.policy);
            ref.matches.inc({ policy: o.policy });
            break;
          case 'queued':
            mine.countQueued(o.policy);
            ref.queued.inc({ policy: o.policy });
            break;
          case 'duplicate':
            mine.countDuplicate(o.policy);
            ref.duplicates.inc({ policy: o.policy });
            break;
          case 'joined':
            mine.countJoined(o.policy);
            ref.joins.inc({ policy: o.policy });
            break;
          case 'overBudget':
            mine.countOverBudget(o.budget);
            ref.overBudget.inc({ budget: o.budget });
            break;
          case 'intake':
            mine.observeIntake(o.route, o.status, o.seconds);
            ref.seconds.observe({ route: o.route, status: String(o.status) }, o.seconds);
            break;
          case 'holdSkipped':
            mine.countHoldSkipped(o.reason);
            ref.holdsSkipped.inc({ reason: o.reason });
            break;
          case 'scrape':
            if ((await mine.registry.metrics()) !== (await ref.registry.metrics())) return false;
        }
      }
      const same = (await mine.registry.metrics()) === (await ref.registry.metrics());
      const json = JSON.stringify(await mine.registry.getMetricsAsJSON()) === JSON.stringify(await ref.registry.getMetricsAsJSON());
      return same && json;
    }),
    { numRuns: 300 },
  );
  t.pass('300 random update sequences agree');
});

t.test('the prom-client metrics stay usable directly, and reset clears the histogram', async (t) => {
  const m = new IntakeMetrics();
  m.signals.inc({ source: 'falco', outcome: 'queued' });
  m.countSignal('falco', 'queued');
  m.intakeSeconds.observe({ route: '/v1/alerts/falco', status: '202' }, 0.002);
  m.observeIntake('/v1/alerts/falco', 202, 0.002);
  const text = await m.registry.metrics();
  t.match(text, /amber_signals_total\{source="falco",outcome="queued"\} 2/);
  t.match(text, /amber_intake_duration_seconds_count\{route="\/v1\/alerts\/falco",status="202"\} 2/);
  t.match(text, /amber_intake_duration_seconds_bucket\{le="0.0025",route="\/v1\/alerts\/falco",status="202"\} 2/);
  t.throws(() => m.observeIntake('/v1/alerts/falco', 200, Number.NaN), TypeError);
  m.registry.resetMetrics();
  t.notMatch(await m.registry.metrics(), /amber_intake_duration_seconds_count/);
});

t.test('process metrics are still registered on request', async (t) => {
  const text = await new IntakeMetrics({ processMetrics: true }).registry.metrics();
  t.match(text, /amber_process_cpu_user_seconds_total/);
  t.match(text, /# TYPE amber_intake_duration_seconds histogram/);
});
